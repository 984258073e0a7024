import { useState } from "react";

import { useLive } from "../stream/store";
import { useStreamConnection } from "../stream/StreamProvider";
import type { ConnectionState } from "../stream/events";
import { timeOfDay } from "../lib/format";
import { Dialog } from "./Dialog";

const LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting",
  connected: "Live",
  reconnecting: "Reconnecting",
  kalshi_reconnecting: "Kalshi reconnecting",
  degraded: "Degraded",
  exchange_paused: "Exchange paused",
  disconnected: "Disconnected",
  off: "Offline",
};

export function colourOf(state: ConnectionState): "green" | "yellow" | "red" | "grey" {
  if (state === "connected") return "green";
  if (state === "off") return "grey";
  if (state === "disconnected") return "red";
  return "yellow";
}

/** Green, yellow or red dot with the state named; a click opens the details. */
export function ConnectionIndicator() {
  const connection = useLive((s) => s.connection);
  const detail = useLive((s) => s.connectionDetail);
  const lastUpdate = useLive((s) => s.lastUpdate);
  const lastEventId = useLive((s) => s.lastEventId);
  const snapshots = useLive((s) => s.snapshots);
  const coalesced = useLive((s) => s.coalescedSnapshots);
  const stream = useStreamConnection();
  const [open, setOpen] = useState(false);
  const label = LABEL[connection];
  return (
    <>
      <button
        type="button"
        className={`connection ${colourOf(connection)}`}
        title={`Stream: ${label}${detail ? `. ${detail}` : ""}`}
        aria-label={`Stream status: ${label}. Show connection details`}
        data-state={connection}
        onClick={() => setOpen(true)}
      >
        <span className="dot" aria-hidden="true" />
        <span className="connection-label">{label}</span>
      </button>
      <Dialog open={open} title="Connection details" onClose={() => setOpen(false)}>
        <dl className="details">
          <dt>State</dt>
          <dd>{label}</dd>
          <dt>Detail</dt>
          <dd>{detail ?? "–"}</dd>
          <dt>Last event</dt>
          <dd>
            {timeOfDay(lastUpdate)} (id {lastEventId ?? "none"})
          </dd>
          <dt>Snapshots</dt>
          <dd>
            {snapshots} ({coalesced} after falling behind)
          </dd>
        </dl>
        <div className="actions">
          <button type="button" onClick={() => stream?.reconnect()}>
            Reconnect now
          </button>
          <button type="button" onClick={() => setOpen(false)}>
            Close
          </button>
        </div>
      </Dialog>
    </>
  );
}
