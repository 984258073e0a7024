import { act, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Route, Routes } from "react-router-dom";

import { useLive } from "../stream/store";
import { json, mockFetch, renderWithApp } from "../test/render";
import BacktestRun from "./BacktestRun";

// jsdom has no canvas: the chart is drawn in the browser tests; here it lists its series.
vi.mock("../components/TimeChart", () => ({
  toTime: (iso: string) => Math.floor(Date.parse(iso) / 1000),
  TimeChart: ({ label, series }: { label: string; series: { points: unknown[] }[] }) => (
    <figure aria-label={label}>{series.map((s) => s.points.length).join(",")} points</figure>
  ),
}));

const base = { id: "11111111-2222-3333-4444-555555555555", strategy: "momentum", start: "2026-01-01T00:00:00Z", end: "2026-01-08T00:00:00Z", created_at: "2026-01-08T00:00:00Z" };

beforeEach(() => useLive.getState().reset());
afterEach(() => vi.unstubAllGlobals());

function page() {
  return renderWithApp(
    <Routes>
      <Route path="/backtests/:id" element={<BacktestRun />} />
    </Routes>,
    `/backtests/${base.id}`,
  );
}

describe("BacktestRun", () => {
  it("shows live progress from the stream while running", async () => {
    mockFetch(() => json(200, { ...base, status: "running", progress: 0.1, stage: "loading" }));
    page();
    const bar = await screen.findByRole("progressbar", { name: "Backtest progress" });
    expect(bar).toHaveAttribute("aria-valuenow", "10");
    act(() => useLive.getState().receive({ type: "backtest_progress", id: "9", data: { run_id: base.id, progress: 0.62, stage: "simulating" } }));
    expect(bar).toHaveAttribute("aria-valuenow", "62");
    expect(screen.getByText("simulating")).toBeInTheDocument();
  });

  it("shows metric tiles and the trade table once completed", async () => {
    mockFetch(() =>
      json(200, {
        ...base,
        status: "completed",
        progress: 1,
        metrics: { total_pnl_dollars: "12.3400", fees_paid_dollars: "1.0000", max_drawdown_dollars: "3.2000", trades: 2, sharpe: 1.234, win_rate: 0.5 },
        equity_curve: [
          { ts: "2026-01-01T00:00:00Z", pnl_dollars: "0", equity_dollars: "100.00" },
          { ts: "2026-01-02T00:00:00Z", pnl_dollars: "12.34", equity_dollars: "112.34" },
        ],
        trades: [
          { ticker: "KX-A", side: "yes", count_fp: "10.00", entry_ts: "2026-01-01T01:00:00Z", entry_price_dollars: "0.4000", exit_ts: "2026-01-02T01:00:00Z", exit_price_dollars: "0.5300", fees_dollars: "0.1700", pnl_dollars: "1.1300" },
        ],
      }),
    );
    page();
    expect(await screen.findByText("+$12.34")).toBeInTheDocument();
    expect(screen.getByText("1.23")).toBeInTheDocument();
    expect(screen.getByText("50.00%")).toBeInTheDocument();
    expect(screen.getByTestId("trades")).toHaveTextContent("KX-A");
    expect(screen.getByTestId("trades")).toHaveTextContent("+$1.13");
    expect(screen.getByRole("figure", { name: "Equity curve" })).toHaveTextContent("2 points");
    expect(screen.getByRole("figure", { name: "Drawdown" })).toHaveTextContent("2 points");
  });

  it("says why a run failed", async () => {
    mockFetch(() => json(200, { ...base, status: "failed", error: "no snapshots in the window" }));
    page();
    expect(await screen.findByRole("alert")).toHaveTextContent("The run failed: no snapshots in the window");
  });
});
