import { act, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";

import { useLive } from "../stream/store";
import { renderWithApp } from "../test/render";
import { colourOf, ConnectionIndicator } from "./ConnectionIndicator";

beforeEach(() => useLive.getState().reset());

describe("ConnectionIndicator", () => {
  it("maps states to green, yellow and red", () => {
    expect(colourOf("connected")).toBe("green");
    expect(colourOf("reconnecting")).toBe("yellow");
    expect(colourOf("kalshi_reconnecting")).toBe("yellow");
    expect(colourOf("exchange_paused")).toBe("yellow");
    expect(colourOf("disconnected")).toBe("red");
  });

  it("names the state, follows it and opens the details on click", async () => {
    renderWithApp(<ConnectionIndicator />);
    act(() => useLive.getState().setConnection("reconnecting", "The stream dropped."));
    const button = screen.getByRole("button", { name: /Stream status: Reconnecting/ });
    expect(button).toHaveAttribute("title", "Stream: Reconnecting. The stream dropped.");
    act(() => useLive.getState().receive({ type: "connection_status", id: "5", data: { status: "connected", detail: null } }));
    expect(screen.getByRole("button", { name: /Stream status: Live/ })).toHaveClass("green");
    await userEvent.setup().click(screen.getByRole("button", { name: /Stream status: Live/ }));
    expect(screen.getByRole("heading", { name: "Connection details" })).toBeInTheDocument();
    expect(screen.getByText(/id 5/)).toBeInTheDocument();
  });
});
