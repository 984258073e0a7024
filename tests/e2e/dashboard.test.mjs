// The dashboard in Debian's chromium against the whole local stack (`kalshi-insights up`).
//
// What exists today is driven for real: the markets table, a market page with its chart and
// order book, a backtest from the form through its progress bar to its results, two runs side
// by side, clear messages where an API is missing, and axe-core on every page. The account,
// stream and trading cases run once their APIs answer on the stack; until then each is
// skipped with the reason (probed, never assumed).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { startCutter } from "./cutter.mjs";
import {
  apiAnswers,
  explained,
  demoAccount,
  fetchJson,
  launchBrowser,
  newPage,
  seriousViolations,
  shot,
  simulatorOrigin,
  sleep,
  startStack,
} from "./support.mjs";

let stack;
let browser;
const figures = {};

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
}, { timeout: 300_000 });

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (Object.keys(figures).length) console.log(`e2e figures: ${JSON.stringify(figures)}`);
}, { timeout: 120_000 });

async function assertAccessible(page, what) {
  const violations = await seriousViolations(page);
  assert.deepEqual(violations, [], `${what}: serious or critical accessibility violations`);
}

async function firstMarket() {
  const body = await fetchJson(`${stack.origin}/api/v1/markets?status=open&sort=volume&limit=5`);
  return body.markets[0];
}

async function firstTicker() {
  return (await firstMarket()).ticker;
}

