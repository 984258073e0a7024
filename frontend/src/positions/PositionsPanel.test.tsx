import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { Position } from "../api/types";
import { useLive } from "../stream/store";
import { json, mockFetch, renderWithApp } from "../test/render";
import { PositionsPanel } from "./PositionsPanel";

const me = { id: "u1", key_id: "abcd…wxyz", kalshi_environment: "local" };

function position(ticker: string, pnl = "1.2500"): Position {
  return { ticker, side: "yes", contracts: "10.00", average_entry_price: "0.4000", mark: "0.5250", best_bid: "0.5200", unrealized_pnl: pnl, unrealized_pnl_pct: "31.25", market_title: `Title ${ticker}` };
}

beforeEach(() => useLive.getState().reset());
afterEach(() => vi.unstubAllGlobals());

function signedIn(positions: Position[], extra: (url: string, init?: RequestInit) => Response | undefined = () => undefined) {
  return mockFetch((url, init) => {
    if (url.endsWith("/account/me")) return json(200, me);
    if (url.endsWith("/account/positions")) return json(200, { positions, last_updated: "2026-11-28T12:00:00Z", stale: false });
    if (url.endsWith("/account/portfolio")) return json(200, { total_value: "1000.0000", cash: "900.0000", baseline_value: "990.0000", net_transfers_since_baseline: "0.0000" });
    if (url.endsWith("/account/settings")) return json(200, { pnl_alerts: { enabled: false, loss_dollars: null, gain_dollars: null, loss_percent: null, gain_percent: null } });
    return extra(url, init);
  });
}

