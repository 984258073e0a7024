import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, describeError } from "../api/client";
import { useSettings } from "../api/hooks";
import type { PnlAlert, Settings } from "../api/types";
import { Dialog } from "../components/Dialog";
import { tryParse } from "../lib/decimal";

/** Edit P&L alerts (kept in the user's settings on the server, not in the browser). */
export function AlertsDialog({ open, onClose, tickers }: { open: boolean; onClose: () => void; tickers: string[] }) {
  const settings = useSettings(open);
  const queryClient = useQueryClient();
  const [target, setTarget] = useState("");
  const [below, setBelow] = useState("");
  const [above, setAbove] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const alerts = settings.data?.pnl_alerts ?? [];
  const save = useMutation({
    mutationFn: (next: PnlAlert[]) =>
      api<Settings>("/api/v1/account/settings", { method: "PUT", body: { ...(settings.data ?? {}), pnl_alerts: next } }),
    onSuccess: (data) => {
      queryClient.setQueryData(["settings"], data);
      setBelow("");
      setAbove("");
    },
  });
  return (
    <Dialog open={open} title="P&L alerts" onClose={onClose}>
      {settings.isError ? <p role="alert" className="error-message">Settings: {describeError(settings.error)}</p> : null}
      <ul className="alert-list">
        {alerts.length === 0 ? <li className="muted">No alerts yet.</li> : null}
        {alerts.map((a, i) => (
          <li key={`${a.ticker ?? "portfolio"}-${i}`}>
            {a.ticker ?? "Portfolio (today)"}: {a.below_dollars ? `below $${a.below_dollars}` : ""} {a.above_dollars ? `above $${a.above_dollars}` : ""}
            <button type="button" onClick={() => save.mutate(alerts.filter((_, j) => j !== i))} aria-label={`Remove alert ${i + 1}`}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if ((below && !tryParse(below)) || (above && !tryParse(above)) || (!below && !above)) {
            setInvalid("Enter a dollar amount such as -25.00 for below and/or 50.00 for above.");
            return;
          }
          setInvalid(null);
          if (typeof Notification !== "undefined" && Notification.permission === "default") void Notification.requestPermission();
          save.mutate([...alerts, { ticker: target || null, below_dollars: below || null, above_dollars: above || null }]);
        }}
      >
        <label>
          For
          <select value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">Portfolio (today&apos;s P&amp;L)</option>
            {tickers.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Below ($)
          <input value={below} onChange={(e) => setBelow(e.target.value)} inputMode="decimal" placeholder="-25.00" />
        </label>
        <label>
          Above ($)
          <input value={above} onChange={(e) => setAbove(e.target.value)} inputMode="decimal" placeholder="50.00" />
        </label>
        {invalid ? <p role="alert" className="error-message">{invalid}</p> : null}
        {save.isError ? <p role="alert" className="error-message">{describeError(save.error)}</p> : null}
        <div className="actions">
          <button type="submit" disabled={save.isPending}>Add alert</button>
          <button type="button" onClick={onClose}>Close</button>
        </div>
      </form>
    </Dialog>
  );
}
