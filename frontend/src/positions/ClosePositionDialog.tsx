import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, describeError } from "../api/client";
import type { Position } from "../api/types";
import { Dialog } from "../components/Dialog";
import { parse, sub, toFixed, tryParse, compare } from "../lib/decimal";
import { cents, contracts, sideLabel } from "../lib/format";

const SLIPPAGE = parse("0.05");
const FLOOR = parse("0.01");

/** Default worst price: the held side's bid less five cents, never below one cent. */
export function defaultWorstPrice(position: Position): string {
  const bid = tryParse(position.best_bid ?? position.mark);
  if (bid === null) return "0.0100";
  const worst = sub(bid, SLIPPAGE);
  return toFixed(compare(worst, FLOOR) < 0 ? FLOOR : worst, 4);
}

export function ClosePositionDialog({ position, onDone }: { position: Position | null; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [worst, setWorst] = useState("");
  const close = useMutation({
    mutationFn: (p: Position) =>
      api(`/api/v1/account/positions/${encodeURIComponent(p.ticker)}/close`, {
        method: "POST",
        body: { worst_price: worst || defaultWorstPrice(p) },
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["positions"] });
      void queryClient.invalidateQueries({ queryKey: ["portfolio"] });
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
      setWorst("");
      onDone();
    },
  });
  const value = position ? worst || defaultWorstPrice(position) : "";
  return (
    <Dialog open={position !== null} title="Close position" onClose={() => { close.reset(); setWorst(""); onDone(); }}>
      {position ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            close.mutate(position);
          }}
        >
          <p>
            Sell {contracts(position.contracts)} {sideLabel(position.side)} of <strong>{position.ticker}</strong> at no
            worse than <strong>{cents(value)}</strong> per contract.
          </p>
          <label>
            Worst price (dollars)
            <input
              inputMode="decimal"
              pattern="0?\.\d{1,4}"
              value={value}
              onChange={(event) => setWorst(event.target.value)}
              required
            />
          </label>
          {close.isError ? <p role="alert" className="error-message">{describeError(close.error)}</p> : null}
          <div className="actions">
            <button type="submit" className="danger" disabled={close.isPending}>
              {close.isPending ? "Closing…" : "Confirm close"}
            </button>
            <button type="button" onClick={() => { close.reset(); setWorst(""); onDone(); }}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}
