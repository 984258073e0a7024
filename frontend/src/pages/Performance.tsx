import { useMemo } from "react";
import { Link } from "react-router-dom";

import { usePerformance, useSignedIn } from "../api/hooks";
import type { PerformanceGroup } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { Tile } from "../components/Tile";
import { TimeChart, toTime, type ChartSeries } from "../components/TimeChart";
import { money, percent } from "../lib/format";

function Groups({ title, groups }: { title: string; groups: PerformanceGroup[] }) {
  return (
    <section className="card">
      <h2>{title}</h2>
      {groups.length === 0 ? (
        <p className="empty">Nothing realized yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{title.replace("By ", "")}</th>
              <th scope="col">Realized P&amp;L</th>
              <th scope="col">Win rate</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g.key ?? g.series ?? g.category}>
                <td>{g.key ?? g.series ?? g.category ?? "–"}</td>
                <td><Pnl dollars={g.realized_pnl_dollars} /></td>
                <td>{percent(g.win_rate ?? null, false)}</td>
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
        name: "Cumulative realized P&L",
        points: curve
          .filter((p) => (p.ts ?? p.date) && p.cumulative_realized_pnl_dollars !== undefined)
          .map((p) => ({ time: toTime(p.ts ?? `${p.date}T00:00:00Z`), value: Number(p.cumulative_realized_pnl_dollars) })),
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
  return (
    <section className="page">
      <h1>Performance</h1>
      {perf.isError ? <ErrorMessage error={perf.error} what="Performance" /> : null}
      {perf.isPending ? <Loading what="performance" /> : null}
      {perf.data ? (
        <>
          <div className="tiles">
            <Tile label="Realized P&L"><Pnl dollars={perf.data.realized_pnl_dollars} /></Tile>
            <Tile label="Win rate">{percent(perf.data.win_rate ?? null, false)}</Tile>
            <Tile label="Max drawdown">{money(perf.data.max_drawdown_dollars)}</Tile>
          </div>
          <section className="card">
            <h2>Realized P&amp;L over time</h2>
            <TimeChart series={series} label="Cumulative realized P&L" />
          </section>
          <div className="two-columns">
            <Groups title="By series" groups={perf.data.by_series ?? []} />
            <Groups title="By category" groups={perf.data.by_category ?? []} />
          </div>
        </>
      ) : null}
    </section>
  );
}
