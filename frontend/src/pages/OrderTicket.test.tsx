import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { json, mockFetch, renderWithApp } from "../test/render";
import { grossCost, OrderTicket, ticketProblem } from "./OrderTicket";

afterEach(() => vi.unstubAllGlobals());

describe("order ticket", () => {
  it("checks its fields and computes the gross cost exactly", () => {
    expect(ticketProblem("10", "0.45")).toBeNull();
    expect(ticketProblem("0", "0.45")).toMatch(/positive/);
    expect(ticketProblem("10", "1.20")).toMatch(/below 1/);
    expect(grossCost("3", "0.4700")).toBe("1.4100");
    expect(grossCost("7.5", "0.33")).toBe("2.4750");
  });

  it("shows the server's preview and places the order with the CSRF header", async () => {
    document.cookie = "ki_csrf=c1";
    const calls = mockFetch((url, init) => {
      if (url.endsWith("/account/settings")) return json(200, { pnl_alerts: { enabled: false }, trading_enabled: true });
      if (url.endsWith("/orders/preview")) {
        const charge = (fee: string) => ({ trade_fee: fee, rounding_fee: "0", rebate: "0", total_fee: fee, balance_change: "-4.67" });
        return json(200, { cost: "4.500000", proceeds: "0.000000", max_cost: "4.500000", taker: charge("0.173300"), maker: charge("0.043400") });
      }
      if (url.endsWith("/account/orders") && init?.method === "POST") return json(201, { id: "o1", status: "resting" });
      return undefined;
    });
    renderWithApp(<OrderTicket ticker="KX-A" />);
    const user = userEvent.setup();
    await user.clear(await screen.findByLabelText("Contracts"));
    await user.type(screen.getByLabelText("Contracts"), "10");
    await user.clear(screen.getByLabelText("Limit price ($)"));
    await user.type(screen.getByLabelText("Limit price ($)"), "0.45");
    await waitFor(() => expect(screen.getByTestId("preview-fee")).toHaveTextContent("$0.1733 if it fills at once, $0.0434 if it rests"));
    expect(screen.getByTestId("preview-cost")).toHaveTextContent("$4.5000");
    await user.click(screen.getByRole("button", { name: "Buy YES" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Order placed (resting)");
    const placed = calls.find((c) => c.url.endsWith("/account/orders") && c.init?.method === "POST");
    expect(JSON.parse(String(placed?.init?.body))).toEqual({ ticker: "KX-A", side: "yes", action: "buy", count: "10", price: "0.45", time_in_force: "good_till_canceled" });
    expect((placed?.init?.headers as Record<string, string>)["X-CSRF-Token"]).toBe("c1");
  });

  it("offers to turn trading on when it is off", async () => {
    const calls = mockFetch((url, init) => {
      if (url.endsWith("/account/settings") && init?.method === "PUT") return json(200, { ...JSON.parse(String(init.body)) });
      if (url.endsWith("/account/settings")) return json(200, { pnl_alerts: { enabled: true }, trading_enabled: false, max_order_contracts: "100.00", max_order_dollars: "100.00" });
      return undefined;
    });
    renderWithApp(<OrderTicket ticker="KX-A" />);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Turn on trading" }));
    expect(await screen.findByLabelText("Contracts")).toBeInTheDocument();
    const put = calls.find((c) => c.init?.method === "PUT");
    expect(JSON.parse(String(put?.init?.body))).toEqual({ pnl_alerts: { enabled: true }, trading_enabled: true, max_order_contracts: "100.00", max_order_dollars: "100.00" });
  });

  it("says why when the trading API is not there", async () => {
    mockFetch(() => undefined);
    renderWithApp(<OrderTicket ticker="KX-A" />);
    expect(await screen.findByRole("alert")).toHaveTextContent(/Preview: no service handles/);
  });
});
