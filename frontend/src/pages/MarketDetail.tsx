import { useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";

import { useHistory, useMarket, useOrderbook, useSignedIn } from "../api/hooks";
import type { BookLevel, History, Interval, Orderbook } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { TimeChart, toTime, type ChartSeries } from "../components/TimeChart";
import { cents, contracts, dateTime, sideLabel } from "../lib/format";
import { useLive } from "../stream/store";
import { useWatchMarkets } from "../stream/StreamProvider";
import { useAccountLive } from "../positions/useAccountLive";
import { OrderTicket } from "./OrderTicket";

const INTERVALS: Interval[] = ["1m", "5m", "1h", "4h", "1d"];

/** Chart series from candles: numbers only for drawing; empty candles (no quote) skipped. */
export function historySeries(history: History, style: "candles" | "line"): ChartSeries[] {
  const priced = history.candles.filter((c) => c.close_dollars !== null && c.open_dollars !== null);
  const price: ChartSeries =
    style === "candles"
      ? {
          kind: "candles",
          name: "Price",
          points: priced.map((c) => ({
            time: toTime(c.t),
            open: Number(c.open_dollars),
            high: Number(c.high_dollars ?? c.open_dollars),
            low: Number(c.low_dollars ?? c.open_dollars),
            close: Number(c.close_dollars),
          })),
        }
      : { kind: "line", name: "Price", points: priced.map((c) => ({ time: toTime(c.t), value: Number(c.close_dollars) })) };
  const volume: ChartSeries = {
    kind: "volume",
    name: "Volume",
    points: history.candles.filter((c) => c.volume_fp !== null).map((c) => ({ time: toTime(c.t), value: Number(c.volume_fp) })),
  };
  return [price, volume];
}

function BookSide({ title, levels }: { title: string; levels: BookLevel[] }) {
  const sorted = [...levels].sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0)).slice(0, 10);
  return (
    <table className="book">
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Price</th>
          <th scope="col">Contracts</th>
        </tr>
      </thead>
      <tbody>
        {sorted.length === 0 ? (
          <tr>
            <td colSpan={2} className="muted">
              No bids
            </td>
          </tr>
        ) : (
          sorted.map(([price, count]) => (
            <tr key={price}>
              <td>{cents(price)}</td>
              <td>{contracts(count)}</td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

function OrderBookView({ ticker }: { ticker: string }) {
  const rest = useOrderbook(ticker);
  const live = useLive((s) => s.orderbooks[ticker]);
  const book: Orderbook | undefined = live ?? rest.data;
  return (
    <section aria-labelledby="book-title" className="card">
      <h2 id="book-title">
        Order book {live ? <span className="badge">live</span> : null}
      </h2>
      {rest.isError && !live ? <ErrorMessage error={rest.error} what="Order book" /> : null}
      {!book && rest.isPending ? <Loading what="the order book" /> : null}
      {book ? (
        <div className="book-sides">
          <BookSide title="YES bids" levels={book.orderbook_fp.yes_dollars ?? []} />
          <BookSide title="NO bids" levels={book.orderbook_fp.no_dollars ?? []} />
        </div>
      ) : null}
    </section>
  );
}

export default function MarketDetail() {
  const { ticker = "" } = useParams();
  const [interval, setInterval] = useState<Interval>("1h");
  const [style, setStyle] = useState<"candles" | "line">("line");
  const market = useMarket(ticker);
  const history = useHistory(ticker, interval);
  useWatchMarkets(useMemo(() => [ticker], [ticker]));
  const live = useLive((s) => s.markets[ticker]);
  const signedIn = useSignedIn();
  const { positions } = useAccountLive();
  const position = positions.find((p) => p.ticker === ticker);
  const series = useMemo(() => (history.data ? historySeries(history.data, style) : []), [history.data, style]);
  const m = market.data ? { ...market.data, ...(live ?? {}) } : undefined;

  return (
    <section className="page">
      <p>
        <Link to="/markets">← Markets</Link>
      </p>
      {market.isError ? <ErrorMessage error={market.error} what={`Market ${ticker}`} /> : null}
      {market.isPending ? <Loading what="the market" /> : null}
      {m ? (
        <>
          <h1>{m.title || m.ticker}</h1>
          <p className="muted">
            {m.ticker} · {m.status} · closes {dateTime(m.close_time)}
          </p>
          <div className="tiles">
            <div className="tile"><div className="tile-label">Yes bid</div><div className="tile-value">{cents(m.yes_bid_dollars)}</div></div>
            <div className="tile"><div className="tile-label">Yes ask</div><div className="tile-value">{cents(m.yes_ask_dollars)}</div></div>
            <div className="tile"><div className="tile-label">Last</div><div className="tile-value">{cents(m.last_price_dollars)}</div></div>
            <div className="tile"><div className="tile-label">Volume</div><div className="tile-value">{contracts(m.volume_fp)}</div></div>
            {position ? (
              <div className="tile"><div className="tile-label">You hold {sideLabel(position.side)}</div><div className="tile-value"><Pnl dollars={position.unrealized_pnl} /></div></div>
            ) : null}
          </div>
        </>
      ) : null}
      <section aria-labelledby="chart-title" className="card">
        <div className="card-head">
          <h2 id="chart-title">Price history</h2>
          <div role="group" aria-label="Interval" className="segmented">
            {INTERVALS.map((i) => (
              <button key={i} type="button" aria-pressed={interval === i} onClick={() => setInterval(i)}>
                {i}
              </button>
            ))}
          </div>
          <div role="group" aria-label="Chart style" className="segmented">
            <button type="button" aria-pressed={style === "line"} onClick={() => setStyle("line")}>Line</button>
            <button type="button" aria-pressed={style === "candles"} onClick={() => setStyle("candles")}>Candles</button>
          </div>
        </div>
        {history.isError ? <ErrorMessage error={history.error} what="History" /> : null}
        {history.isPending ? <Loading what="history" /> : null}
        {history.data ? <TimeChart series={series} label={`${ticker} price and volume, ${interval} intervals`} /> : null}
      </section>
      <div className="two-columns">
        <OrderBookView ticker={ticker} />
        {signedIn ? (
          <OrderTicket ticker={ticker} />
        ) : (
          <section className="card">
            <h2>Trade</h2>
            <p className="muted">
              <Link to="/signin">Sign in</Link> to trade this market.
            </p>
          </section>
        )}
      </div>
    </section>
  );
}
