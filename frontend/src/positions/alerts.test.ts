import { describe, expect, it } from "vitest";

import { crossed } from "./alerts";

const alerts = [
  { ticker: "A", below_dollars: "-10.00" },
  { ticker: null, above_dollars: "100.00" },
];

describe("crossed", () => {
  it("fires once when P&L falls through a floor", () => {
    expect(crossed(alerts, "A", "-9.9900", "-10.0000")).toHaveLength(1);
    expect(crossed(alerts, "A", "-10.0000", "-12.0000")).toHaveLength(0);
  });
  it("fires for the portfolio above a ceiling, not for another ticker", () => {
    expect(crossed(alerts, null, "99.99", "100.01")[0]?.direction).toBe("above");
    expect(crossed(alerts, "B", "0", "-50")).toHaveLength(0);
  });
  it("never fires on first sight", () => {
    expect(crossed(alerts, "A", null, "-50")).toHaveLength(0);
  });
});