describe("today's screens", () => {
  it("the markets table lists polled markets, searches and sorts", async () => {
    const page = await newPage(browser);
    await page.goto(stack.origin);
    await page.waitForURL(/\/markets$/);
    const rows = page.locator("table.markets-table tbody tr");
    await rows.first().waitFor();
    assert.ok((await rows.count()) > 0);
    await shot(page, "markets");
    const ticker = await firstTicker();
    await page.getByLabel("Search").fill(ticker);
    await page.waitForFunction((t) => {
      const found = [...document.querySelectorAll("table.markets-table tbody tr")];
      return found.length >= 1 && found.every((row) => row.getAttribute("data-ticker").includes(t));
    }, ticker);
    await page.getByLabel("Search").fill("");
    await page.getByRole("button", { name: /Closes/ }).click();
    await page.locator("th[aria-sort='ascending']").waitFor();
    await assertAccessible(page, "markets");
    await page.getByRole("button", { name: "Switch to dark theme" }).click();
    await page.locator("html[data-theme='dark']").waitFor({ state: "attached" });
    await shot(page, "markets-dark");
    await assertAccessible(page, "markets, dark theme");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  it("a market page draws its price chart, switches interval and shows the order book", async () => {
    const page = await newPage(browser);
    const market = await firstMarket();
    const ticker = market.ticker;
    await page.goto(`${stack.origin}/markets`);
    await page.locator(`tr[data-ticker="${ticker}"] a`).click();
    await page.waitForURL(new RegExp(`/markets/${ticker}$`));
    await page.getByRole("heading", { level: 1, name: market.title }).waitFor();
    assert.match(await page.locator("main").innerText(), new RegExp(`${ticker} · ${market.status}`));
    await page.locator("figure.chart canvas").first().waitFor();
    await page.getByRole("button", { name: "5m", exact: true }).click();
    await page.locator("button[aria-pressed='true']", { hasText: "5m" }).waitFor();
    await page.locator("figure.chart canvas").first().waitFor();
    await page.getByRole("button", { name: "Candles" }).click();
    await page.locator("figure.chart canvas").first().waitFor();
    await page.locator("caption", { hasText: "YES bids" }).waitFor();
    await shot(page, "market");
    await assertAccessible(page, "market page");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  it("a backtest runs from the form, with its progress bar, to its results; two runs side by side", async () => {
    const page = await newPage(browser);
    // Record whether a progress bar was ever on screen (a fast run may finish in between polls).
    await page.addInitScript(() => {
      window.__sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector("[role=progressbar]")) window.__sawProgress = true;
      }).observe(document, { subtree: true, childList: true });
    });
    const ticker = await firstTicker();
    const runIds = [];
    for (const lookback of ["1", "2"]) {
      await page.goto(`${stack.origin}/backtests`);
      await page.getByLabel("Strategy").selectOption("momentum");
      await page.getByLabel("lookback", { exact: true }).fill(lookback);
      await page.getByLabel("threshold", { exact: true }).fill("0.005");
      await page.getByLabel("exit threshold", { exact: true }).fill("0.005");
      await page.getByLabel("Tickers").fill(ticker);
      if (runIds.length === 0) {
        await shot(page, "backtests");
        await assertAccessible(page, "backtests form");
      }
      await page.getByRole("button", { name: "Run backtest" }).click();
      await page.waitForURL(/\/backtests\/[0-9a-f-]{36}$/);
      runIds.push(page.url().split("/").pop());
      await page.locator("[data-testid=run-status]", { hasText: /completed|failed/ }).waitFor({ timeout: 90_000 });
      assert.equal(await page.locator("[data-testid=run-status]").textContent(), "completed");
      assert.equal(await page.evaluate(() => window.__sawProgress), true, "the progress bar was shown");
      await page.locator("[data-testid=metrics]").waitFor();
      await page.getByRole("heading", { name: "Equity curve" }).waitFor();
      await page.getByRole("heading", { name: "Drawdown" }).waitFor();
    }
    await shot(page, "backtest-results");
    await assertAccessible(page, "backtest results");

    await page.goto(`${stack.origin}/backtests`);
    for (const id of runIds) await page.getByLabel(`Compare run ${id.slice(0, 8)}`).check();
    await page.getByRole("button", { name: "Compare the two ticked runs" }).click();
    await page.waitForURL(/\/backtests\/compare\?/);
    await page.locator(".compare-column [data-testid=metrics]").nth(1).waitFor();
    await shot(page, "backtests-compare");
    await assertAccessible(page, "compare runs");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  it("a screen whose API fails shows a message, never a blank page", async () => {
    const page = await newPage(browser);
    await page.goto(`${stack.origin}/markets/NO-SUCH-MARKET-XYZ`);
    const alert = page.locator("main [role=alert]").first();
    await alert.waitFor();
    assert.match(await alert.textContent(), /NO-SUCH-MARKET-XYZ/);
    for (const path of ["/orders", "/performance"]) {
      await page.goto(`${stack.origin}${path}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      const text = await page.locator("main").innerText();
      assert.ok(text.trim().length > 20, `${path} shows something`);
      await assertAccessible(page, path);
    }
    await page.goto(`${stack.origin}/signin`);
    await shot(page, "signin");
    await assertAccessible(page, "sign in");
    await page.getByLabel("Key id").fill("not-a-key");
    await page.getByLabel(/Private key \(paste/).fill("not a pem");
    await page.getByRole("button", { name: "Sign in" }).click();
    const refusal = page.locator("main [role=alert]");
    await refusal.waitFor();
    assert.ok((await refusal.textContent()).length > 10);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
});

describe("accounts, the stream and trading (run once their APIs answer)", () => {
  let account;
  let page;
  let signedIn = false;
  // The signed-in browser talks to the stack through a proxy whose streams the test can cut.
  let cutter;
  let origin;

  before(async () => {
    cutter = await startCutter(stack.origin);
    origin = cutter.origin;
  });

  after(async () => {
    await page?.context().close();
    await cutter?.close();
  });

  async function requireAccount(t) {
    if (!(await apiAnswers(stack.origin, "/api/v1/account/authenticate", "POST"))) {
      t.skip("the account API (/api/v1/account) is not on the local stack yet");
      return false;
    }
    return true;
  }

  async function requireSignedIn(t) {
    if (!signedIn) {
      t.skip("no signed-in session (sign-in was skipped or failed)");
      return false;
    }
    return true;
  }

  it("signs in with a simulator demo account and shows its positions", async (t) => {
    if (!(await requireAccount(t))) return;
    account = await demoAccount(stack);
    const ticker = await firstTicker();
    await fetchJson(`${simulatorOrigin(stack)}/_sim/accounts/${account.key_id}/fill`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ticker }),
    });
    page = await newPage(browser);
    // Every state the connection indicator takes, in order (it may pass through quickly).
    await page.addInitScript(() => {
      window.__states = [];
      new MutationObserver(() => {
        const state = document.querySelector(".connection")?.getAttribute("data-state");
        if (state && window.__states.at(-1) !== state) window.__states.push(state);
      }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await page.goto(`${origin}/signin`);
    await page.getByLabel("Key id").fill(account.key_id);
    await page.getByLabel(/Private key \(paste/).fill(account.private_key_pem);
    const started = Date.now();
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".position-card").first().waitFor({ timeout: 15_000 });
    figures.sign_in_to_positions_ms = Date.now() - started;
    signedIn = true;
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes("PRIVATE KEY"), "the key never touches browser storage");
    await page.getByRole("region", { name: "Portfolio" }).getByText("Total value").waitFor();
    await shot(page, "positions");
    await assertAccessible(page, "signed in markets");
  });

  it("a P&L alert is set on a position card, kept in the user's settings, and removed", async (t) => {
    if (!(await requireSignedIn(t))) return;
    const card = page.locator(".position-card").first();
    const ticker = await card.getAttribute("data-ticker");
    await card.getByRole("button", { name: `Set a P&L alert for ${ticker}` }).click();
    const dialog = page.getByRole("dialog", { name: `P&L alert for ${ticker}` });
    await dialog.getByLabel(/loss or gain of/).fill("7.5");
    await assertAccessible(page, "a position's P&L alert");
    await dialog.getByRole("button", { name: "Save" }).click();
    // "7.50": the settings API's normalised amount, read back from the server.
    await card.getByRole("button", { name: `P&L alert for ${ticker}: at $7.50` }).waitFor();
    const settings = await page.evaluate(async () => (await fetch("/api/v1/account/settings")).json());
    assert.equal(settings.pnl_alerts.positions[ticker], "7.50");
    assert.equal(settings.pnl_alerts.enabled, true);
    await card.getByRole("button", { name: `P&L alert for ${ticker}: at $7.50` }).click();
    await dialog.getByRole("button", { name: "Remove alert" }).click();
    await card.getByRole("button", { name: `Set a P&L alert for ${ticker}` }).waitFor();
  });

  it("a simulated fill changes the P&L on screen within 2 s", async (t) => {
    if (!(await requireSignedIn(t))) return;
    if (!(await apiAnswers(stack.origin, "/api/v1/stream"))) return t.skip("the stream (/api/v1/stream) is not on the local stack yet");
    await page.locator(".connection[data-state='connected']").waitFor({ timeout: 15_000 });
    const before = await page.locator(".position-card").first().innerText();
    const ticker = await page.locator(".position-card").first().getAttribute("data-ticker");
    await fetchJson(`${simulatorOrigin(stack)}/_sim/accounts/${account.key_id}/fill`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ticker }),
    });
    const started = Date.now();
    await page.waitForFunction(
      ([t, text]) => document.querySelector(`.position-card[data-ticker="${t}"]`)?.innerText !== text,
      [ticker, before],
      { timeout: 2_000 },
    );
    figures.fill_to_screen_ms = Date.now() - started;
  });

  it("the stream is cut and the page reconnects by itself", async (t) => {
    if (!(await requireSignedIn(t))) return;
    if (!(await apiAnswers(stack.origin, "/api/v1/stream"))) return t.skip("the stream (/api/v1/stream) is not on the local stack yet");
    await page.locator(".connection[data-state='connected']").waitFor({ timeout: 15_000 });
    const seenBefore = await page.evaluate(() => window.__states.length);
    assert.ok(cutter.cutStreams() >= 1, "a stream was open to cut");
    await page.waitForFunction(
      (from) => window.__states.slice(from).some((s) => s === "reconnecting" || s === "disconnected"),
      seenBefore,
      { timeout: 15_000 },
    );
    await page.locator(".connection[data-state='connected']").waitFor({ timeout: 45_000 });
    assert.ok(cutter.openStreams() >= 1, "the page opened a new stream by itself");
    const before = await page.locator(".position-card").count();
    assert.ok(before >= 1, "positions are still shown after the reconnect");
  });

  it("an order is placed, amended and cancelled from the ticket", async (t) => {
    if (!(await requireSignedIn(t))) return;
    if (!(await apiAnswers(stack.origin, "/api/v1/account/orders"))) return t.skip("the orders API (/api/v1/account/orders) is not on the local stack yet");
    await explained(page, async () => {
      const ticker = await firstTicker();
      // In-app navigation, as a person would: the stream and the session stay as they are.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Markets" }).click();
      await page.getByLabel("Search").fill(ticker);
      await page.locator(`tr[data-ticker="${ticker}"] a`).click();
      const turnOn = page.getByRole("button", { name: "Turn on trading" });
      const ticket = page.getByLabel("Contracts");
      await turnOn.or(ticket).first().waitFor();
      if (await turnOn.isVisible()) await turnOn.click();
      await page.getByLabel("Contracts").fill("2");
      await page.getByLabel("Limit price ($)").fill("0.02");
      await page.locator("[data-testid=preview-fee]", { hasText: "if it rests" }).waitFor();
      await page.getByRole("heading", { name: "Order ticket" }).scrollIntoViewIfNeeded();
      await shot(page, "order-ticket");
      await page.getByRole("button", { name: "Buy YES" }).click();
      await page.getByText(/Order placed/).waitFor();
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Orders" }).click();
      const open = page.locator("section", { has: page.getByRole("heading", { name: "Open orders" }) });
      await open.getByRole("button", { name: `Amend order on ${ticker}` }).first().click();
      await page.getByLabel("New limit price ($)").fill("0.03");
      await page.getByRole("button", { name: "Amend", exact: true }).click();
      await open.locator("td").getByText("3¢", { exact: true }).first().waitFor();
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      // The fills of this account (the sign-in fills) are listed under the orders.
      await page.locator("section", { has: page.getByRole("heading", { name: "Fills" }) }).locator("tbody tr").first().waitFor();
      await shot(page, "orders");
      await assertAccessible(page, "orders");
      await page.getByRole("button", { name: `Cancel order on ${ticker}` }).first().click();
      await page.getByText("No open orders.").waitFor();
    });
  });

  it("a position is closed from its card", async (t) => {
    if (!(await requireSignedIn(t))) return;
    if (!(await apiAnswers(stack.origin, "/api/v1/account/positions/X/close", "POST"))) return t.skip("closing positions (/api/v1/account/positions/{ticker}/close) is not on the local stack yet");
    await explained(page, async () => {
      const card = page.locator(".position-card:has(button.quick-close)").first();
      const ticker = await card.getAttribute("data-ticker");
      await card.getByRole("button", { name: `Close position ${ticker}` }).click();
      await shot(page, "close-position");
      await page.getByRole("button", { name: "Confirm close" }).click();
      // Closed: the card goes, or stays flat with its realized P&L until the market settles.
      const closed = page.locator(`.position-card[data-ticker="${ticker}"]`);
      await page.waitForFunction(
        (t) => {
          const el = document.querySelector(`.position-card[data-ticker="${t}"]`);
          return el === null || el.textContent.includes("No contracts left");
        },
        ticker,
        { timeout: 15_000 },
      );
      assert.ok((await closed.count()) === 0 || (await closed.getByText("FLAT").count()) === 1);
    });
  });

  it("the performance page shows the account's realized P&L", async (t) => {
    if (!(await requireSignedIn(t))) return;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Performance" }).click();
    await page.locator(".tile-label", { hasText: "Realized P&L" }).waitFor();
    await shot(page, "performance");
    await assertAccessible(page, "performance");
    await sleep(0);
  });
});
