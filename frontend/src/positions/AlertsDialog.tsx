import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, describeError } from "../api/client";
import { useSettings } from "../api/hooks";
import type { PnlAlerts, Settings } from "../api/types";
import { Dialog } from "../components/Dialog";

const AMOUNT = /^[0-9]+(\.[0-9]{1,2})?$/;
const FIELDS: { key: keyof Omit<PnlAlerts, "enabled" | "positions">; label: string }[] = [
  { key: "loss_dollars", label: "Loss of ($)" },
  { key: "gain_dollars", label: "Gain of ($)" },
  { key: "loss_percent", label: "Loss of (%)" },
  { key: "gain_percent", label: "Gain of (%)" },
];

/** Edit today's-P&L alerts, kept in the user's settings on the server (not in the browser). */
export function AlertsDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const settings = useSettings(open);
  const queryClient = useQueryClient();
  const [form, setForm] = useState<Record<string, string>>({});
  const [enabled, setEnabled] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  useEffect(() => {
    const alerts = settings.data?.pnl_alerts;
    if (!alerts) return;
    setEnabled(alerts.enabled);
    setForm(Object.fromEntries(FIELDS.map((f) => [f.key, alerts[f.key] ?? ""])));
  }, [settings.data]);
  const save = useMutation({
    mutationFn: (pnl_alerts: PnlAlerts) =>       // The document is replaced whole: keep the trading settings as they are.
      api<Settings>("/api/v1/account/settings", { method: "PUT", body: { ...settings.data, pnl_alerts } }),
    onSuccess: (data) => {
      queryClient.setQueryData(["settings"], data);
      onClose();
    },
  });
  return (
    <Dialog open={open} title="P&L alerts" onClose={onClose}>
      <p className="muted small">A browser notification when today&apos;s P&amp;L reaches one of these. Leave a box empty to not watch it.</p>
      {settings.isError ? <p role="alert" className="error-message">Settings: {describeError(settings.error)}</p> : null}
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          const bad = FIELDS.find((f) => form[f.key] && !AMOUNT.test(form[f.key] ?? ""));
          if (bad) {
            setInvalid(`${bad.label}: enter a positive amount such as 25 or 25.50.`);
            return;
          }
          setInvalid(null);
          if (enabled && typeof Notification !== "undefined" && Notification.permission === "default") void Notification.requestPermission();
          const next: PnlAlerts = {
            // Keep the per-position thresholds (set from each card).
            ...settings.data?.pnl_alerts,
            enabled,
            loss_dollars: form.loss_dollars || null,
            gain_dollars: form.gain_dollars || null,
            loss_percent: form.loss_percent || null,
            gain_percent: form.gain_percent || null,
          };
          save.mutate(next);
        }}
      >
        <label className="inline">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Alerts on
        </label>
        <div className="grid-fields">
          {FIELDS.map((f) => (
            <label key={f.key}>
              {f.label}
              <input value={form[f.key] ?? ""} onChange={(e) => setForm({ ...form, [f.key]: e.target.value })} inputMode="decimal" />
            </label>
          ))}
        </div>
        {invalid ? <p role="alert" className="error-message">{invalid}</p> : null}
        {save.isError ? <p role="alert" className="error-message">{describeError(save.error)}</p> : null}
        <div className="actions">
          <button type="submit" disabled={save.isPending}>Save</button>
          <button type="button" onClick={onClose}>Close</button>
        </div>
      </form>
    </Dialog>
  );
}
