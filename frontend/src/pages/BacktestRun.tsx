import { useMemo } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { useRun } from "../api/hooks";
import type { Run } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { ProgressBar } from "../components/ProgressBar";
import { Tile } from "../components/Tile";
import { TimeChart, toTime, type ChartSeries } from "../components/TimeChart";
import { drawdown } from "../lib/drawdown";
import { cents, contracts, dateTime, money, percent } from "../lib/format";
import { useLive } from "../stream/store";

function ratio(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : value.toFixed(2);
}

function seconds(value: number | undefined): string {
  if (value === undefined) return "–";
  if (value < 3600) return `${Math.round(value / 60)} min`;
  if (value < 86_400) return `${(value / 3600).toFixed(1)} h`;
  return `${(value / 86_400).toFixed(1)} d`;
}

export function Metrics({ run }: { run: Run }) {
  const m = run.metrics;
  if (!m) return null;
  return (
    <div className="tiles" data-testid="metrics">
      <Tile label="Total P&L"><Pnl dollars={m.total_pnl_dollars} /></Tile>
      <Tile label="Fees">{money(m.fees_paid_dollars)}</Tile>
      <Tile label="Return on capital">{percent(m.return_on_capital ?? null)}</Tile>
      <Tile label="Sharpe">{ratio(m.sharpe)}</Tile>
      <Tile label="Sortino">{ratio(m.sortino)}</Tile>
      <Tile label="Max drawdown">{money(m.max_drawdown_dollars)}</Tile>
      <Tile label="Drawdown length">{seconds(m.max_drawdown_duration_seconds)}</Tile>
      <Tile label="Win rate">{percent(m.win_rate ?? null, false)}</Tile>
      <Tile label="Profit factor">{ratio(m.profit_factor)}</Tile>
      <Tile label="Trades">{m.trades}</Tile>
    </div>
  );
}

export function RunCharts({ run, height = 240 }: { run: Run; height?: number }) {
  const [equity, dd] = useMemo((): [ChartSeries[], ChartSeries[]] => {
    const curve = run.equity_curve ?? [];
    return [
      [{ kind: "line", name: "Equity", points: curve.map((p) => ({ time: toTime(p.ts), value: Number(p.equity_dollars) })) }],
      [{ kind: "area", name: "Drawdown", points: drawdown(curve).map((p) => ({ time: toTime(p.ts), value: Number(p.drawdown_dollars) })) }],
    ];
  }, [run.equity_curve]);
  return (
    <>
      <section className="card">
        <h2>Equity curve</h2>
        <TimeChart series={equity} label="Equity curve" height={height} />
      </section>
      <section className="card">
        <h2>Drawdown</h2>
        <TimeChart series={dd} label="Drawdown" height={Math.round(height * 0.6)} />
      </section>
    </>
  );
}

function Trades({ run }: { run: Run }) {
  const trades = run.trades ?? [];
  if (trades.length === 0) return <p className="empty">This run made no trades.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="trades">
        <caption className="sr-only">Trades</caption>
        <thead>
          <tr>
            <th scope="col">Market</th>
            <th scope="col">Side</th>
            <th scope="col">Contracts</th>
            <th scope="col">Entry</th>
            <th scope="col">Exit</th>
            <th scope="col">Fees</th>
            <th scope="col">P&amp;L</th>
          </tr>
        </thead>
        <tbody>
          {trades.map((t, i) => (
            <tr key={`${t.ticker}-${t.entry_ts}-${i}`}>
              <td>{t.ticker}</td>
              <td>{t.side.toUpperCase()}</td>
              <td>{contracts(t.count_fp)}</td>
              <td>{cents(t.entry_price_dollars)} · {dateTime(t.entry_ts)}</td>
              <td>{cents(t.exit_price_dollars)} · {dateTime(t.exit_ts)}</td>
              <td>{money(t.fees_dollars, 4)}</td>
              <td><Pnl dollars={t.pnl_dollars} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {run.trades_next_cursor ? <p className="muted small">Showing the first {trades.length} trades.</p> : null}
    </div>
  );
}

export function useRunWithProgress(id: string) {
  const query = useRun(id);
  const live = useLive((s) => s.backtests[id]);
  const progress = Math.max(query.data?.progress ?? 0, live?.progress ?? 0);
  return { query, progress, liveStage: live?.stage };
}

export default function BacktestRun() {
  const { id = "" } = useParams();
  const { query, progress, liveStage } = useRunWithProgress(id);
  const run = query.data;
  return (
    <section className="page">
      <p><Link to="/backtests">← Backtests</Link></p>
      {query.isError ? <ErrorMessage error={query.error} what="Run" /> : null}
      {query.isPending ? <Loading what="the run" /> : null}
      {run ? (
        <>
          <h1>
            {run.strategy} <span className="muted">· {run.id.slice(0, 8)}</span>
          </h1>
          <p className="muted">
            {dateTime(run.start)} → {dateTime(run.end)} · <span data-testid="run-status">{run.status}</span>
          </p>
          {run.status === "queued" || run.status === "running" ? (
            <div className="card">
              <h2>Running</h2>
              <ProgressBar value={progress} label="Backtest progress" />
              <p className="muted">{liveStage ?? run.stage ?? run.status}</p>
            </div>
          ) : null}
          {run.status === "failed" ? <p role="alert" className="error-message">The run failed: {run.error ?? "no reason given"}</p> : null}
          {run.status === "completed" ? (
            <>
              <h2 className="sr-only">Results</h2>
              <Metrics run={run} />
              <RunCharts run={run} />
              <section className="card">
                <h2>Trades</h2>
                <Trades run={run} />
              </section>
            </>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

export function CompareRuns() {
  const [params] = useSearchParams();
  const ids = [params.get("a") ?? "", params.get("b") ?? ""];
  return (
    <section className="page">
      <p><Link to="/backtests">← Backtests</Link></p>
      <h1>Compare runs</h1>
      <div className="two-columns">
        {ids.map((id) => (
          <CompareColumn key={id} id={id} />
        ))}
      </div>
    </section>
  );
}

function CompareColumn({ id }: { id: string }) {
  const { query, progress } = useRunWithProgress(id);
  const run = query.data;
  return (
    <div className="compare-column">
      {query.isError ? <ErrorMessage error={query.error} what={`Run ${id.slice(0, 8)}`} /> : null}
      {query.isPending ? <Loading what="the run" /> : null}
      {run ? (
        <>
          <h2><Link to={`/backtests/${run.id}`}>{run.strategy} · {run.id.slice(0, 8)}</Link></h2>
          <dl className="details small params">
            {Object.entries(run.params ?? {}).map(([name, value]) => (
              <div key={name} className="param">
                <dt>{name.replace(/_/g, " ")}</dt>
                <dd>{value === null ? "none" : String(value)}</dd>
              </div>
            ))}
          </dl>
          {run.status === "completed" ? (
            <>
              <Metrics run={run} />
              <RunCharts run={run} height={180} />
            </>
          ) : (
            <ProgressBar value={progress} label={`Progress of run ${run.id.slice(0, 8)}`} />
          )}
        </>
      ) : null}
    </div>
  );
}
