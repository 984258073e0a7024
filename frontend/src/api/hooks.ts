/** TanStack Query hooks: one per API read, with the keys mutations invalidate. */
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";

import { api, ApiError } from "./client";
import type {
  AccountUser,
  FillList,
  History,
  Interval,
  Market,
  MarketList,
  OrderList,
  Orderbook,
  Performance,
  Portfolio,
  Positions,
  Run,
  RunSummary,
  Settings,
  Strategy,
} from "./types";

const enc = encodeURIComponent;

/** The signed-in user, null when signed out (401), an error when the account API fails. */
export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<AccountUser | null> => {
      try {
        return await api<AccountUser>("/api/v1/account/me");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    retry: false,
    staleTime: 60_000,
  });
}

export function useSignedIn(): boolean {
  const me = useMe();
  return me.data !== undefined && me.data !== null;
}

export function usePortfolio(enabled: boolean) {
  return useQuery({
    queryKey: ["portfolio"],
    queryFn: () => api<Portfolio>("/api/v1/account/portfolio"),
    enabled,
    refetchInterval: 30_000,
  });
}

export function usePositions(enabled: boolean) {
  return useQuery({
    queryKey: ["positions"],
    queryFn: () => api<Positions>("/api/v1/account/positions"),
    enabled,
    refetchInterval: 30_000,
  });
}

export function useSettings(enabled: boolean) {
  return useQuery({
    queryKey: ["settings"],
    queryFn: () => api<Settings>("/api/v1/account/settings"),
    enabled,
  });
}

export function useOrders(enabled: boolean, status: string) {
  return useQuery({
    queryKey: ["orders", status],
    queryFn: () => api<OrderList>(`/api/v1/account/orders${status ? `?status=${enc(status)}` : ""}`),
    enabled,
  });
}

export function useFills(enabled: boolean) {
  return useQuery({
    queryKey: ["fills"],
    queryFn: () => api<FillList>("/api/v1/account/fills?limit=50"),
    enabled,
  });
}

export function usePerformance(enabled: boolean) {
  return useQuery({
    queryKey: ["performance"],
    queryFn: () => api<Performance>("/api/v1/account/performance"),
    enabled,
  });
}

export interface MarketQuery {
  q: string;
  status: string;
  sort: "volume" | "close_time" | "change_24h";
  order: "asc" | "desc";
}

export function useMarkets(query: MarketQuery) {
  return useInfiniteQuery({
    queryKey: ["markets", query],
    queryFn: ({ pageParam, signal }) => {
      const params = new URLSearchParams({ sort: query.sort, order: query.order, limit: "50" });
      if (query.q.trim()) params.set("q", query.q.trim());
      if (query.status) params.set("status", query.status);
      if (pageParam) params.set("cursor", pageParam);
      return api<MarketList>(`/api/v1/markets?${params}`, { signal });
    },
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
  });
}

export function useMarket(ticker: string) {
  return useQuery({
    queryKey: ["market", ticker],
    queryFn: async () => (await api<{ market: Market }>(`/api/v1/markets/${enc(ticker)}`)).market,
  });
}

export const INTERVAL_SECONDS: Record<Interval, number> = {
  "1m": 60,
  "5m": 300,
  "1h": 3600,
  "4h": 14_400,
  "1d": 86_400,
};
const CANDLES = 300;

export function useHistory(ticker: string, interval: Interval) {
  return useQuery({
    queryKey: ["history", ticker, interval],
    queryFn: () => {
      const end = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
      const start = new Date(end.getTime() - CANDLES * INTERVAL_SECONDS[interval] * 1000);
      const params = new URLSearchParams({ interval, start: start.toISOString(), end: end.toISOString() });
      return api<History>(`/api/v1/markets/${enc(ticker)}/history?${params}`);
    },
    refetchInterval: 60_000,
  });
}

export function useOrderbook(ticker: string) {
  return useQuery({
    queryKey: ["orderbook", ticker],
    queryFn: () => api<Orderbook>(`/api/v1/markets/${enc(ticker)}/orderbook?depth=10`),
    refetchInterval: 10_000,
  });
}

export function useStrategies() {
  return useQuery({
    queryKey: ["strategies"],
    queryFn: async () => {
      const body = await api<{ strategies: Strategy[] } | Strategy[]>("/api/v1/backtests/strategies");
      return Array.isArray(body) ? body : body.strategies;
    },
    staleTime: Infinity,
  });
}

export function useRuns() {
  return useQuery({
    queryKey: ["runs"],
    queryFn: async () => {
      const body = await api<{ items: RunSummary[] } | RunSummary[]>("/api/v1/backtests?limit=50");
      return Array.isArray(body) ? body : body.items;
    },
  });
}

const ACTIVE = new Set(["queued", "running"]);

/** One run; polled every second while it is queued or running (the stream adds live progress). */
export function useRun(id: string | null) {
  return useQuery({
    queryKey: ["run", id],
    queryFn: () => api<Run>(`/api/v1/backtests/${enc(id ?? "")}?trades_limit=200`),
    enabled: id !== null && id !== "",
    refetchInterval: (query) => (query.state.data && !ACTIVE.has(query.state.data.status) ? false : 1000),
  });
}
