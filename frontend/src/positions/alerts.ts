/**
 * P&L alerts: thresholds from the user's settings, checked whenever P&L changes.
 *
 * An alert fires when the figure crosses its threshold (was on one side, now on or past it),
 * not on every update while it stays past it, so a held-down P&L raises one notification.
 */
import type { PnlAlert } from "../api/types";
import { compareText } from "../lib/decimal";

export interface Triggered {
  alert: PnlAlert;
  value: string;
  direction: "below" | "above";
}

/** Alerts that `current` crosses, given the `previous` value (null: first sight, no alert). */
export function crossed(alerts: readonly PnlAlert[], ticker: string | null, previous: string | null | undefined, current: string | null | undefined): Triggered[] {
  if (previous === null || previous === undefined || current === null || current === undefined) return [];
  const out: Triggered[] = [];
  for (const alert of alerts) {
    if (alert.ticker !== ticker) continue;
    if (alert.below_dollars && compareText(previous, alert.below_dollars) > 0 && compareText(current, alert.below_dollars) <= 0) {
      out.push({ alert, value: current, direction: "below" });
    }
    if (alert.above_dollars && compareText(previous, alert.above_dollars) < 0 && compareText(current, alert.above_dollars) >= 0) {
      out.push({ alert, value: current, direction: "above" });
    }
  }
  return out;
}

export function notify(title: string, body: string): void {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try {
    new Notification(title, { body, tag: `ki-${title}` });
  } catch {
    // Some browsers only allow notifications from a service worker; the in-page toast stays.
  }
}
