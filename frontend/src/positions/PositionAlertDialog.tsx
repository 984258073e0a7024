import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, describeError } from "../api/client";
import { useSettings } from "../api/hooks";
import type { PnlAlerts, Settings } from "../api/types";
import { Dialog } from "../components/Dialog";

const AMOUNT = /^[0-9]+(\.[0-9]{1,2})?$/;
const EMPTY: PnlAlerts = { enabled: false, loss_dollars: null, gain_dollars: null, loss_percent: null, gain_percent: null };

/**
 * One position's P&L alert (a loss or a gain of N dollars on its unrealized P&L), kept in
 * the user's settings on the server beside the portfolio thresholds. Saving one turns
 * alerts on: setting a threshold and then hearing nothing would be the worse surprise.
 */
export function PositionAlertDialog({ ticker, onClose }: { ticker: string | null; onClose: () => void }) {
  const open = ticker !== null;
  const settings = useSettings(open);
  const queryClient = useQueryClient();
  const [amount, setAmount] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const current = ticker ? settings.data?.pnl_alerts.positions?.[ticker] : undefined;
  useEffect(() => {
    setAmount(current ?? "");
    setInvalid(null);
  }, [current, ticker]);
  const save = useMutation({
    mutationFn: (value: string | null) => {
      const alerts = settings.data?.pnl_alerts ?? EMPTY;
      if (ticker === null) throw new Error("no position");
      const others = Object.entries(alerts.positions ?? {}).filter(([key]) => key !== ticker);
      const positions = Object.fromEntries(value === null ? others : [...others, [ticker, value]]);
      const enabled = value === null ? alerts.enabled : true;
      // The document is replaced whole: keep the other alerts and the trading settings.
      return api<Settings>("/api/v1/account/settings", { method: "PUT", body: { ...settings.data, pnl_alerts: { ...alerts, enabled, positions } } });
    },
    onSuccess: (data) => {
      queryClient.setQueryData(["settings"], data);
      onClose();
    },
  });
  return (
    <Dialog open={open} title={`P&L alert for ${ticker ?? ""}`} onClose={onClose}>
      <p className="muted small">A browser notification when this position&apos;s P&amp;L reaches a loss or a gain of this many dollars. Saving turns alerts on.</p>
      {settings.isError ? <p role="alert" className="error-message">Settings: {describeError(settings.error)}</p> : null}
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          const value = amount.trim();
          if (!AMOUNT.test(value) || Number(value) <= 0) {
            setInvalid("Enter a positive amount such as 25 or 25.50.");
            return;
          }
          setInvalid(null);
          if (typeof Notification !== "undefined" && Notification.permission === "default") void Notification.requestPermission();
          save.mutate(value);
        }}
      >
        <label>
          Alert at a loss or gain of ($)
          <input value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" />
        </label>
        {invalid ? <p role="alert" className="error-message">{invalid}</p> : null}
        {save.isError ? <p role="alert" className="error-message">{describeError(save.error)}</p> : null}
        <div className="actions">
          <button type="submit" disabled={save.isPending || settings.isPending}>Save</button>
          {current ? (
            <button type="button" disabled={save.isPending} onClick={() => save.mutate(null)}>
              Remove alert
            </button>
          ) : null}
          <button type="button" onClick={onClose}>Cancel</button>
        </div>
      </form>
    </Dialog>
  );
}
