import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";

import { json, mockFetch, renderWithApp } from "../test/render";
import Backtests from "./Backtests";

afterEach(() => vi.unstubAllGlobals());

const strategies = {
  strategies: [
    {
      name: "momentum",
      version: "1",
      description: "Buys moves.",
      params: {
        properties: {
          lookback: { type: "integer", minimum: 1, maximum: 500, default: 10, description: "Snapshots over which the move is measured." },
          stop_loss: { type: ["number", "null"], minimum: 0.0001, maximum: 1, default: null },
        },
      },
    },
  ],
};

describe("Backtests page", () => {
  it("builds the form from the strategy's schema, submits and opens the run", async () => {
    const calls = mockFetch((url, init) => {
      if (url.endsWith("/backtests/strategies")) return json(200, strategies);
      if (url.startsWith("/api/v1/backtests?")) return json(200, { items: [], next_cursor: null });
      if (url === "/api/v1/backtests" && init?.method === "POST") return json(202, { id: "run-1", status: "queued" });
      return undefined;
    });
    renderWithApp(
      <Routes>
        <Route path="/backtests" element={<Backtests />} />
        <Route path="/backtests/:id" element={<p>run page</p>} />
      </Routes>,
      "/backtests",
    );
    const lookback = await screen.findByLabelText("lookback");
    expect(lookback).toHaveValue(10);
    expect(lookback).toHaveAccessibleDescription("Snapshots over which the move is measured.");
    expect(screen.getByLabelText("stop loss")).toHaveValue(null);
    expect(screen.getByText("No runs yet.")).toBeInTheDocument();
    const user = userEvent.setup();
    await user.clear(lookback);
    await user.type(lookback, "600");
    await user.click(screen.getByRole("button", { name: "Run backtest" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("lookback must be at most 500.");
    await user.clear(lookback);
    await user.type(lookback, "5");
    await user.type(screen.getByLabelText("Tickers"), "KX-A");
    await user.click(screen.getByRole("button", { name: "Run backtest" }));
    expect(await screen.findByText("run page")).toBeInTheDocument();
    const body = JSON.parse(String(calls.find((c) => c.init?.method === "POST")?.init?.body));
    expect(body.params).toEqual({ lookback: 5, stop_loss: null });
    expect(body.markets).toEqual({ tickers: ["KX-A"] });
    expect(body.start).toMatch(/Z$/);
  });
});
