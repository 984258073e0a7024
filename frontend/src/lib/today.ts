/**
 * Today's P&L, live: total value now - the day's baseline - net deposits since it, the
 * definition the account API uses. The stream's portfolio updates carry the total value but
 * not the baseline (the streamer does not read it), so the dashboard takes the baseline from
 * `GET /account/portfolio` and recomputes, exactly, as the total moves.
 */
import { divide, parse, sign, sub, toText, tryParse } from "./decimal";

export function todayPnl(
  totalValue: string | null | undefined,
  baselineValue: string | null | undefined,
  netTransfers: string | null | undefined,
): { dollars: string; pct: string | null } | null {
  const total = tryParse(totalValue);
  const baseline = tryParse(baselineValue);
  if (total === null || baseline === null) return null;
  const transfers = tryParse(netTransfers) ?? parse("0");
  const dollars = sub(sub(total, baseline), transfers);
  const pct = sign(baseline) > 0 ? toText(divide({ units: dollars.units * 100n, scale: dollars.scale }, baseline, 2)) : null;
  return { dollars: toText(dollars), pct };
}
