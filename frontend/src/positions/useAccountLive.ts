/**
 * The account figures a screen shows: the stream's once it has sent a snapshot, the REST
 * answer before that (or when the stream is down), so the panel is never empty for lack of
 * a stream.
 */
import { useMemo } from "react";

import { usePortfolio, usePositions, useSignedIn } from "../api/hooks";
import type { Portfolio, Position } from "../api/types";
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
  const portfolio: Portfolio | null = hydrated && livePortfolio ? livePortfolio : (portfolioQuery.data ?? null);
  const updatedAt = hydrated ? lastUpdate : positionsQuery.dataUpdatedAt || null;
  return { signedIn, positions, portfolio, portfolioQuery, positionsQuery, updatedAt, live: hydrated };
}
