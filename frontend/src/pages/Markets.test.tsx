import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { useLive } from "../stream/store";
import { json, mockFetch, renderWithApp } from "../test/render";
import Markets from "./Markets";

const markets = [
  { ticker: "KX-A", event_ticker: "KX", status: "active", title: "Will A happen?", yes_bid_dollars: "0.4700", yes_ask_dollars: "0.4900", last_price_dollars: "0.4800", volume_fp: "1200.00", change_24h_dollars: "0.0200" },
  { ticker: "KX-B", event_ticker: "KX", status: "active", title: "Will B happen?", yes_bid_dollars: "0.1000", yes_ask_dollars: "0.1200", last_price_dollars: "0.1100", volume_fp: "300.00", change_24h_dollars: "-0.0100" },
];

beforeEach(() => useLive.getState().reset());
afterEach(() => vi.unstubAllGlobals());

describe("Markets", () => {
  it("lists markets, lays live prices over them and badges a held market with its P&L", async () => {
    mockFetch((url) => {
      if (url.startsWith("/api/v1/markets?")) return json(200, { markets, next_cursor: null });
      if (url.endsWith("/account/me")) return json(200, { id: "u", key_id: "k…", kalshi_environment: "local" });
      if (url.endsWith("/account/positions")) return json(200, { positions: [{ ticker: "KX-B", side: "no", contracts: "5.00", unrealized_pnl: "-0.4000" }] });
      if (url.endsWith("/account/portfolio")) return json(200, {});
      return undefined;
    });
    renderWithApp(<Markets />);
    const rowA = (await screen.findByText("Will A happen?")).closest("tr") as HTMLElement;
    expect(within(rowA).getByText("47¢")).toBeInTheDocument();
    act(() => useLive.getState().receive({ type: "market_update", id: "1", data: { ticker: "KX-A", yes_bid_dollars: "0.5100" } }));
    expect(within(rowA).getByText("51¢")).toBeInTheDocument();
    const rowB = screen.getByText("Will B happen?").closest("tr") as HTMLElement;
    expect(await within(rowB).findByTitle("You hold this market")).toHaveTextContent("You hold NO · -$0.40");
  });

  it("sends the search and sort to the API and marks the sorted column", async () => {
    const calls = mockFetch((url) => (url.startsWith("/api/v1/markets?") ? json(200, { markets, next_cursor: null }) : undefined));
    renderWithApp(<Markets />);
    await screen.findByText("Will A happen?");
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Search"), "rain");
    await user.click(screen.getByRole("button", { name: /Closes/ }));
    const last = calls.filter((c) => c.url.startsWith("/api/v1/markets?")).at(-1);
    const params = new URL(last!.url, "http://x").searchParams;
    expect(params.get("q")).toBe("rain");
    expect(params.get("sort")).toBe("close_time");
    expect(params.get("order")).toBe("asc");
    expect(screen.getByRole("columnheader", { name: /Closes/ })).toHaveAttribute("aria-sort", "ascending");
  });

  it("shows the API's message when the markets API fails", async () => {
    mockFetch((url) => (url.startsWith("/api/v1/markets?") ? json(503, { error: "unavailable", message: "The database is not answering." }) : undefined));
    renderWithApp(<Markets />);
    expect(await screen.findByRole("alert", {}, { timeout: 5000 })).toHaveTextContent("Markets: The database is not answering.");
  });
});
