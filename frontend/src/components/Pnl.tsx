import { direction, signedMoney, signedPercent } from "../lib/format";

/** P&L in colour with its sign spelled out (colour is never the only cue). */
export function Pnl({ dollars, pct }: { dollars: string | null | undefined; pct?: string | null }) {
  const dir = direction(dollars);
  const cls = dir > 0 ? "pnl up" : dir < 0 ? "pnl down" : "pnl";
  return (
    <span className={cls}>
      {signedMoney(dollars)}
      {pct !== undefined && pct !== null ? ` (${signedPercent(pct)})` : null}
    </span>
  );
}
