import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";

import { api, describeError } from "../api/client";
import { useFills, useOrders, useSignedIn } from "../api/hooks";
import type { Fill, Order } from "../api/types";
import { Dialog } from "../components/Dialog";
import { ErrorMessage, Loading } from "../components/ErrorMessage";
import { cents, contracts, dateTime, money, sideLabel } from "../lib/format";
import { useLive } from "../stream/store";

function AmendDialog({ order, onDone }: { order: Order | null; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [price, setPrice] = useState("");
  const [count, setCount] = useState("");
  const amend = useMutation({
    mutationFn: (o: Order) =>
      api(`/api/v1/account/orders/${encodeURIComponent(o.id)}`, {
        method: "PATCH",
        body: { price: price || o.price, count: count || o.remaining_count || o.count },
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
      setPrice("");
      setCount("");
      onDone();
    },
  });
  return (
    <Dialog open={order !== null} title="Amend order" onClose={() => { amend.reset(); onDone(); }}>
      {order ? (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            amend.mutate(order);
          }}
        >
          <p>
            {order.action} {sideLabel(order.side)} {order.ticker}
          </p>
          <label>
            New limit price ($)
            <input value={price} placeholder={order.price ?? undefined} onChange={(e) => setPrice(e.target.value)} inputMode="decimal" />
          </label>
          <label>
            New contracts
            <input value={count} placeholder={order.remaining_count ?? order.count} onChange={(e) => setCount(e.target.value)} inputMode="decimal" />
          </label>
          {amend.isError ? <p role="alert" className="error-message">{describeError(amend.error)}</p> : null}
          <div className="actions">
            <button type="submit" disabled={amend.isPending}>Amend</button>
            <button type="button" onClick={() => { amend.reset(); onDone(); }}>Cancel</button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}

function OrderRows({ orders, open, onAmend }: { orders: Order[]; open: boolean; onAmend: (o: Order) => void }) {
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: (o: Order) => api(`/api/v1/account/orders/${encodeURIComponent(o.id)}`, { method: "DELETE" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["orders"] }),
  });
  if (orders.length === 0) return <p className="empty">{open ? "No open orders." : "No recent orders."}</p>;
  return (
    <>
      {cancel.isError ? <ErrorMessage error={cancel.error} what="Cancel" /> : null}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Market</th>
              <th scope="col">Order</th>
              <th scope="col">Price</th>
              <th scope="col">Contracts</th>
              <th scope="col">Status</th>
              <th scope="col">Placed</th>
              {open ? <th scope="col"><span className="sr-only">Actions</span></th> : null}
            </tr>
          </thead>
          <tbody>
            {orders.map((o) => (
              <tr key={o.id} data-order-id={o.id}>
                <td><Link to={`/markets/${encodeURIComponent(o.ticker)}`}>{o.ticker}</Link></td>
                <td>{o.action} {sideLabel(o.side)}</td>
                <td>{cents(o.price)}</td>
                <td>{contracts(open ? o.remaining_count : o.count)}{o.filled_count && o.filled_count !== "0.00" ? ` (filled ${contracts(o.filled_count)})` : ""}</td>
                <td>{o.status}</td>
                <td>{dateTime(o.created_time)}</td>
                {open ? (
                  <td className="row-actions">
                    <button type="button" onClick={() => onAmend(o)} aria-label={`Amend order on ${o.ticker}`}>Amend</button>
                    <button type="button" onClick={() => cancel.mutate(o)} aria-label={`Cancel order on ${o.ticker}`} disabled={cancel.isPending}>Cancel</button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function fillKey(f: Fill): string {
  const at = f.created_at ? Math.floor(Date.parse(f.created_at) / 1000) : "";
  return `${f.order_id ?? f.fill_id ?? ""}|${f.ticker}|${f.contracts ?? f.count_fp ?? ""}|${at}`;
}

function FillRows({ fills }: { fills: Fill[] }) {
  if (fills.length === 0) return <p className="empty">No fills yet.</p>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Market</th>
            <th scope="col">Trade</th>
            <th scope="col">Contracts</th>
            <th scope="col">Price</th>
            <th scope="col">Fee</th>
          </tr>
        </thead>
        <tbody>
          {fills.map((f, i) => (
            <tr key={f.fill_id ?? `${f.ticker}-${i}`}>
              <td>{dateTime(f.created_at)}</td>
              <td>{f.ticker}</td>
              <td>{f.action} {sideLabel(f.side)}</td>
              <td>{contracts(f.contracts ?? f.count_fp)}</td>
              <td>{cents(f.side === "no" ? f.no_price : f.yes_price)}</td>
              <td>{money(f.fee, 4)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function Orders() {
  const signedIn = useSignedIn();
  const queryClient = useQueryClient();
  const open = useOrders(signedIn, "resting");
  const recent = useOrders(signedIn, "");
  const fills = useFills(signedIn);
  const liveFills = useLive((s) => s.fills);
  const [amending, setAmending] = useState<Order | null>(null);
  const [confirmAll, setConfirmAll] = useState(false);
  const cancelAll = useMutation({
    mutationFn: () => api("/api/v1/account/orders", { method: "DELETE" }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
      setConfirmAll(false);
    },
  });
  const allFills = useMemo(() => {
    const seen = new Set<string>();
    const out: Fill[] = [];
    for (const f of [...liveFills, ...(fills.data?.fills ?? [])]) {
      // The stream names a fill by Kalshi's trade id, the REST list by its fill id: the same
      // fill is recognised by its order, size and second instead.
      const key = fillKey(f);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(f);
    }
    return out;
  }, [liveFills, fills.data]);
  if (!signedIn) {
    return (
      <section className="page">
        <h1>Orders</h1>
        <p><Link to="/signin">Sign in</Link> to see and manage your orders.</p>
      </section>
    );
  }
  const openOrders = open.data?.orders ?? [];
  return (
    <section className="page">
      <h1>Orders</h1>
      <section aria-labelledby="open-title">
        <div className="card-head">
          <h2 id="open-title">Open orders</h2>
          <button type="button" className="danger" onClick={() => setConfirmAll(true)} disabled={openOrders.length === 0}>
            Cancel all
          </button>
        </div>
        {open.isError ? <ErrorMessage error={open.error} what="Open orders" /> : open.isPending ? <Loading what="orders" /> : <OrderRows orders={openOrders} open onAmend={setAmending} />}
      </section>
      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Recent orders</h2>
        {recent.isError ? <ErrorMessage error={recent.error} what="Recent orders" /> : recent.isPending ? <Loading what="orders" /> : <OrderRows orders={(recent.data?.orders ?? []).slice(0, 50)} open={false} onAmend={setAmending} />}
      </section>
      <section aria-labelledby="fills-title">
        <h2 id="fills-title">Fills</h2>
        {fills.isError && liveFills.length === 0 ? (
          <ErrorMessage error={fills.error} what="Fills" />
        ) : fills.isPending && liveFills.length === 0 ? (
          <Loading what="fills" />
        ) : (
          <FillRows fills={allFills} />
        )}
      </section>
      <AmendDialog order={amending} onDone={() => setAmending(null)} />
      <Dialog open={confirmAll} title="Cancel all open orders?" onClose={() => setConfirmAll(false)}>
        <p>This cancels {openOrders.length} open order(s).</p>
        {cancelAll.isError ? <p role="alert" className="error-message">{describeError(cancelAll.error)}</p> : null}
        <div className="actions">
          <button type="button" className="danger" onClick={() => cancelAll.mutate()} disabled={cancelAll.isPending}>Cancel all orders</button>
          <button type="button" onClick={() => setConfirmAll(false)}>Keep them</button>
        </div>
      </Dialog>
    </section>
  );
}
