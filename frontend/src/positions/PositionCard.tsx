import { memo, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import type { Position } from "../api/types";
import { Pnl } from "../components/Pnl";
import { cents, contracts } from "../lib/format";

export const HIGHLIGHT_MS = 1500;

/** One position; flashes for a moment after its figures change. */
export const PositionCard = memo(function PositionCard({
  position,
  changedAt,
  onClose,
}: {
  position: Position;
  changedAt: number | undefined;
  onClose: (position: Position) => void;
}) {
  const [flash, setFlash] = useState(false);
  useEffect(() => {
    if (changedAt === undefined || Date.now() - changedAt > HIGHLIGHT_MS) return;
    setFlash(true);
    const timer = setTimeout(() => setFlash(false), HIGHLIGHT_MS);
    return () => clearTimeout(timer);
  }, [changedAt]);
  return (
    <article className={`position-card${flash ? " changed" : ""}`} aria-label={`Position ${position.ticker}`} data-ticker={position.ticker}>
      <header>
        <Link to={`/markets/${encodeURIComponent(position.ticker)}`} className="ticker">
          {position.ticker}
        </Link>
        <span className={`side ${position.side}`}>{position.side.toUpperCase()}</span>
      </header>
      {position.title ? <p className="title">{position.title}</p> : null}
      <p>
        {contracts(position.contracts_fp)} @ {cents(position.average_price_dollars)} · now {cents(position.mark_dollars)}
      </p>
      <p className="position-pnl" data-testid="position-pnl">
        <Pnl dollars={position.unrealized_pnl_dollars} pct={position.unrealized_pnl_pct} />
      </p>
      <button type="button" className="quick-close" onClick={() => onClose(position)} aria-label={`Close position ${position.ticker}`}>
        Close
      </button>
    </article>
  );
});
