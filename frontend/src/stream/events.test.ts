// @vitest-environment node
import { describe, expect, it } from "vitest";

import type { Position } from "../api/types";
import { applyEvent, initialState, MAX_FILLS, type LiveState, type StreamEvent } from "./events";

function position(ticker: string, pnl: string, contracts = "10.00"): Position {
  return { ticker, side: "yes", contracts, unrealized_pnl: pnl, mark: "0.5000" };
}

function run(events: StreamEvent[], start: LiveState = initialState(), now = 1000): LiveState {
  return events.reduce((state, event, i) => applyEvent(state, event, now + i), start);
}

const snapshot = (id: string, positions: Position[], extra: Record<string, unknown> = {}): StreamEvent => ({
  type: "snapshot",
  id,
  data: { positions, portfolio: { total_value: "100.0000" }, orders: [], ...extra },
});

describe("snapshot", () => {
  it("hydrates positions, portfolio and orders", () => {
    const state = run([snapshot("1", [position("A", "1.0000"), position("B", "-2.0000")])]);
    expect(state.hydrated).toBe(true);
    expect(Object.keys(state.positions).sort()).toEqual(["A", "B"]);
    expect(state.portfolio?.total_value).toBe("100.0000");
    expect(state.lastEventId).toBe("1");
    expect(state.changedAt).toEqual({});
  });

  it("replaces everything: a position absent from a later snapshot is gone", () => {
    const state = run([
      snapshot("1", [position("A", "1.0000"), position("B", "2.0000")]),
      snapshot("2", [position("B", "2.0000")]),
    ]);
    expect(Object.keys(state.positions)).toEqual(["B"]);
  });

  it("a coalesced snapshot after a slow spell is counted and flashes what changed", () => {
    const first = run([snapshot("1", [position("A", "1.0000"), position("B", "2.0000")])]);
    const state = applyEvent(first, snapshot("9", [position("A", "1.0000"), position("B", "3.5000")], { coalesced: true }), 5000);
    expect(state.coalescedSnapshots).toBe(1);
    expect(state.positions.B?.unrealized_pnl).toBe("3.5000");
    expect(state.changedAt).toEqual({ B: 5000 });
    expect(state.lastEventId).toBe("9");
  });
});

describe("updates and removals", () => {
  it("position_update upserts and marks the change time", () => {
    const state = run([
      snapshot("1", [position("A", "1.0000")]),
      { type: "position_update", id: "2", data: position("A", "1.5000") },
      { type: "position_update", id: "3", data: position("C", "0.1000") },
    ]);
    expect(state.positions.A?.unrealized_pnl).toBe("1.5000");
    expect(state.positions.C).toBeDefined();
    expect(state.changedAt).toEqual({ A: 1001, C: 1002 });
  });

  it("an update with the same figures does not flash", () => {
    const state = run([
      snapshot("1", [position("A", "1.0000")]),
      { type: "position_update", id: "2", data: position("A", "1.0000") },
    ]);
    expect(state.changedAt).toEqual({});
  });

  it("position_removed deletes; removing an unknown ticker is harmless", () => {
    const state = run([
      snapshot("1", [position("A", "1.0000"), position("B", "1.0000")]),
      { type: "position_removed", id: "2", data: { ticker: "A" } },
      { type: "position_removed", id: "3", data: { ticker: "ZZZ" } },
    ]);
    expect(Object.keys(state.positions)).toEqual(["B"]);
  });

  it("portfolio_update replaces, order_update upserts, fills keep the newest first and are bounded", () => {
    let state = run([
      snapshot("1", []),
      { type: "portfolio_update", id: "2", data: { cash: "50.0000", total_value: "90.0000" } },
      { type: "order_update", id: "3", data: { order_id: "o1", ticker: "A", status: "resting" } },
      { type: "order_update", id: "4", data: { order_id: "o1", status: "canceled" } },
    ]);
    expect(state.portfolio).toEqual({ cash: "50.0000", total_value: "90.0000" });
    expect(state.orders.o1?.status).toBe("canceled");
    expect(state.orders.o1?.id).toBe("o1");
    expect(state.orders.o1?.ticker).toBe("A");
    for (let i = 0; i < MAX_FILLS + 5; i++) {
      state = applyEvent(state, { type: "fill", id: `f${i}`, data: { ticker: "A", count_fp: `${i}.00` } }, i);
    }
    expect(state.fills).toHaveLength(MAX_FILLS);
    expect(state.fills[0]?.count_fp).toBe(`${MAX_FILLS + 4}.00`);
  });

  it("market_update merges per ticker; orderbook and backtest_progress replace", () => {
    const state = run([
      { type: "market_update", id: "1", data: { ticker: "M", yes_bid_dollars: "0.4000", volume_fp: "10.00" } },
      { type: "market_update", id: "2", data: { ticker: "M", yes_bid_dollars: "0.4100" } },
      { type: "orderbook", id: "3", data: { ticker: "M", orderbook_fp: { yes_dollars: [["0.4100", "5.00"]] } } },
      { type: "backtest_progress", id: "4", data: { run_id: "r1", progress: 0.5, status: "running" } },
    ]);
    expect(state.markets.M).toEqual({ ticker: "M", yes_bid_dollars: "0.4100", volume_fp: "10.00" });
    expect(state.orderbooks.M?.orderbook_fp.yes_dollars).toEqual([["0.4100", "5.00"]]);
    expect(state.backtests.r1?.progress).toBe(0.5);
  });

  it("malformed events change nothing but the bookkeeping", () => {
    const before = run([snapshot("1", [position("A", "1.0000")])]);
    const after = run(
      [
        { type: "position_update", id: "2", data: null },
        { type: "position_removed", id: "3", data: "A" },
        { type: "market_update", id: "4", data: { no_ticker: true } },
      ],
      before,
    );
    expect(after.positions).toEqual(before.positions);
    expect(after.lastEventId).toBe("4");
  });
});

describe("resume and redelivery", () => {
  it("an event id seen before is ignored (the server replays from Last-Event-ID inclusive)", () => {
    const update = { type: "position_update", id: "2", data: position("A", "5.0000") } as const;
    const once = run([snapshot("1", [position("A", "1.0000")]), update]);
    const twice = applyEvent(once, update, 9999);
    expect(twice).toBe(once);
  });

  it("events without an id are applied and keep the last id", () => {
    const state = run([snapshot("7", []), { type: "market_update", id: null, data: { ticker: "M" } }]);
    expect(state.lastEventId).toBe("7");
    expect(state.markets.M).toBeDefined();
  });
});

describe("connection_status", () => {
  it("a snapshot carries the server's connection status", () => {
    const state = run([snapshot("1", [], { connection: { status: "kalshi_reconnecting", detail: "socket closed" } })]);
    expect(state.connection).toBe("kalshi_reconnecting");
    expect(state.connectionDetail).toBe("socket closed");
  });

  it.each(["connected", "kalshi_reconnecting", "degraded", "exchange_paused", "disconnected"])("takes %s", (status) => {
    const state = run([{ type: "connection_status", id: "1", data: { status, detail: "why" } }]);
    expect(state.connection).toBe(status);
    expect(state.connectionDetail).toBe("why");
  });

  it("ignores an unknown status", () => {
    const state = run([{ type: "connection_status", id: "1", data: { status: "weird" } }]);
    expect(state.connection).toBe("connecting");
  });

  it("an error event keeps its message", () => {
    const state = run([{ type: "error", id: "1", data: { error: "x", message: "Kalshi said no" } }]);
    expect(state.lastError).toBe("Kalshi said no");
  });
});
