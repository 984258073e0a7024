// @vitest-environment node
import { describe, expect, it } from "vitest";

import type { Strategy } from "../api/types";
import { buildRequest, fieldsOf, FieldError } from "./backtestForm";

const strategy: Strategy = {
  name: "momentum",
  version: "1",
  description: "",
  params: {
    properties: {
      lookback: { type: "integer", minimum: 1, maximum: 500, default: 10 },
      threshold: { type: "number", minimum: 0.005, maximum: 0.9, default: 0.05 },
      stop_loss: { type: ["number", "null"], minimum: 0.0001, maximum: 1, default: null },
      mode: { type: "string", enum: ["a", "b"], default: "a" },
      flag: { type: "boolean", default: false },
    },
  },
};

const base = {
  strategy,
  values: { lookback: "10", threshold: "0.05", stop_loss: "", mode: "b", flag: "true" },
  grid: {},
  tickers: "",
  series: "",
  event: "",
  start: "2026-01-01T00:00",
  end: "2026-01-08T00:00",
};

describe("backtest form", () => {
  it("reads field kinds from the schema", () => {
    expect(fieldsOf(strategy).map((f) => [f.name, f.kind, f.nullable])).toEqual([
      ["lookback", "integer", false],
      ["threshold", "number", false],
      ["stop_loss", "number", true],
      ["mode", "enum", false],
      ["flag", "boolean", false],
    ]);
  });

  it("builds the request with typed values, nulls, market filter and grid", () => {
    const request = buildRequest({ ...base, grid: { lookback: "5, 10 20" }, tickers: "A B", series: "S1" });
    expect(request).toEqual({
      strategy: "momentum",
      params: { threshold: 0.05, stop_loss: null, mode: "b", flag: true },
      grid: { lookback: [5, 10, 20] },
      markets: { tickers: ["A", "B"], series: "S1" },
      start: "2026-01-01T00:00:00Z",
      end: "2026-01-08T00:00:00Z",
    });
  });

  it("refuses values outside the schema's bounds", () => {
    expect(() => buildRequest({ ...base, values: { ...base.values, lookback: "0" } })).toThrow(FieldError);
    expect(() => buildRequest({ ...base, values: { ...base.values, lookback: "1.5" } })).toThrow("whole number");
  });
});
