// @vitest-environment node
import { describe, expect, it } from "vitest";

import { add, compareText, mul, parse, sub, toFixed, toText } from "./decimal";
import { cents, contracts, money, percent, signedMoney } from "./format";

describe("decimal", () => {
  it("adds and subtracts without float error", () => {
    expect(toText(add(parse("0.1"), parse("0.2")))).toBe("0.3");
    expect(toText(sub(parse("0.4700"), parse("0.5")))).toBe("-0.0300");
  });
  it("multiplies count by price exactly", () => {
    expect(toFixed(mul(parse("3.00"), parse("0.4700")), 4)).toBe("1.4100");
  });
  it("rounds half away from zero", () => {
    expect(toFixed(parse("1.005"), 2)).toBe("1.01");
    expect(toFixed(parse("-1.005"), 2)).toBe("-1.01");
    expect(toFixed(parse("-0.004"), 2)).toBe("0.00");
  });
  it("compares strings with nulls last", () => {
    expect(["0.5", null, "0.45", "0.4700"].sort(compareText)).toEqual(["0.45", "0.4700", "0.5", null]);
  });
  it("refuses what is not a decimal", () => {
    expect(() => parse("1e3")).toThrow(RangeError);
  });
});

describe("format", () => {
  it("formats money, signed P&L, cents, contracts and percentages", () => {
    expect(money("1234.5")).toBe("$1,234.50");
    expect(money("-3.2")).toBe("-$3.20");
    expect(money(null)).toBe("–");
    expect(signedMoney("1.2")).toBe("+$1.20");
    expect(cents("0.4700")).toBe("47¢");
    expect(cents("0.4750")).toBe("47.5¢");
    expect(contracts("3.00")).toBe("3");
    expect(contracts("2.50")).toBe("2.5");
    expect(percent("0.1234")).toBe("+12.34%");
    expect(percent(0.5, false)).toBe("50.00%");
  });
});
