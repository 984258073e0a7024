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
  id?: string;
  key_id?: string;
  key_id_masked?: string;
  kalshi_environment?: string;
  [key: string]: unknown;
}

export interface SignInResponse {
  user: AccountUser;
  csrf_token: string;
}

export interface Portfolio {
  total_value_dollars?: Dollars;
  cash_dollars?: Dollars;
  portfolio_value_dollars?: Dollars;
  todays_pnl_dollars?: Dollars | null;
  todays_pnl_pct?: string | null;
  unrealized_pnl_dollars?: Dollars;
  realized_pnl_dollars?: Dollars;
  fees_paid_dollars?: Dollars;
  position_count?: number;
  last_updated?: string;
  stale?: boolean;
}

export interface Position {
  ticker: string;
  title?: string | null;
  side: "yes" | "no";
  contracts_fp?: Count;
  average_price_dollars?: Dollars | null;
  mark_dollars?: Dollars | null;
  market_value_dollars?: Dollars | null;
  unrealized_pnl_dollars?: Dollars | null;
  unrealized_pnl_pct?: string | null;
  realized_pnl_dollars?: Dollars | null;
  best_bid_dollars?: Dollars | null;
  best_ask_dollars?: Dollars | null;
  close_time?: string | null;
}

export interface Positions {
  positions: Position[];
  last_updated?: string;
  stale?: boolean;
}

export type OrderSide = "yes" | "no";
export type OrderAction = "buy" | "sell";
export type TimeInForce = "good_till_canceled" | "immediate_or_cancel" | "fill_or_kill";

export interface Order {
  order_id: string;
  ticker: string;
  side: OrderSide;
  action: OrderAction;
  status: string;
  price_dollars?: Dollars;
  count_fp?: Count;
  remaining_count_fp?: Count;
  fill_count_fp?: Count;
  time_in_force?: TimeInForce | string;
  created_time?: string;
  last_update_time?: string;
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

export interface OrderPreview {
  cost_dollars?: Dollars;
  fee_dollars?: Dollars;
  total_dollars?: Dollars;
  max_payout_dollars?: Dollars;
  warnings?: string[];
  [key: string]: unknown;
}

export interface Fill {
  fill_id?: string;
  trade_id?: string;
  order_id?: string;
  ticker: string;
  side: OrderSide;
  action: OrderAction;
  count_fp: Count;
  yes_price_dollars?: Dollars;
  no_price_dollars?: Dollars;
  price_dollars?: Dollars;
  fee_dollars?: Dollars;
  is_taker?: boolean;
  created_time?: string;
}

export interface FillList {
  fills: Fill[];
  cursor?: string | null;
}

export interface PerformancePoint {
  ts?: string;
  date?: string;
  cumulative_realized_pnl_dollars?: Dollars;
  realized_pnl_dollars?: Dollars;
}

export interface PerformanceGroup {
  key?: string;
  series?: string;
  category?: string;
  realized_pnl_dollars: Dollars;
  wins?: number;
  losses?: number;
  win_rate?: number | string | null;
}

export interface Performance {
  realized_pnl_dollars?: Dollars;
  win_rate?: number | string | null;
  max_drawdown_dollars?: Dollars;
  curve?: PerformancePoint[];
  by_series?: PerformanceGroup[];
  by_category?: PerformanceGroup[];
}

export interface PnlAlert {
  /** A position's ticker, or null for the whole portfolio. */
  ticker: string | null;
  /** Alert when P&L falls to or below this (e.g. "-25.00"). */
  below_dollars?: Dollars | null;
  /** Alert when P&L rises to or above this. */
  above_dollars?: Dollars | null;
}

export interface Settings {
  trading_enabled?: boolean;
  pnl_alerts?: PnlAlert[];
  [key: string]: unknown;
}
