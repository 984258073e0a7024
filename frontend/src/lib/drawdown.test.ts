// @vitest-environment node
import { describe, expect, it } from "vitest";

import { drawdown } from "./drawdown";

describe("drawdown", () => {
  it("is equity minus the running peak, exactly", () => {
    const curve = [
      { ts: "a", equity_dollars: "100.10" },
      { ts: "b", equity_dollars: "100.30" },
      { ts: "c", equity_dollars: "99.90" },
      { ts: "d", equity_dollars: "100.40" },
    ];
    expect(drawdown(curve).map((p) => p.drawdown_dollars)).toEqual(["0.00", "0.00", "-0.40", "0.00"]);
  });
  it("skips unparseable points", () => {
    expect(drawdown([{ ts: "a", equity_dollars: "x" }])).toEqual([]);
  });
});