describe("PositionsPanel", () => {
  it("asks a signed-out visitor to sign in", async () => {
    mockFetch((url) => (url.endsWith("/account/me") ? json(401, { error: "unauthenticated", message: "sign in" }) : undefined));
    renderWithApp(<PositionsPanel open />);
    expect(await screen.findByRole("link", { name: "Sign in" })).toBeInTheDocument();
  });

  it("says so when the account service is missing, instead of a blank panel", async () => {
    mockFetch(() => undefined);
    renderWithApp(<PositionsPanel open />);
    expect(await screen.findByRole("alert")).toHaveTextContent(/Accounts are unavailable: no service handles/);
  });

  it("shows REST positions, then the stream's, flashing the one that changed", async () => {
    signedIn([position("AAA"), position("BBB")]);
    renderWithApp(<PositionsPanel open />);
    const card = await screen.findByRole("article", { name: "Position AAA" });
    expect(within(card).getByText("+$1.25 (+31.25%)")).toBeInTheDocument();
    expect(within(card).getByText(/10 @ 40¢ · now 52.5¢/)).toBeInTheDocument();
    act(() => {
      useLive.getState().receive({ type: "snapshot", id: "1", data: { positions: [position("AAA"), position("CCC")], portfolio: {} } });
    });
    expect(screen.queryByRole("article", { name: "Position BBB" })).toBeNull();
    act(() => {
      useLive.getState().receive({ type: "position_update", id: "2", data: position("AAA", "-0.5000") });
    });
    const changed = screen.getByRole("article", { name: "Position AAA" });
    expect(changed).toHaveClass("changed");
    expect(within(changed).getByText("-$0.50 (+31.25%)")).toBeInTheDocument();
    expect(screen.getByRole("article", { name: "Position CCC" })).not.toHaveClass("changed");
  });

  it("virtualises above 50 positions and shows the empty state at none", async () => {
    signedIn([]);
    renderWithApp(<PositionsPanel open />);
    expect(await screen.findByText(/No open positions/)).toBeInTheDocument();
    act(() => {
      const many = Array.from({ length: 60 }, (_, i) => position(`T${String(i).padStart(2, "0")}`));
      useLive.getState().receive({ type: "snapshot", id: "1", data: { positions: many, portfolio: {} } });
    });
    expect(document.querySelector("[data-virtualised='true']")).not.toBeNull();
    expect(screen.queryAllByRole("article").length).toBeLessThan(60);
  });

  it("sets a P&L alert on a card, keeping the other settings, and notifies when it is crossed", async () => {
    const shown: { title: string; body?: string }[] = [];
    class FakeNotification {
      static permission = "granted";
      static requestPermission = vi.fn(async () => "granted");
      readonly title: string;
      constructor(title: string, options?: { body?: string }) {
        this.title = title;
        shown.push({ title, body: options?.body });
      }
    }
    vi.stubGlobal("Notification", FakeNotification);
    let stored: Record<string, unknown> = {
      pnl_alerts: { enabled: false, loss_dollars: "20.00", gain_dollars: null, loss_percent: null, gain_percent: null, positions: {} },
      trading_enabled: true,
    };
    const calls = mockFetch((url, init) => {
      if (url.endsWith("/account/me")) return json(200, me);
      if (url.endsWith("/account/positions")) return json(200, { positions: [position("AAA", "-1.0000")], last_updated: "2026-11-28T12:00:00Z", stale: false });
      if (url.endsWith("/account/portfolio")) return json(200, { total_value: "1000.0000", cash: "900.0000", baseline_value: "990.0000", net_transfers_since_baseline: "0.0000" });
      if (url.endsWith("/account/settings")) {
        if (init?.method === "PUT") stored = JSON.parse(String(init.body)) as Record<string, unknown>;
        return json(200, stored);
      }
      return undefined;
    });
    renderWithApp(<PositionsPanel open />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Set a P&L alert for AAA" }));
    const dialog = screen.getByRole("dialog", { name: "P&L alert for AAA" });
    const amount = within(dialog).getByLabelText(/loss or gain of/);
    await user.type(amount, "abc");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    expect(within(dialog).getByRole("alert")).toHaveTextContent(/positive amount/);
    await user.clear(amount);
    await user.type(amount, "5");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    const put = calls.find((c) => c.url.endsWith("/account/settings") && c.init?.method === "PUT");
    expect(JSON.parse(String(put?.init?.body))).toEqual({
      pnl_alerts: { enabled: true, loss_dollars: "20.00", gain_dollars: null, loss_percent: null, gain_percent: null, positions: { AAA: "5" } },
      trading_enabled: true,
    });
    expect(await screen.findByRole("button", { name: "P&L alert for AAA: at $5" })).toHaveTextContent("Alert ±$5");
    act(() => {
      useLive.getState().receive({ type: "snapshot", id: "1", data: { positions: [position("AAA", "-4.0000")], portfolio: {} } });
    });
    expect(shown).toEqual([]);
    act(() => {
      useLive.getState().receive({ type: "position_update", id: "2", data: position("AAA", "-5.5000") });
    });
    expect(shown).toEqual([{ title: "P&L alert", body: "AAA: P&L fell to -5.5000 (alert at a $5 loss)." }]);
    expect(screen.getByRole("status")).toHaveTextContent("AAA: P&L fell to -5.5000");
    act(() => {
      useLive.getState().receive({ type: "position_update", id: "3", data: position("AAA", "-6.0000") });
    });
    expect(shown).toHaveLength(1);
  });

  it("the portfolio alerts dialog keeps the per-position thresholds when it saves", async () => {
    const settings = {
      pnl_alerts: { enabled: true, loss_dollars: null, gain_dollars: null, loss_percent: null, gain_percent: null, positions: { AAA: "5.00" } },
    };
    const calls = signedIn([position("AAA")], (url, init) => (url.endsWith("/account/settings") && init?.method === "PUT" ? json(200, JSON.parse(String(init.body))) : undefined));
    calls.length = 0;
    const original = globalThis.fetch;
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).endsWith("/account/settings") && init?.method !== "PUT" ? json(200, settings) : original(input, init),
    );
    renderWithApp(<PositionsPanel open />);
    const user = userEvent.setup();
    expect(await screen.findByRole("button", { name: "P&L alert for AAA: at $5.00" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "P&L alerts" }));
    const dialog = screen.getByRole("dialog", { name: "P&L alerts" });
    await user.type(within(dialog).getByLabelText("Loss of ($)"), "30");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    const put = calls.find((c) => c.url.endsWith("/account/settings") && c.init?.method === "PUT");
    expect(JSON.parse(String(put?.init?.body)).pnl_alerts).toEqual({ ...settings.pnl_alerts, loss_dollars: "30" });
  });

  it("closes a position after confirming the worst price", async () => {
    const calls = signedIn([position("AAA")], (url, init) =>
      url.endsWith("/positions/AAA/close") && init?.method === "POST" ? json(201, { order_id: "o1" }) : undefined,
    );
    renderWithApp(<PositionsPanel open />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Close position AAA" }));
    expect(screen.getByText(/no worse than/)).toHaveTextContent("47¢");
    await user.click(screen.getByRole("button", { name: "Confirm close" }));
    const call = calls.find((c) => c.url.endsWith("/positions/AAA/close"));
    expect(JSON.parse(String(call?.init?.body))).toEqual({ worst_price: "0.4700" });
  });
});
