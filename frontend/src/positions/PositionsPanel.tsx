import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";

import { describeError } from "../api/client";
import { useMe, useSettings } from "../api/hooks";
import type { Position } from "../api/types";
import { timeOfDay } from "../lib/format";
import { useLive } from "../stream/store";
import { AlertsDialog } from "./AlertsDialog";
import { crossed, notify, type TodayFigure } from "./alerts";
import { ClosePositionDialog } from "./ClosePositionDialog";
import { PositionCard } from "./PositionCard";
import { useAccountLive } from "./useAccountLive";

export const VIRTUALISE_ABOVE = 50;

function VirtualList({ positions, changedAt, onClose }: { positions: Position[]; changedAt: Record<string, number>; onClose: (p: Position) => void }) {
  const parentRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: positions.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => 132,
    overscan: 6,
  });
  return (
    <div ref={parentRef} className="positions-scroll" data-virtualised="true">
      <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
        {virtualizer.getVirtualItems().map((item) => {
          const position = positions[item.index];
          if (!position) return null;
          return (
            <div key={position.ticker} ref={virtualizer.measureElement} data-index={item.index} style={{ position: "absolute", top: 0, left: 0, right: 0, transform: `translateY(${item.start}px)` }}>
              <PositionCard position={position} changedAt={changedAt[position.ticker]} onClose={onClose} />
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** Raises a browser notification (and an in-page message) when today's P&L crosses an alert. */
function useAlertWatch(today: TodayFigure, signedIn: boolean) {
  const settings = useSettings(signedIn);
  const previous = useRef<TodayFigure | null>(null);
  const [latest, setLatest] = useState<string | null>(null);
  const { dollars, pct } = today;
  useEffect(() => {
    if (dollars === null || dollars === undefined) return;
    const current = { dollars, pct };
    for (const text of crossed(settings.data?.pnl_alerts, previous.current, current)) {
      notify("P&L alert", text);
      setLatest(text);
    }
    previous.current = current;
  }, [dollars, pct, settings.data]);
  return latest;
}

export function PositionsPanel({ open, onClose }: { open: boolean; onClose?: () => void }) {
  const me = useMe();
  const { signedIn, positions, portfolio, positionsQuery, updatedAt, live } = useAccountLive();
  const changedAt = useLive((s) => s.changedAt);
  const [closing, setClosing] = useState<Position | null>(null);
  const [alertsOpen, setAlertsOpen] = useState(false);
  // Escape closes the drawer (narrow screens), as it does a dialog.
  useEffect(() => {
    if (!open || !onClose) return;
    const close = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    document.addEventListener("keydown", close);
    return () => document.removeEventListener("keydown", close);
  }, [open, onClose]);
  const alert = useAlertWatch({ dollars: portfolio?.today_pnl, pct: portfolio?.today_pnl_pct }, signedIn);

  let body: React.ReactNode;
  if (me.isPending) body = <p className="muted">Checking your session…</p>;
  else if (me.isError) body = <p role="alert" className="error-message">Accounts are unavailable: {describeError(me.error)}</p>;
  else if (!signedIn)
    body = (
      <p className="muted">
        <Link to="/signin">Sign in</Link> with your Kalshi API key to see your positions.
      </p>
    );
  else if (!live && positionsQuery.isError) body = <p role="alert" className="error-message">Positions: {describeError(positionsQuery.error)}</p>;
  else if (!live && positionsQuery.isPending) body = <p className="muted" role="status">Loading positions…</p>;
  else if (positions.length === 0) body = <p className="empty">No open positions. Markets you trade show up here.</p>;
  else if (positions.length > VIRTUALISE_ABOVE) body = <VirtualList positions={positions} changedAt={changedAt} onClose={setClosing} />;
  else
    body = (
      <div className="positions-scroll">
        {positions.map((p) => (
          <PositionCard key={p.ticker} position={p} changedAt={changedAt[p.ticker]} onClose={setClosing} />
        ))}
      </div>
    );

  return (
    <aside className={`positions-panel${open ? " open" : ""}`} aria-label="Positions">
      <div className="panel-head">
        <h2>Positions</h2>
        {onClose ? (
          <button type="button" className="drawer-close" onClick={onClose} aria-label="Hide positions">
            ✕
          </button>
        ) : null}
        {signedIn ? (
          <button type="button" onClick={() => setAlertsOpen(true)}>
            P&amp;L alerts
          </button>
        ) : null}
      </div>
      {alert ? <p role="status" className="alert-toast">{alert}</p> : null}
      {body}
      {signedIn ? <p className="muted small">Updated {timeOfDay(updatedAt)}{live ? " · live" : ""}</p> : null}
      <ClosePositionDialog position={closing} onDone={() => setClosing(null)} />
      {signedIn ? <AlertsDialog open={alertsOpen} onClose={() => setAlertsOpen(false)} /> : null}
    </aside>
  );
}
