/**
 * The account figures a screen shows: the stream's once it has sent a snapshot, the REST
 * answer before that (or when the stream is down), so the panel is never empty for lack of
 * a stream. The stream's portfolio has no daily baseline, so today's P&L is recomputed from
 * the live total and the REST answer's baseline (lib/today.ts).
 */
import { useMemo } from "react";

import { usePortfolio, usePositions, useSignedIn } from "../api/hooks";
import type { Portfolio, Position } from "../api/types";
import { todayPnl } from "../lib/today";
import { useLive } from "../stream/store";

export function useAccountLive() {
  const signedIn = useSignedIn();
  const portfolioQuery = usePortfolio(signedIn);
  const positionsQuery = usePositions(signedIn);
  const hydrated = useLive((s) => s.hydrated);
  const livePositions = useLive((s) => s.positions);
  const livePortfolio = useLive((s) => s.portfolio);
  const lastUpdate = useLive((s) => s.lastUpdate);
  const positions: Position[] = useMemo(() => {
    const list = hydrated ? Object.values(livePositions) : (positionsQuery.data?.positions ?? []);
    return [...list].sort((a, b) => a.ticker.localeCompare(b.ticker));
  }, [hydrated, livePositions, positionsQuery.data]);
  const portfolio: Portfolio | null = useMemo(() => {
    const rest = portfolioQuery.data;
    if (!hydrated || !livePortfolio) return rest ?? null;
    const merged: Portfolio = { ...(rest ?? {}), ...livePortfolio };
    const today = todayPnl(merged.total_value, rest?.baseline_value, rest?.net_transfers_since_baseline);
    if (today) {
      merged.today_pnl = today.dollars;
      merged.today_pnl_pct = today.pct;
    }
    return merged;
  }, [hydrated, livePortfolio, portfolioQuery.data]);
  const updatedAt = hydrated ? lastUpdate : positionsQuery.dataUpdatedAt || null;
  return { signedIn, positions, portfolio, portfolioQuery, positionsQuery, updatedAt, live: hydrated };
}
