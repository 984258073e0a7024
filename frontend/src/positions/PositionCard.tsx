import { memo, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import type { Position } from "../api/types";
import { Pnl } from "../components/Pnl";
import { cents, contracts, sideLabel } from "../lib/format";

export const HIGHLIGHT_MS = 1500;

/** One position; flashes for a moment after its figures change. */
export const PositionCard = memo(function PositionCard({
  position,
  changedAt,
  onClose,
  alertAt,
  onAlert,
}: {
  position: Position;
  changedAt: number | undefined;
  onClose: (position: Position) => void;
  /** This position's P&L alert threshold in dollars, if one is set. */
  alertAt?: string | undefined;
  onAlert?: (ticker: string) => void;
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
        <span className={`side ${position.side ?? "flat"}`}>{sideLabel(position.side)}</span>
      </header>
      {position.market_title ? <p className="title">{position.market_title}</p> : null}
      {position.side ? (
        <>
          <p>
            {contracts(position.contracts)} @ {cents(position.average_entry_price)} · now {cents(position.mark)}
          </p>
          <p className="position-pnl" data-testid="position-pnl">
            <Pnl dollars={position.unrealized_pnl} pct={position.unrealized_pnl_pct} />
          </p>
        </>
      ) : null}
      {onAlert ? (
        <button
          type="button"
          className="alert-button"
          onClick={() => onAlert(position.ticker)}
          aria-label={alertAt ? `P&L alert for ${position.ticker}: at $${alertAt}` : `Set a P&L alert for ${position.ticker}`}
        >
          {alertAt ? `Alert ±$${alertAt}` : "Alert"}
        </button>
      ) : null}
      {position.side ? (
        <button type="button" className="quick-close" onClick={() => onClose(position)} aria-label={`Close position ${position.ticker}`}>
          Close
        </button>
      ) : (
        <p className="muted small">No contracts left · realized <Pnl dollars={position.realized_pnl} /></p>
      )}
    </article>
  );
});
