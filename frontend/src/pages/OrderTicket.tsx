import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useDeferredValue, useState } from "react";

import { api, describeError } from "../api/client";
import { useSettings } from "../api/hooks";
import type { Order, OrderAction, OrderPreview, OrderRequest, OrderSide, Settings, TimeInForce } from "../api/types";
import { mul, parse, toFixed, tryParse } from "../lib/decimal";
import { money } from "../lib/format";

const PRICE = /^0?\.\d{1,4}$/;
const COUNT = /^\d+(\.\d{1,2})?$/;

/** Whether a ticket's fields make an order worth previewing; the reason when not. */
export function ticketProblem(count: string, price: string): string | null {
  if (!COUNT.test(count) || tryParse(count)?.units === 0n) return "Contracts must be a positive number, e.g. 10.";
  if (!PRICE.test(price)) return "Limit price is in dollars below 1, e.g. 0.45.";
  const p = parse(price);
  if (p.units <= 0n) return "Limit price must be above zero.";
  return null;
}

/** count x price, exact: what the order costs before fees, shown until the preview answers. */
export function grossCost(count: string, price: string): string | null {
  const c = tryParse(count);
  const p = tryParse(price);
  return c && p ? toFixed(mul(c, p), 4) : null;
}

/** Trading is opt-in per user (a server setting): until it is on, say so and offer it. */
function TradingOff({ settings }: { settings: Settings }) {
  const queryClient = useQueryClient();
  const enable = useMutation({
    mutationFn: () => api<Settings>("/api/v1/account/settings", { method: "PUT", body: { ...settings, trading_enabled: true } }),
    onSuccess: (data) => queryClient.setQueryData(["settings"], data),
  });
  return (
    <section className="card" aria-labelledby="ticket-title">
      <h2 id="ticket-title">Order ticket</h2>
      <p>
        Trading is off for your account. Turned on, orders are limited to {settings.max_order_contracts ?? "100"} contracts
        and {money(settings.max_order_dollars ?? "100")} each (your settings).
      </p>
      {enable.isError ? <p role="alert" className="error-message">{describeError(enable.error)}</p> : null}
      <button type="button" onClick={() => enable.mutate()} disabled={enable.isPending}>
        Turn on trading
      </button>
    </section>
  );
}

export function OrderTicket({ ticker }: { ticker: string }) {
  const settings = useSettings(true);
  // Wait for the setting rather than show a ticket that turns into "trading is off"; if the
  // settings cannot be read, show the ticket: the orders API refuses with its own message.
  if (settings.isPending) {
    return (
      <section className="card" aria-labelledby="ticket-title">
        <h2 id="ticket-title">Order ticket</h2>
        <p className="muted" role="status">Loading your trading settings…</p>
      </section>
    );
  }
  if (settings.data && settings.data.trading_enabled === false) return <TradingOff settings={settings.data} />;
  return <Ticket ticker={ticker} />;
}

function Ticket({ ticker }: { ticker: string }) {
  const queryClient = useQueryClient();
  const [side, setSide] = useState<OrderSide>("yes");
  const [action, setAction] = useState<OrderAction>("buy");
  const [count, setCount] = useState("1");
  const [price, setPrice] = useState("0.50");
  const [tif, setTif] = useState<TimeInForce>("good_till_canceled");
  const problem = ticketProblem(count, price);
  const request: OrderRequest = { ticker, side, action, count, price, time_in_force: tif };
  const deferred = useDeferredValue(request);
  const preview = useQuery({
    queryKey: ["preview", deferred],
    queryFn: ({ signal }) => api<OrderPreview>("/api/v1/account/orders/preview", { method: "POST", body: deferred, signal }),
    enabled: problem === null,
    retry: false,
  });
  const place = useMutation({
    mutationFn: () => api<Order>("/api/v1/account/orders", { method: "POST", body: request }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
      void queryClient.invalidateQueries({ queryKey: ["portfolio"] });
    },
  });
  return (
    <section className="card" aria-labelledby="ticket-title">
      <h2 id="ticket-title">Order ticket</h2>
      <form
        className="form ticket"
        onSubmit={(event) => {
          event.preventDefault();
          if (problem === null) place.mutate();
        }}
      >
        <fieldset>
          <legend>Side</legend>
          <label><input type="radio" name="side" checked={side === "yes"} onChange={() => setSide("yes")} /> YES</label>
          <label><input type="radio" name="side" checked={side === "no"} onChange={() => setSide("no")} /> NO</label>
        </fieldset>
        <fieldset>
          <legend>Action</legend>
          <label><input type="radio" name="action" checked={action === "buy"} onChange={() => setAction("buy")} /> Buy</label>
          <label><input type="radio" name="action" checked={action === "sell"} onChange={() => setAction("sell")} /> Sell</label>
        </fieldset>
        <label>
          Contracts
          <input name="count" inputMode="decimal" value={count} onChange={(e) => setCount(e.target.value)} required />
        </label>
        <label>
          Limit price ($)
          <input name="price" inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} required />
        </label>
        <label>
          Time in force
          <select value={tif} onChange={(e) => setTif(e.target.value as TimeInForce)}>
            <option value="good_till_canceled">Good till canceled</option>
            <option value="immediate_or_cancel">Immediate or cancel</option>
            <option value="fill_or_kill">Fill or kill</option>
          </select>
        </label>
        {problem ? <p role="alert" className="error-message">{problem}</p> : null}
        <dl className="details" aria-live="polite">
          <dt>Estimated cost</dt>
          <dd data-testid="preview-cost">
            {preview.data ? money(action === "buy" ? preview.data.cost : preview.data.proceeds, 4) : money(grossCost(count, price), 4)}
            {action === "sell" ? " (proceeds)" : ""}
          </dd>
          <dt>Estimated fee</dt>
          <dd data-testid="preview-fee">
            {preview.data
              ? `${money(preview.data.taker.total_fee, 4)} if it fills at once, ${money(preview.data.maker.total_fee, 4)} if it rests`
              : preview.isError
                ? "unavailable"
                : "…"}
          </dd>
        </dl>
        {preview.isError ? <p role="alert" className="error-message">Preview: {describeError(preview.error)}</p> : null}
        {place.isError ? <p role="alert" className="error-message">{describeError(place.error)}</p> : null}
        {place.isSuccess ? <p role="status" className="ok">Order placed ({place.data?.status ?? "submitted"}).</p> : null}
        <button type="submit" disabled={problem !== null || place.isPending}>
          {place.isPending ? "Placing…" : `${action === "buy" ? "Buy" : "Sell"} ${side.toUpperCase()}`}
        </button>
      </form>
    </section>
  );
}
