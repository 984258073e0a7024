// @vitest-environment node
import { describe, expect, it } from "vitest";

import { divide, parse, toText } from "./decimal";
import { todayPnl } from "./today";

describe("todayPnl", () => {
  it("is total - baseline - net transfers, with percent of the baseline", () => {
    expect(todayPnl("1012.5000", "1000.0000", "0.0000")).toEqual({ dollars: "12.5000", pct: "1.25" });
    expect(todayPnl("1500.0000", "1000.0000", "500.0000")).toEqual({ dollars: "0.0000", pct: "0.00" });
    expect(todayPnl("990.00", "1000.00", null)).toEqual({ dollars: "-10.00", pct: "-1.00" });
  });
  it("has no value without a baseline and no percent on a zero baseline", () => {
    expect(todayPnl("10", null, null)).toBeNull();
    expect(todayPnl("10", "0", "0")?.pct).toBeNull();
  });
  it("rounds half to even like the server", () => {
    expect(toText(divide(parse("1"), parse("8"), 2))).toBe("0.12");
    expect(toText(divide(parse("3"), parse("8"), 2))).toBe("0.38");
    expect(toText(divide(parse("-1"), parse("3"), 4))).toBe("-0.3333");
  });
});
