/**
 * What the API sends. Markets and backtests follow `openapi/markets.json` and
 * `openapi/backtests.json`; the account, orders and stream shapes follow their documented
 * contracts and are read defensively (optional fields), since those APIs are new.
 * Money and counts are fixed-point strings throughout: never parse them into numbers.
 */

export type Dollars = string;
export type Count = string;

export interface Market {
  ticker: string;
  event_ticker: string;
  series_ticker?: string | null;
  title?: string;
  event_title?: string | null;
  yes_sub_title?: string | null;
  category?: string | null;
  status: string;
  close_time?: string | null;
  result?: string | null;
  as_of?: string | null;
  yes_bid_dollars?: Dollars | null;
  yes_ask_dollars?: Dollars | null;
  no_bid_dollars?: Dollars | null;
  no_ask_dollars?: Dollars | null;
  last_price_dollars?: Dollars | null;
  previous_price_dollars?: Dollars | null;
  change_24h_dollars?: Dollars | null;
  volume_fp?: Count | null;
  volume_24h_fp?: Count | null;
  open_interest_fp?: Count | null;
}

export interface MarketList {
  markets: Market[];
  next_cursor: string | null;
}

export interface Candle {
  t: string;
  open_dollars: Dollars | null;
  high_dollars: Dollars | null;
  low_dollars: Dollars | null;
  close_dollars: Dollars | null;
  volume_fp: Count | null;
  samples: number;
}

export type Interval = "1m" | "5m" | "1h" | "4h" | "1d";

export interface History {
  ticker: string;
  interval: Interval;
  interval_seconds: number;
  start: string;
  end: string;
  candles: Candle[];
}

export type BookLevel = [Dollars, Count];

export interface Orderbook {
  ticker: string;
  as_of?: string;
  orderbook_fp: { yes_dollars?: BookLevel[]; no_dollars?: BookLevel[] };
  best_yes_bid_dollars?: Dollars | null;
  best_yes_ask_dollars?: Dollars | null;
}

export interface JsonSchemaProperty {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  enum?: unknown[];
  description?: string;
}

export interface Strategy {
  name: string;
  version: string;
  description: string;
  params: { properties?: Record<string, JsonSchemaProperty>; required?: string[] };
}

export type RunStatus = "queued" | "running" | "completed" | "failed";

export interface RunSummary {
  id: string;
  status: RunStatus;
  strategy: string;
  strategy_version?: string;
  params?: Record<string, unknown>;
  grid?: Record<string, unknown[]> | null;
  markets?: Record<string, unknown>;
  start: string;
  end: string;
  progress?: number;
  created_at: string;
  finished_at?: string | null;
  total_pnl_dollars?: Dollars | null;
}

export interface RunMetrics {
  total_pnl_dollars: Dollars;
  gross_pnl_dollars?: Dollars;
  fees_paid_dollars: Dollars;
  capital_dollars?: Dollars;
  return_on_capital?: number | null;
  sharpe?: number | null;
  sortino?: number | null;
  max_drawdown_dollars: Dollars;
  max_drawdown_duration_seconds?: number;
  win_rate?: number | null;
  profit_factor?: number | null;
  trades: number;
  exposure?: number;
  ratios_withheld?: string | null;
}

export interface EquityPoint {
  ts: string;
  pnl_dollars: Dollars;
  equity_dollars: Dollars;
}

export interface BacktestTrade {
  ticker: string;
  side: "yes" | "no";
  count_fp: Count;
  entry_ts: string;
  entry_price_dollars: Dollars;
  exit_ts: string;
  exit_price_dollars: Dollars;
  fees_dollars: Dollars;
  pnl_dollars: Dollars;
  entry_reason?: string;
  exit_reason?: string;
}

export interface Run extends RunSummary {
  stage?: string;
  metrics?: RunMetrics | null;
  equity_curve?: EquityPoint[] | null;
  error?: string | null;
  variants?: Record<string, unknown>[];
  trades?: BacktestTrade[];
  trades_next_cursor?: string | null;
}

export interface BacktestRequest {
  strategy: string;
  params?: Record<string, unknown>;
  markets?: { tickers?: string[]; series?: string | string[]; event?: string };
  start: string;
  end: string;
  grid?: Record<string, unknown[]>;
}

export interface AccountUser {
  id: string;
  /** The Kalshi key id, masked by the server (first and last four characters). */
  key_id: string;
  kalshi_environment: string;
  signed_in_at?: string | null;
  credential_status?: "valid" | "invalid" | "missing";
  via?: "session" | "token";
}

export interface SignInResponse {
  user: AccountUser;
  csrf_token: string;
}

/** How fresh an account read is: the server caches Kalshi's answers for a few seconds. */
export interface Freshness {
  last_updated?: string | null;
  stale?: boolean;
}

