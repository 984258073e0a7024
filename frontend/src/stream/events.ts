/**
 * The stream's events and the pure function that folds one into the live state.
 *
 * Kept free of React, Zustand and EventSource so every rule (a snapshot replaces, an update
 * upserts, a removal deletes, a redelivered id changes nothing) is tested on plain objects.
 */
import type { Fill, Order, Orderbook, Portfolio, Position } from "../api/types";

export const EVENT_TYPES = [
  "snapshot",
  "position_update",
  "position_removed",
  "portfolio_update",
  "order_update",
  "fill",
  "market_update",
  "orderbook",
  "backtest_progress",
  "connection_status",
  "error",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** What the server says about its side: Kalshi's socket, the exchange. */
export type ServerStatus =
  | "connected"
  | "kalshi_reconnecting"
  | "degraded"
  | "exchange_paused"
  | "disconnected";

/** What the indicator shows: the server's status, or ours while the browser has no stream. */
export type ConnectionState = ServerStatus | "connecting" | "reconnecting" | "off";

export interface MarketTick {
  ticker: string;
  yes_bid_dollars?: string | null;
  yes_ask_dollars?: string | null;
  last_price_dollars?: string | null;
  volume_fp?: string | null;
  [key: string]: unknown;
}

export interface BacktestProgress {
  run_id: string;
  progress: number;
  status?: string;
  stage?: string;
}

export interface SnapshotData {
  portfolio?: Portfolio | null;
  positions?: Position[];
  orders?: Order[];
  markets?: MarketTick[];
  /** The server's `connection_status` at the snapshot's instant. */
  connection?: { status?: string; detail?: string | null } | null;
  /** True when the server dropped events for a slow client and sent this instead. */
  coalesced?: boolean;
}

export interface StreamEvent {
  type: EventType;
  id: string | null;
  data: unknown;
}

export const MAX_FILLS = 200;
const SEEN_IDS = 512;

export interface LiveState {
  /** False until the first snapshot: screens show the REST answer until then. */
  hydrated: boolean;
  connection: ConnectionState;
  connectionDetail: string | null;
  lastEventId: string | null;
  /** Ids already applied (bounded), so a redelivered event changes nothing. */
  seenIds: string[];
  lastUpdate: number | null;
  portfolio: Portfolio | null;
  positions: Record<string, Position>;
  /** When each position last changed (ms), for the brief highlight. */
  changedAt: Record<string, number>;
  orders: Record<string, Order>;
  fills: Fill[];
  markets: Record<string, MarketTick>;
  orderbooks: Record<string, Orderbook>;
  backtests: Record<string, BacktestProgress>;
  snapshots: number;
  coalescedSnapshots: number;
  lastError: string | null;
}

export function initialState(): LiveState {
  return {
    hydrated: false,
    connection: "connecting",
    connectionDetail: null,
    lastEventId: null,
    seenIds: [],
    lastUpdate: null,
    portfolio: null,
    positions: {},
    changedAt: {},
    orders: {},
    fills: [],
    markets: {},
    orderbooks: {},
    backtests: {},
    snapshots: 0,
    coalescedSnapshots: 0,
    lastError: null,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function byKey<T>(items: T[] | undefined, key: (item: T) => string | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  for (const item of items ?? []) {
    const k = key(item);
    if (k) out[k] = item;
  }
  return out;
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => k !== key));
}

const SERVER_STATUSES = new Set<string>([
  "connected",
  "kalshi_reconnecting",
  "degraded",
  "exchange_paused",
  "disconnected",
]);

function positionChanged(before: Position | undefined, after: Position): boolean {
  if (!before) return true;
  return (
    before.unrealized_pnl !== after.unrealized_pnl ||
    before.contracts !== after.contracts ||
    before.mark !== after.mark ||
    before.side !== after.side
  );
}

/**
 * Fold one event into the state and return the new state (the old one is not mutated).
 * Unknown or malformed events leave the state as it was, apart from bookkeeping.
 */
export function applyEvent(state: LiveState, event: StreamEvent, now: number): LiveState {
  if (event.id !== null && event.type !== "snapshot" && state.seenIds.includes(event.id)) {
    return state;
  }
  const next: LiveState = { ...state, lastUpdate: now };
  if (event.id !== null) {
    next.lastEventId = event.id;
    next.seenIds = [...state.seenIds.slice(-(SEEN_IDS - 1)), event.id];
  }
  const data = event.data;
  switch (event.type) {
    case "snapshot": {
      if (!isRecord(data)) return next;
      const snapshot = data as SnapshotData;
      // A snapshot is the whole truth at its instant: anything not in it is gone. Positions
      // that changed across it still flash, so a coalesced snapshot after a slow spell shows
      // what moved while the client lagged.
      const positions = byKey(snapshot.positions, (p) => p.ticker);
      const changedAt: Record<string, number> = {};
      for (const [ticker, position] of Object.entries(positions)) {
        const before = state.positions[ticker];
        const changed = state.hydrated && positionChanged(before, position);
        const previous = state.changedAt[ticker];
        if (changed) changedAt[ticker] = now;
        else if (previous !== undefined) changedAt[ticker] = previous;
      }
      next.hydrated = true;
      next.positions = positions;
      next.changedAt = changedAt;
      if (snapshot.portfolio !== undefined) next.portfolio = snapshot.portfolio;
      if (snapshot.orders !== undefined) next.orders = byKey(snapshot.orders, (o) => o.id);
      if (snapshot.connection && typeof snapshot.connection.status === "string" && SERVER_STATUSES.has(snapshot.connection.status)) {
        next.connection = snapshot.connection.status as ServerStatus;
        next.connectionDetail = snapshot.connection.detail ?? null;
      }
      if (snapshot.markets !== undefined) {
        next.markets = { ...state.markets, ...byKey(snapshot.markets, (m) => m.ticker) };
      }
      next.snapshots = state.snapshots + 1;
      if (snapshot.coalesced) next.coalescedSnapshots = state.coalescedSnapshots + 1;
      return next;
    }
    case "position_update": {
      if (!isRecord(data) || typeof data.ticker !== "string") return next;
      const position = data as unknown as Position;
      const before = state.positions[position.ticker];
      next.positions = { ...state.positions, [position.ticker]: position };
      if (positionChanged(before, position)) {
        next.changedAt = { ...state.changedAt, [position.ticker]: now };
      }
      return next;
    }
    case "position_removed": {
      const ticker = isRecord(data) ? data.ticker : null;
      if (typeof ticker !== "string" || !(ticker in state.positions)) return next;
      next.positions = without(state.positions, ticker);
      next.changedAt = without(state.changedAt, ticker);
      return next;
    }
    case "portfolio_update":
      // The server sends the whole live portfolio each time: replace, do not merge.
      if (isRecord(data)) next.portfolio = data as Portfolio;
      return next;
    case "order_update": {
      // The streamer relays Kalshi's user_orders message: its id is `order_id`.
      const id = isRecord(data) ? (data.id ?? data.order_id) : null;
      if (!isRecord(data) || typeof id !== "string") return next;
      next.orders = { ...state.orders, [id]: { ...state.orders[id], ...(data as Partial<Order>), id } as Order };
      return next;
    }
    case "fill":
      if (!isRecord(data) || typeof data.ticker !== "string") return next;
      next.fills = [data as unknown as Fill, ...state.fills].slice(0, MAX_FILLS);
      return next;
    case "market_update": {
      if (!isRecord(data) || typeof data.ticker !== "string") return next;
      const tick = data as MarketTick;
      next.markets = { ...state.markets, [tick.ticker]: { ...state.markets[tick.ticker], ...tick } };
      return next;
    }
    case "orderbook": {
      if (!isRecord(data) || typeof data.ticker !== "string") return next;
      const book = data as unknown as Orderbook;
      next.orderbooks = { ...state.orderbooks, [book.ticker]: book };
      return next;
    }
    case "backtest_progress": {
      if (!isRecord(data) || typeof data.run_id !== "string") return next;
      const progress = data as unknown as BacktestProgress;
      next.backtests = { ...state.backtests, [progress.run_id]: progress };
      return next;
    }
    case "connection_status": {
      const status = isRecord(data) ? data.status : data;
      if (typeof status === "string" && SERVER_STATUSES.has(status)) {
        next.connection = status as ServerStatus;
        const detail = isRecord(data) ? (data.detail ?? data.message) : null;
        next.connectionDetail = typeof detail === "string" ? detail : null;
      }
      return next;
    }
    case "error":
      next.lastError =
        isRecord(data) && typeof data.message === "string" ? data.message : "The stream reported an error.";
      return next;
    default:
      return next;
  }
}

/** Parse an SSE message's data (JSON); null when it is not JSON. */
export function parseData(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return null;
  }
}
