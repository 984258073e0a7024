/**
 * Exact arithmetic on the API's fixed-point strings ("0.4700" dollars, "3.00" contracts).
 *
 * Money never goes through a float here: values are BigInt counts of 10^-scale units. The
 * dashboard computes little (the server sends P&L); what it does compute (sums for a
 * confirmation, comparisons for sorting and highlighting, cost = count x price on a ticket
 * before the preview answers) stays exact, and only formatting for display rounds.
 */

export interface Fixed {
  units: bigint;
  scale: number;
}

const PATTERN = /^([+-])?(\d+)(?:\.(\d+))?$/;

export function parse(text: string): Fixed {
  const match = PATTERN.exec(text.trim());
  if (!match) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ""] = match;
  const units = BigInt(`${whole}${fraction}`);
  return { units: sign === "-" ? -units : units, scale: fraction.length };
}

export function tryParse(text: string | null | undefined): Fixed | null {
  if (text === null || text === undefined || text === "") return null;
  try {
    return parse(text);
  } catch {
    return null;
  }
}

function rescale(value: Fixed, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

export function add(a: Fixed, b: Fixed): Fixed {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

export function sub(a: Fixed, b: Fixed): Fixed {
  return add(a, { units: -b.units, scale: b.scale });
}

export function mul(a: Fixed, b: Fixed): Fixed {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

export function compare(a: Fixed, b: Fixed): number {
  const scale = Math.max(a.scale, b.scale);
  const diff = rescale(a, scale) - rescale(b, scale);
  return diff === 0n ? 0 : diff < 0n ? -1 : 1;
}

export function sign(value: Fixed): -1 | 0 | 1 {
  return value.units === 0n ? 0 : value.units < 0n ? -1 : 1;
}

/** Compare two decimal strings; nulls sort last. */
export function compareText(a: string | null | undefined, b: string | null | undefined): number {
  const x = tryParse(a);
  const y = tryParse(b);
  if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
  return compare(x, y);
}

/** Round half away from zero to `places` decimals, as a string ("1.005" -> "1.01"). */
export function toFixed(value: Fixed, places: number): string {
  let units = value.units;
  if (value.scale > places) {
    const divisor = 10n ** BigInt(value.scale - places);
    const negative = units < 0n;
    const magnitude = negative ? -units : units;
    let quotient = magnitude / divisor;
    if ((magnitude % divisor) * 2n >= divisor) quotient += 1n;
    units = negative ? -quotient : quotient;
  } else {
    units = units * 10n ** BigInt(places - value.scale);
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const fraction = places > 0 ? `.${digits.slice(digits.length - places)}` : "";
  return `${negative && units !== 0n ? "-" : ""}${whole}${fraction}`;
}

export function toText(value: Fixed): string {
  return toFixed(value, value.scale);
}

/** a / b rounded half-even to `places` decimals (the server's rounding for percentages). */
export function divide(a: Fixed, b: Fixed, places: number): Fixed {
  if (b.units === 0n) throw new RangeError("division by zero");
  // a/b = (a.units / 10^a.scale) / (b.units / 10^b.scale); scale the numerator so the
  // integer quotient has `places` decimals.
  let numerator = a.units * 10n ** BigInt(places + b.scale);
  let denominator = b.units * 10n ** BigInt(a.scale);
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  let quotient = magnitude / denominator;
  const twice = (magnitude % denominator) * 2n;
  if (twice > denominator || (twice === denominator && quotient % 2n === 1n)) quotient += 1n;
  return { units: negative ? -quotient : quotient, scale: places };
}
