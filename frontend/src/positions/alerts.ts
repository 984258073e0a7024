/**
 * P&L alerts: the thresholds in the user's settings (`pnl_alerts`: today's P&L falling to a
 * loss or rising to a gain, in dollars or percent), checked whenever today's P&L changes.
 *
 * An alert fires when the figure crosses its threshold (was short of it, now at or past it),
 * not on every update while it stays past it, so a held-down P&L raises one notification.
 */
import type { PnlAlerts } from "../api/types";
import { compareText } from "../lib/decimal";

export interface TodayFigure {
  dollars: string | null | undefined;
  pct: string | null | undefined;
}

function negate(text: string): string {
  return text.startsWith("-") ? text.slice(1) : `-${text}`;
}

function fellTo(previous: string | null | undefined, current: string | null | undefined, floor: string): boolean {
  if (previous == null || current == null) return false;
  return compareText(previous, floor) > 0 && compareText(current, floor) <= 0;
}

function roseTo(previous: string | null | undefined, current: string | null | undefined, ceiling: string): boolean {
  if (previous == null || current == null) return false;
  return compareText(previous, ceiling) < 0 && compareText(current, ceiling) >= 0;
}

/** Sentences for each threshold today's P&L crossed between `previous` and `current`. */
export function crossed(alerts: PnlAlerts | undefined, previous: TodayFigure | null, current: TodayFigure): string[] {
  if (!alerts?.enabled || previous === null) return [];
  const out: string[] = [];
  if (alerts.loss_dollars && fellTo(previous.dollars, current.dollars, negate(alerts.loss_dollars))) {
    out.push(`Today's P&L fell to ${current.dollars} (alert at a $${alerts.loss_dollars} loss).`);
  }
  if (alerts.gain_dollars && roseTo(previous.dollars, current.dollars, alerts.gain_dollars)) {
    out.push(`Today's P&L rose to ${current.dollars} (alert at a $${alerts.gain_dollars} gain).`);
  }
  if (alerts.loss_percent && fellTo(previous.pct, current.pct, negate(alerts.loss_percent))) {
    out.push(`Today's P&L fell to ${current.pct}% (alert at a ${alerts.loss_percent}% loss).`);
  }
  if (alerts.gain_percent && roseTo(previous.pct, current.pct, alerts.gain_percent)) {
    out.push(`Today's P&L rose to ${current.pct}% (alert at a ${alerts.gain_percent}% gain).`);
  }
  return out;
}

/**
 * Sentences for each position whose unrealized P&L crossed its own threshold (`positions`,
 * ticker -> dollars) between `previous` (ticker -> the P&L last seen) and `current`: falling
 * to a loss of the amount or rising to a gain of it. A position seen for the first time
 * never fires, as today's figure does not.
 */
export function crossedPositions(
  alerts: PnlAlerts | undefined,
  previous: Readonly<Record<string, string | null | undefined>>,
  current: readonly { ticker: string; unrealized_pnl?: string | null }[],
): string[] {
  if (!alerts?.enabled || !alerts.positions) return [];
  const out: string[] = [];
  for (const { ticker, unrealized_pnl: now } of current) {
    const threshold = alerts.positions[ticker];
    if (!threshold || !(ticker in previous)) continue;
    const before = previous[ticker];
    if (fellTo(before, now, negate(threshold))) out.push(`${ticker}: P&L fell to ${now} (alert at a $${threshold} loss).`);
    else if (roseTo(before, now, threshold)) out.push(`${ticker}: P&L rose to ${now} (alert at a $${threshold} gain).`);
  }
  return out;
}

/** A browser notification; `tag` groups them (a later one with the same tag replaces it). */
export function notify(title: string, body: string, tag = "ki-pnl-alert"): void {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try {
    new Notification(title, { body, tag });
  } catch {
    // Some browsers only allow notifications from a service worker; the in-page message stays.
  }
}
