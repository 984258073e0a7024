import { useMemo } from "react";
import { Link } from "react-router-dom";

import { usePerformance, useSignedIn } from "../api/hooks";
import type { PerformanceGroup } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { Tile } from "../components/Tile";
import { TimeChart, toTime, type ChartSeries } from "../components/TimeChart";
import { money, signedPercent } from "../lib/format";

function unsignedPercent(text: string | null | undefined): string {
  return signedPercent(text).replace(/^\+/, "");
}

function Groups({ title, what, groups }: { title: string; what: string; groups: PerformanceGroup[] }) {
  return (
    <section className="card">
      <h2>{title}</h2>
      {groups.length === 0 ? (
        <p className="empty">Nothing realized yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{what}</th>
              <th scope="col">Net P&amp;L</th>
              <th scope="col">Trades</th>
              <th scope="col">Win rate</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g.name}>
                <td>{g.name || "(none)"}</td>
                <td><Pnl dollars={g.net_pnl} /></td>
                <td>{g.closed_trades}</td>
                <td>{unsignedPercent(g.win_rate_pct)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export default function Performance() {
  const signedIn = useSignedIn();
  const perf = usePerformance(signedIn);
  const series = useMemo((): ChartSeries[] => {
    const curve = perf.data?.curve ?? [];
    return [
      {
        kind: "line",
        name: "Cumulative net P&L",
        points: curve.map((p) => ({ time: toTime(`${p.trading_day}T00:00:00Z`), value: Number(p.cumulative_net_pnl) })),
      },
    ];
  }, [perf.data]);
  if (!signedIn) {
    return (
      <section className="page">
        <h1>Performance</h1>
        <p><Link to="/signin">Sign in</Link> to see your realized P&amp;L over time.</p>
      </section>
    );
  }
  const p = perf.data;
  return (
    <section className="page">
      <h1>Performance</h1>
      {perf.isError ? <ErrorMessage error={perf.error} what="Performance" /> : null}
      {perf.isPending ? <Loading what="performance" /> : null}
      {p ? (
        <>
          <div className="tiles">
            <Tile label="Realized P&L"><Pnl dollars={p.realized_pnl} /></Tile>
            <Tile label="Fees">{money(p.fees)}</Tile>
            <Tile label="Net P&L"><Pnl dollars={p.net_pnl} /></Tile>
            <Tile label="Win rate">{unsignedPercent(p.win_rate_pct)} of {p.closed_trades}</Tile>
            <Tile label="Max drawdown">{money(p.max_drawdown)}</Tile>
          </div>
          <section className="card">
            <h2>Net P&amp;L over time (by trading day)</h2>
            <TimeChart series={series} label="Cumulative net realized P&L" />
          </section>
          <div className="two-columns">
            <Groups title="By series" what="Series" groups={p.by_series} />
            <Groups title="By category" what="Category" groups={p.by_category} />
          </div>
        </>
      ) : null}
    </section>
  );
}
