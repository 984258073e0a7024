/** Display formatting: the only place money strings become text a person reads. */
import { parse, sign, toFixed, tryParse, type Fixed } from "./decimal";

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "$1,234.50", "-$3.20"; "-" for a missing value. */
export function money(text: string | null | undefined, places = 2): string {
  const value = tryParse(text);
  if (value === null) return "–";
  const fixed = toFixed(value, places);
  const negative = fixed.startsWith("-");
  const [whole = "0", fraction] = (negative ? fixed.slice(1) : fixed).split(".");
  return `${negative ? "-" : ""}$${group(whole)}${fraction !== undefined ? `.${fraction}` : ""}`;
}

/** "+$1.20" / "-$1.20" / "$0.00": P&L always carries its sign. */
export function signedMoney(text: string | null | undefined): string {
  const value = tryParse(text);
  if (value === null) return "–";
  const formatted = money(text);
  return sign(value) > 0 ? `+${formatted}` : formatted;
}

/** A contract price in cents, as Kalshi shows it: "0.4700" -> "47¢", "0.4750" -> "47.5¢". */
export function cents(text: string | null | undefined): string {
  const value = tryParse(text);
  if (value === null) return "–";
  const inCents: Fixed = { units: value.units * 100n, scale: value.scale };
  const exact = toFixed(inCents, 2).replace(/\.?0+$/, "");
  return `${exact === "" || exact === "-" ? "0" : exact}¢`;
}

/** A contract count: "3.00" -> "3", "2.50" -> "2.5". */
export function contracts(text: string | null | undefined): string {
  const value = tryParse(text);
  if (value === null) return "–";
  const fixed = toFixed(value, Math.max(value.scale, 0));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

/** A ratio the server already computed ("0.1234" or a number) as "+12.34%". */
export function percent(value: string | number | null | undefined, signed = true): string {
  if (value === null || value === undefined || value === "") return "–";
  const fixed: Fixed | null =
    typeof value === "number"
      ? Number.isFinite(value)
        ? parse(value.toFixed(6))
        : null
      : tryParse(value);
  if (fixed === null) return "–";
  const text = toFixed({ units: fixed.units * 100n, scale: fixed.scale }, 2);
  return `${signed && sign(fixed) > 0 ? "+" : ""}${text}%`;
}

/** -1, 0 or 1 for colouring P&L. */
export function direction(text: string | null | undefined): -1 | 0 | 1 {
  const value = tryParse(text);
  return value === null ? 0 : sign(value);
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function timeOfDay(ms: number | null): string {
  if (ms === null) return "never";
  return new Date(ms).toLocaleTimeString();
}

/** A figure the server already gives in percent ("1.25") as "+1.25%". */
export function signedPercent(text: string | null | undefined): string {
  const value = tryParse(text);
  if (value === null) return "–";
  return `${sign(value) > 0 ? "+" : ""}${toFixed(value, 2)}%`;
}

/** "YES", "NO", or "FLAT" for a position with no contracts left (the API's side is null). */
export function sideLabel(side: string | null | undefined): string {
  return side ? side.toUpperCase() : "FLAT";
}
