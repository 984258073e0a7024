// @vitest-environment node
import { describe, expect, it } from "vitest";

import type { PnlAlerts } from "../api/types";
import { crossed, crossedPositions } from "./alerts";

const alerts: PnlAlerts = { enabled: true, loss_dollars: "10.00", gain_dollars: "100.00", loss_percent: "2.00", gain_percent: null };

describe("crossed", () => {
  it("fires once when today's P&L falls through the loss threshold", () => {
    expect(crossed(alerts, { dollars: "-9.99", pct: "-0.50" }, { dollars: "-10.00", pct: "-0.50" })).toHaveLength(1);
    expect(crossed(alerts, { dollars: "-10.00", pct: "-0.50" }, { dollars: "-12.00", pct: "-0.60" })).toHaveLength(0);
  });
  it("fires on a gain in dollars and on a loss in percent", () => {
    expect(crossed(alerts, { dollars: "99.99", pct: "1" }, { dollars: "100.01", pct: "1" })[0]).toMatch(/rose/);
    expect(crossed(alerts, { dollars: "0", pct: "-1.99" }, { dollars: "0", pct: "-2.00" })[0]).toMatch(/%/);
  });
  it("never fires on first sight or when alerts are off", () => {
    expect(crossed(alerts, null, { dollars: "-50", pct: "-5" })).toHaveLength(0);
    expect(crossed({ ...alerts, enabled: false }, { dollars: "0", pct: "0" }, { dollars: "-50", pct: "-5" })).toHaveLength(0);
  });
});

describe("crossedPositions", () => {
  const perPosition: PnlAlerts = { ...alerts, positions: { AAA: "5.00" } };
  it("fires once when a position's P&L reaches a loss or a gain of its threshold", () => {
    expect(crossedPositions(perPosition, { AAA: "-4.99" }, [{ ticker: "AAA", unrealized_pnl: "-5.00" }])).toEqual([
      "AAA: P&L fell to -5.00 (alert at a $5.00 loss).",
    ]);
    expect(crossedPositions(perPosition, { AAA: "-5.00" }, [{ ticker: "AAA", unrealized_pnl: "-7.00" }])).toEqual([]);
    expect(crossedPositions(perPosition, { AAA: "4.00" }, [{ ticker: "AAA", unrealized_pnl: "5.0100" }])[0]).toMatch(/^AAA: P&L rose/);
  });
  it("ignores positions without a threshold, first sightings, and alerts turned off", () => {
    expect(crossedPositions(perPosition, { BBB: "0" }, [{ ticker: "BBB", unrealized_pnl: "-50" }])).toEqual([]);
    expect(crossedPositions(perPosition, {}, [{ ticker: "AAA", unrealized_pnl: "-50" }])).toEqual([]);
    expect(crossedPositions({ ...perPosition, enabled: false }, { AAA: "0" }, [{ ticker: "AAA", unrealized_pnl: "-50" }])).toEqual([]);
  });
});
