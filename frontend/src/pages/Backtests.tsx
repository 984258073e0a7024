import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api, describeError } from "../api/client";
import { useRuns, useStrategies } from "../api/hooks";
import type { BacktestRequest, Run, RunStatus, RunSummary, Strategy } from "../api/types";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { Pnl } from "../components/Pnl";
import { dateTime } from "../lib/format";
import { buildRequest, FieldError, fieldsOf, initialText, type Field } from "./backtestForm";

function localInput(date: Date): string {
  return date.toISOString().slice(0, 16);
}

function ParamInput({ field, value, onChange }: { field: Field; value: string; onChange: (v: string) => void }) {
  const id = `param-${field.name}`;
  const help = field.spec.description ? `${id}-help` : undefined;
  const label = field.name.replace(/_/g, " ");
  let input: React.ReactNode;
  if (field.kind === "boolean") {
    return (
      <div className="field">
        <label htmlFor={id} className="inline">
          <input id={id} type="checkbox" checked={value === "true"} onChange={(e) => onChange(e.target.checked ? "true" : "false")} aria-describedby={help} />
          {label}
        </label>
        {help ? <small id={help}>{field.spec.description}</small> : null}
      </div>
    );
  }
  if (field.kind === "enum") {
    input = (
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={help}>
        {(field.spec.enum ?? []).map((v) => (
          <option key={String(v)} value={String(v)}>{String(v)}</option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        id={id}
        type={field.kind === "string" ? "text" : "number"}
        step={field.kind === "integer" ? 1 : "any"}
        min={field.spec.minimum}
        max={field.spec.maximum}
        value={value}
        placeholder={field.nullable ? "none" : undefined}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={help}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {input}
      {help ? <small id={help}>{field.spec.description}</small> : null}
    </div>
  );
}

function BacktestForm({ strategies }: { strategies: Strategy[] }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState(strategies[0]?.name ?? "");
  const strategy = strategies.find((s) => s.name === name) ?? strategies[0];
  const fields = useMemo(() => (strategy ? fieldsOf(strategy) : []), [strategy]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [grid, setGrid] = useState<Record<string, string>>({});
  const [showGrid, setShowGrid] = useState(false);
  const [tickers, setTickers] = useState("");
  const [series, setSeries] = useState("");
  const [event, setEvent] = useState("");
  const [start, setStart] = useState(() => localInput(new Date(Date.now() - 7 * 86_400_000)));
  const [end, setEnd] = useState(() => localInput(new Date(Date.now() + 3_600_000)));
  const [formError, setFormError] = useState<string | null>(null);
  useEffect(() => {
    setValues(Object.fromEntries(fields.map((f) => [f.name, initialText(f)])));
    setGrid({});
  }, [fields]);
  const submit = useMutation({
    mutationFn: (body: BacktestRequest) => api<{ id: string; status: RunStatus }>("/api/v1/backtests", { method: "POST", body }),
    onSuccess: (created, request) => {
      void queryClient.invalidateQueries({ queryKey: ["runs"] });
      // The 202 says the run is queued: show that at once (progress bar at 0) while the
      // run page fetches the run; marked stale so the fetch happens immediately.
      const queued: Run = {
        id: created.id,
        status: created.status,
        progress: 0,
        strategy: request.strategy,
        start: request.start,
        end: request.end,
        created_at: new Date().toISOString(),
      };
      queryClient.setQueryData(["run", created.id], queued, { updatedAt: 0 });
      navigate(`/backtests/${created.id}`);
    },
  });
  if (!strategy) return <p className="empty">No strategies are registered.</p>;
  return (
    <form
      className="form backtest-form"
      // Our own checks (backtestForm.ts) give one message per mistake, read out as an alert.
      noValidate
      aria-labelledby="new-run"
      onSubmit={(e) => {
        e.preventDefault();
        try {
          setFormError(null);
          submit.mutate(buildRequest({ strategy, values, grid, tickers, series, event, start, end }));
        } catch (error) {
          if (error instanceof FieldError) setFormError(error.message);
          else throw error;
        }
      }}
    >
      <h2 id="new-run">New backtest</h2>
      <label>
        Strategy
        <select value={strategy.name} onChange={(e) => setName(e.target.value)}>
          {strategies.map((s) => (
            <option key={s.name} value={s.name}>{s.name} (v{s.version})</option>
          ))}
        </select>
      </label>
      <p className="muted small">{strategy.description}</p>
      <fieldset>
        <legend>Parameters</legend>
        <div className="grid-fields">
          {fields.map((f) => (
            <ParamInput key={f.name} field={f} value={values[f.name] ?? ""} onChange={(v) => setValues({ ...values, [f.name]: v })} />
          ))}
        </div>
      </fieldset>
      <label className="inline">
        <input type="checkbox" checked={showGrid} onChange={(e) => setShowGrid(e.target.checked)} /> Sweep a grid of parameter values
      </label>
      {showGrid ? (
        <fieldset>
          <legend>Grid (values to try, comma-separated; at most 64 combinations)</legend>
          <div className="grid-fields">
            {fields.filter((f) => f.kind !== "boolean").map((f) => (
              <label key={f.name}>
                {f.name.replace(/_/g, " ")} values
                <input value={grid[f.name] ?? ""} onChange={(e) => setGrid({ ...grid, [f.name]: e.target.value })} placeholder="e.g. 5, 10, 20" />
              </label>
            ))}
          </div>
        </fieldset>
      ) : null}
      <fieldset>
        <legend>Markets (empty: every stored market)</legend>
        <div className="grid-fields">
          <label>Tickers<input value={tickers} onChange={(e) => setTickers(e.target.value)} placeholder="TICKER-1, TICKER-2" /></label>
          <label>Series<input value={series} onChange={(e) => setSeries(e.target.value)} /></label>
          <label>Event<input value={event} onChange={(e) => setEvent(e.target.value)} /></label>
        </div>
      </fieldset>
      <fieldset>
        <legend>Window (UTC)</legend>
        <div className="grid-fields">
          <label>Start<input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} required /></label>
          <label>End<input type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} required /></label>
        </div>
      </fieldset>
      {formError ? <p role="alert" className="error-message">{formError}</p> : null}
      {submit.isError ? <p role="alert" className="error-message">{describeError(submit.error)}</p> : null}
      <button type="submit" disabled={submit.isPending}>{submit.isPending ? "Submitting…" : "Run backtest"}</button>
    </form>
  );
}

function PastRuns({ runs }: { runs: RunSummary[] }) {
  const navigate = useNavigate();
  const [picked, setPicked] = useState<string[]>([]);
  if (runs.length === 0) return <p className="empty">No runs yet.</p>;
  return (
    <>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Past runs; tick two to compare</caption>
          <thead>
            <tr>
              <th scope="col">Compare</th>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Window</th>
              <th scope="col">P&amp;L</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Compare run ${r.id.slice(0, 8)}`}
                    checked={picked.includes(r.id)}
                    onChange={(e) => setPicked(e.target.checked ? [...picked, r.id].slice(-2) : picked.filter((p) => p !== r.id))}
                  />
                </td>
                <td><Link to={`/backtests/${r.id}`}>{r.strategy} · {r.id.slice(0, 8)}</Link></td>
                <td>{r.status}</td>
                <td>{dateTime(r.start)} → {dateTime(r.end)}</td>
                <td><Pnl dollars={r.total_pnl_dollars} /></td>
                <td>{dateTime(r.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <button type="button" disabled={picked.length !== 2} onClick={() => navigate(`/backtests/compare?a=${picked[0]}&b=${picked[1]}`)}>
        Compare the two ticked runs
      </button>
    </>
  );
}

export default function Backtests() {
  const strategies = useStrategies();
  const runs = useRuns();
  return (
    <section className="page">
      <h1>Backtests</h1>
      <div className="card">
        {strategies.isError ? <ErrorMessage error={strategies.error} what="Strategies" /> : null}
        {strategies.isPending ? <Loading what="strategies" /> : null}
        {strategies.data ? <BacktestForm strategies={strategies.data} /> : null}
      </div>
      <section className="card" aria-labelledby="past-runs">
        <h2 id="past-runs">Past runs</h2>
        {runs.isError ? <ErrorMessage error={runs.error} what="Runs" /> : null}
        {runs.isPending ? <Loading what="runs" /> : null}
        {runs.data ? <PastRuns runs={runs.data} /> : null}
      </section>
    </section>
  );
}
