import { useDeferredValue, useMemo, useState } from "react";
import { Link } from "react-router-dom";

import { useMarkets, type MarketQuery } from "../api/hooks";
import type { Market } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { cents, contracts, dateTime, sideLabel } from "../lib/format";
import { useAccountLive } from "../positions/useAccountLive";
import { useLive } from "../stream/store";
import { useWatchMarkets } from "../stream/StreamProvider";

const SORTS: { key: MarketQuery["sort"]; label: string }[] = [
  { key: "volume", label: "Volume" },
  { key: "change_24h", label: "24h change" },
  { key: "close_time", label: "Closes" },
];

/** A market row with the stream's latest prices laid over the polled ones. */
function withLive(market: Market, live: Record<string, unknown> | undefined): Market {
  return live ? ({ ...market, ...live } as Market) : market;
}

export default function Markets() {
  const [q, setQ] = useState("");
  const [status, setStatus] = useState("open");
  const [sort, setSort] = useState<MarketQuery["sort"]>("volume");
  const [order, setOrder] = useState<MarketQuery["order"]>("desc");
  const deferredQ = useDeferredValue(q);
  const query = useMarkets({ q: deferredQ, status, sort, order });
  const markets = useMemo(() => query.data?.pages.flatMap((p) => p.markets) ?? [], [query.data]);
  const tickers = useMemo(() => markets.slice(0, 100).map((m) => m.ticker), [markets]);
  useWatchMarkets(tickers);
  const live = useLive((s) => s.markets);
  const { positions } = useAccountLive();
  const held = useMemo(() => new Map(positions.map((p) => [p.ticker, p])), [positions]);

  function sortBy(key: MarketQuery["sort"]) {
    if (key === sort) setOrder(order === "asc" ? "desc" : "asc");
    else {
      setSort(key);
      setOrder(key === "close_time" ? "asc" : "desc");
    }
  }
  const ariaSort = (key: MarketQuery["sort"]) => (sort === key ? (order === "asc" ? "ascending" : "descending") : "none");

  return (
    <section className="page">
      <h1>Markets</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Ticker or title" />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="open">Open</option>
            <option value="closed">Closed</option>
            <option value="settled">Settled</option>
            <option value="">Any</option>
          </select>
        </label>
      </form>
      {query.isError ? <ErrorMessage error={query.error} what="Markets" /> : null}
      {query.isPending ? <Loading what="markets" /> : null}
      {query.isSuccess && markets.length === 0 ? <p className="empty">No market matches.</p> : null}
      {markets.length > 0 ? (
        <div className="table-wrap">
          <table className="markets-table">
            <caption className="sr-only">Markets, sorted by {sort.replace("_", " ")} ({order})</caption>
            <thead>
              <tr>
                <th scope="col">Market</th>
                <th scope="col">Yes bid</th>
                <th scope="col">Yes ask</th>
                <th scope="col">Last</th>
                {SORTS.map((s) => (
                  <th scope="col" key={s.key} aria-sort={ariaSort(s.key)}>
                    <button type="button" className="sort" onClick={() => sortBy(s.key)}>
                      {s.label}
                      <span aria-hidden="true">{sort === s.key ? (order === "asc" ? " ▲" : " ▼") : ""}</span>
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {markets.map((raw) => {
                const m = withLive(raw, live[raw.ticker]);
                const position = held.get(m.ticker);
                return (
                  <tr key={m.ticker} data-ticker={m.ticker}>
                    <td>
                      <Link to={`/markets/${encodeURIComponent(m.ticker)}`}>{m.title || m.ticker}</Link>
                      <div className="muted small">{m.ticker}</div>
                      {position ? (
                        <span className="badge" title="You hold this market">
                          You hold {sideLabel(position.side)} · <Pnl dollars={position.unrealized_pnl} />
                        </span>
                      ) : null}
                    </td>
                    <td>{cents(m.yes_bid_dollars)}</td>
                    <td>{cents(m.yes_ask_dollars)}</td>
                    <td>{cents(m.last_price_dollars)}</td>
                    <td>{contracts(m.volume_fp)}</td>
                    <td>
                      <Pnl dollars={m.change_24h_dollars} />
                    </td>
                    <td>{dateTime(m.close_time)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {query.hasNextPage ? (
        <button type="button" onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
          {query.isFetchingNextPage ? "Loading…" : "Load more"}
        </button>
      ) : null}
    </section>
  );
}
