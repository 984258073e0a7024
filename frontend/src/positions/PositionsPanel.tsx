import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";

import { describeError } from "../api/client";
import { useMe, useSettings } from "../api/hooks";
import type { Position } from "../api/types";
import { timeOfDay } from "../lib/format";
import { useLive } from "../stream/store";
import { AlertsDialog } from "./AlertsDialog";
import { crossed, crossedPositions, notify, type TodayFigure } from "./alerts";
import { ClosePositionDialog } from "./ClosePositionDialog";
import { PositionAlertDialog } from "./PositionAlertDialog";
import { PositionCard } from "./PositionCard";
import { useAccountLive } from "./useAccountLive";

export const VIRTUALISE_ABOVE = 50;
const NO_ALERTS: Readonly<Record<string, string>> = {};

interface CardActions {
  onClose: (p: Position) => void;
  onAlert: (ticker: string) => void;
  alertAt: Readonly<Record<string, string>>;
}

function VirtualList({ positions, changedAt, onClose, onAlert, alertAt }: { positions: Position[]; changedAt: Record<string, number> } & CardActions) {
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
              <PositionCard position={position} changedAt={changedAt[position.ticker]} onClose={onClose} onAlert={onAlert} alertAt={alertAt[position.ticker]} />
            </div>
          );
        })}
      </div>
    </div>
  );
}

/**
 * Raises a browser notification (and an in-page message) when today's P&L, or one
 * position's unrealized P&L, crosses an alert threshold.
 */
function useAlertWatch(today: TodayFigure, positions: Position[], signedIn: boolean) {
  const settings = useSettings(signedIn);
  const previous = useRef<TodayFigure | null>(null);
  const previousPositions = useRef<Record<string, string | null | undefined>>({});
  const [latest, setLatest] = useState<string | null>(null);
  useEffect(() => {
    for (const text of crossedPositions(settings.data?.pnl_alerts, previousPositions.current, positions)) {
      notify("P&L alert", text, `ki-pnl-alert:${text.split(":")[0] ?? ""}`);
      setLatest(text);
    }
    previousPositions.current = Object.fromEntries(positions.map((p) => [p.ticker, p.unrealized_pnl]));
  }, [positions, settings.data]);
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
  const [alertFor, setAlertFor] = useState<string | null>(null);
  // Escape closes the drawer (narrow screens), as it does a dialog.
  useEffect(() => {
    if (!open || !onClose) return;
    const close = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    document.addEventListener("keydown", close);
    return () => document.removeEventListener("keydown", close);
  }, [open, onClose]);
  const alert = useAlertWatch({ dollars: portfolio?.today_pnl, pct: portfolio?.today_pnl_pct }, positions, signedIn);
  const alertAt = useSettings(signedIn).data?.pnl_alerts.positions ?? NO_ALERTS;

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
  else if (positions.length > VIRTUALISE_ABOVE)
    body = <VirtualList positions={positions} changedAt={changedAt} onClose={setClosing} onAlert={setAlertFor} alertAt={alertAt} />;
  else
    body = (
      <div className="positions-scroll">
        {positions.map((p) => (
          <PositionCard key={p.ticker} position={p} changedAt={changedAt[p.ticker]} onClose={setClosing} onAlert={setAlertFor} alertAt={alertAt[p.ticker]} />
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
      {signedIn ? <PositionAlertDialog ticker={alertFor} onClose={() => setAlertFor(null)} /> : null}
    </aside>
  );
}
