/** Turning a strategy's JSON Schema into form fields and the form back into a request. */
import type { BacktestRequest, JsonSchemaProperty, Strategy } from "../api/types";

export type FieldKind = "integer" | "number" | "boolean" | "string" | "enum";

export interface Field {
  name: string;
  kind: FieldKind;
  nullable: boolean;
  spec: JsonSchemaProperty;
}

export function fieldsOf(strategy: Strategy): Field[] {
  return Object.entries(strategy.params.properties ?? {}).map(([name, spec]) => {
    const types = Array.isArray(spec.type) ? spec.type : [spec.type ?? "string"];
    const nullable = types.includes("null");
    const base = types.find((t) => t !== "null") ?? "string";
    const kind: FieldKind = spec.enum ? "enum" : base === "integer" || base === "number" || base === "boolean" ? base : "string";
    return { name, kind, nullable, spec };
  });
}

/** The form's text for a default value. */
export function initialText(field: Field): string {
  const value = field.spec.default;
  if (value === null || value === undefined) return "";
  return String(value);
}

export class FieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** One field's text as the JSON value the API expects; blank is null (nullable) or omitted. */
export function valueOf(field: Field, text: string): unknown {
  const trimmed = text.trim();
  if (field.kind === "boolean") return trimmed === "true";
  if (trimmed === "") {
    if (field.nullable) return null;
    return undefined;
  }
  if (field.kind === "integer" || field.kind === "number") {
    const n = Number(trimmed);
    if (!Number.isFinite(n) || (field.kind === "integer" && !Number.isInteger(n))) {
      throw new FieldError(field.name, `${field.name} must be ${field.kind === "integer" ? "a whole number" : "a number"}.`);
    }
    if (field.spec.minimum !== undefined && n < field.spec.minimum) throw new FieldError(field.name, `${field.name} must be at least ${field.spec.minimum}.`);
    if (field.spec.maximum !== undefined && n > field.spec.maximum) throw new FieldError(field.name, `${field.name} must be at most ${field.spec.maximum}.`);
    return n;
  }
  if (field.kind === "enum") {
    const match = (field.spec.enum ?? []).find((v) => String(v) === trimmed);
    return match ?? trimmed;
  }
  return trimmed;
}

export interface FormState {
  strategy: Strategy;
  values: Record<string, string>;
  grid: Record<string, string>;
  tickers: string;
  series: string;
  event: string;
  start: string;
  end: string;
}

function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

/** A local datetime-local value (taken as UTC) to an ISO instant. */
export function utcInstant(local: string): string {
  return local.length === 16 ? `${local}:00Z` : local.endsWith("Z") ? local : `${local}Z`;
}

export function buildRequest(state: FormState): BacktestRequest {
  const fields = fieldsOf(state.strategy);
  const params: Record<string, unknown> = {};
  const grid: Record<string, unknown[]> = {};
  for (const field of fields) {
    const gridText = state.grid[field.name]?.trim();
    if (gridText) {
      grid[field.name] = splitList(gridText).map((part) => valueOf(field, part));
      continue;
    }
    const value = valueOf(field, state.values[field.name] ?? "");
    if (value !== undefined) params[field.name] = value;
  }
  const markets: BacktestRequest["markets"] = {};
  const tickers = splitList(state.tickers);
  if (tickers.length) markets.tickers = tickers;
  const series = splitList(state.series);
  if (series.length) markets.series = series.length === 1 ? series[0] : series;
  if (state.event.trim()) markets.event = state.event.trim();
  const request: BacktestRequest = {
    strategy: state.strategy.name,
    params,
    start: utcInstant(state.start),
    end: utcInstant(state.end),
  };
  if (Object.keys(markets).length) request.markets = markets;
  if (Object.keys(grid).length) request.grid = grid;
  return request;
}