/** `GET /account/portfolio`; the stream's `portfolio_update` carries the live subset. */
export interface Portfolio extends Freshness {
  cash?: Dollars | null;
  positions_value?: Dollars;
  total_value?: Dollars | null;
  unrealized_pnl?: Dollars;
  realized_pnl?: Dollars;
  fees_paid?: Dollars;
  position_count?: number;
  baseline_value?: Dollars | null;
  net_transfers_since_baseline?: Dollars | null;
  today_pnl?: Dollars | null;
  /** Already in percent ("1.25" is 1.25 %). */
  today_pnl_pct?: string | null;
}

export interface Position {
  ticker: string;
  market_title?: string | null;
  /** Null for a flat position (closed, market not settled yet: realized P&L only). */
  side: "yes" | "no" | null;
  contracts?: Count;
  average_entry_price?: Dollars | null;
  cost_basis?: Dollars;
  best_bid?: Dollars | null;
  best_ask?: Dollars | null;
  mark?: Dollars | null;
  mark_source?: string;
  market_value?: Dollars | null;
  unrealized_pnl?: Dollars | null;
  /** Already in percent. */
  unrealized_pnl_pct?: string | null;
  realized_pnl?: Dollars | null;
  fees_paid?: Dollars | null;
  market_close_time?: string | null;
  updated_at?: string;
}

export interface Positions extends Freshness {
  positions: Position[];
}

export type OrderSide = "yes" | "no";
export type OrderAction = "buy" | "sell";
export type TimeInForce = "good_till_canceled" | "immediate_or_cancel" | "fill_or_kill";

/** An order in the person's terms (side, action, the side's price), as the orders API shows it. */
export interface Order {
  id: string;
  client_order_id?: string | null;
  ticker: string;
  side: OrderSide;
  action: OrderAction;
  status: "resting" | "canceled" | "executed" | string;
  price?: Dollars | null;
  count?: Count;
  filled_count?: Count;
  remaining_count?: Count;
  fees?: Dollars;
  time_in_force?: TimeInForce | string;
  created_time?: string | null;
}

export interface OrderList {
  orders: Order[];
  cursor?: string | null;
}

export interface OrderRequest {
  ticker: string;
  side: OrderSide;
  action: OrderAction;
  count: Count;
  price: Dollars;
  time_in_force: TimeInForce;
}

export interface FeeCharge {
  trade_fee: Dollars;
  rounding_fee: Dollars;
  rebate: Dollars;
  total_fee: Dollars;
  balance_change: Dollars;
}

/** `POST /orders/preview`: cost and fees, as a taker (it crosses) and as a maker (it rests). */
export interface OrderPreview {
  cost: Dollars;
  proceeds: Dollars;
  max_cost: Dollars;
  taker: FeeCharge;
  maker: FeeCharge;
}

export interface Fill {
  fill_id?: string;
  order_id?: string;
  ticker: string;
  side: OrderSide;
  action: OrderAction;
  contracts?: Count;
  count_fp?: Count;
  yes_price?: Dollars | null;
  no_price?: Dollars | null;
  fee?: Dollars;
  is_taker?: boolean;
  created_at?: string;
}

export interface FillList extends Freshness {
  fills: Fill[];
  cursor?: string | null;
}

export interface PerformanceDay {
  trading_day: string;
  realized_pnl: Dollars;
  fees: Dollars;
  net_pnl: Dollars;
  cumulative_net_pnl: Dollars;
}

export interface PerformanceGroup {
  name: string;
  realized_pnl: Dollars;
  fees?: Dollars;
  net_pnl: Dollars;
  closed_trades: number;
  wins: number;
  win_rate_pct: string | null;
}

export interface Performance extends Freshness {
  realized_pnl: Dollars;
  fees: Dollars;
  net_pnl: Dollars;
  closed_trades: number;
  wins: number;
  win_rate_pct: string | null;
  max_drawdown: Dollars;
  curve: PerformanceDay[];
  by_series: PerformanceGroup[];
  by_category: PerformanceGroup[];
}

/** Alerts on today's P&L (the settings API holds them for the portfolio as a whole). */
export interface PnlAlerts {
  enabled: boolean;
  /** Positive amounts: alert when today's P&L falls to minus this, or rises to this. */
  loss_dollars: Dollars | null;
  gain_dollars: Dollars | null;
  loss_percent: string | null;
  gain_percent: string | null;
  /** Per position (ticker -> dollars): alert when its unrealized P&L reaches a loss or a gain of this. */
  positions?: Record<string, Dollars>;
}

export interface Settings {
  pnl_alerts: PnlAlerts;
  /** Trading is opt-in: every order write is refused (403 trading_disabled) until true. */
  trading_enabled?: boolean;
  max_order_contracts?: Count;
  max_order_dollars?: Dollars;
}
