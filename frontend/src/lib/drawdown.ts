/** The drawdown curve of an equity curve, exactly: equity minus its running peak (<= 0). */
import { compare, sub, toText, tryParse, type Fixed } from "./decimal";

export interface CurvePoint {
  ts: string;
  equity_dollars: string;
}

export function drawdown(curve: readonly CurvePoint[]): { ts: string; drawdown_dollars: string }[] {
  let peak: Fixed | null = null;
  const out: { ts: string; drawdown_dollars: string }[] = [];
  for (const point of curve) {
    const equity = tryParse(point.equity_dollars);
    if (equity === null) continue;
    if (peak === null || compare(equity, peak) > 0) peak = equity;
    out.push({ ts: point.ts, drawdown_dollars: toText(sub(equity, peak)) });
  }
  return out;
}
