// Shared pieces of the browser tests: the local stack, Debian's chromium, axe-core, screenshots.
//
// Run through `make test` (or `make screenshots`), from frontend/ so that playwright-core and
// axe-core resolve from frontend/node_modules. Nothing here downloads a browser: chromium is
// the Debian package at /usr/bin/chromium (CHROMIUM overrides the path).
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(REPO, "frontend", "package.json"));
const { chromium } = require("playwright-core");
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
export const SCREENSHOTS = process.env.SCREENSHOTS === "1";
const SCREENSHOT_DIR = join(REPO, "docs", "screenshots");
const READY_TIMEOUT_MS = 240_000;

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * `kalshi-insights up` on free ports with a throwaway state directory, as a process group
 * so stop() ends every service it started. Resolves once the gateway answers and the first
 * poll has stored markets.
 */
export async function startStack() {
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), "ki-e2e-"));
  const launcher = join(REPO, ".venv", "bin", "kalshi-insights");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KALSHI_")));
  const child = spawn(
    launcher,
    ["up", "--port", String(port), "--state-dir", stateDir, "--poll-every", "5s", "--sim-markets", "40"],
    { cwd: REPO, env: { ...env, PYTHONUNBUFFERED: "1" }, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const origin = `http://127.0.0.1:${port}`;
  const stack = {
    origin,
    stateDir,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          /* already gone */
        }
        const exited = new Promise((done) => child.once("exit", done));
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            /* already gone */
          }
        }, 60_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!output.includes("Dashboard: ")) {
    if (child.exitCode !== null) throw new Error(`kalshi-insights up exited:\n${output}`);
    if (Date.now() > deadline) {
      await stack.stop();
      throw new Error(`kalshi-insights up not ready after ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await sleep(250);
  }
  while (true) {
    const body = await fetchJson(`${origin}/api/v1/markets?limit=5`).catch(() => null);
    if (body?.markets?.length) break;
    if (Date.now() > deadline) {
      await stack.stop();
      throw new Error(`no market was polled in time:\n${output}`);
    }
    await sleep(1000);
  }
  return stack;
}

export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

export async function fetchJson(url, init = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw Object.assign(new Error(`${response.status} ${text}`), { status: response.status, body });
  return body;
}

/**
 * Whether an API the stack may not run yet answers, asked without a session: a route that
 * exists refuses (401, 403) or answers; a 404 (the gateway's "no service handles", or the
 * function's own for a path it has no route for) means it is not there yet.
 */
export async function apiAnswers(origin, path, method = "GET") {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: method === "GET" ? {} : { "Content-Type": "application/json", Origin: origin },
    body: method === "GET" ? undefined : "{}",
  });
  await response.body?.cancel();
  return response.status !== 404;
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** A fresh page that fails the test on an uncaught script error. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  // API refusals seen by the page, for the failure message of a test that times out.
  page.apiErrors = [];
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith("/api/") && response.status() >= 400) {
      page.apiErrors.push(`${response.status()} ${response.request().method()} ${url.pathname}`);
    }
  });
  return page;
}

/** axe-core, injected: the serious and critical violations on the page as it is now. */
export async function seriousViolations(page) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Save a screenshot for the README, only under `make screenshots`. */
export async function shot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

const execFileAsync = promisify(execFile);

/** A new funded simulator account ({key_id, private_key_pem}) on the running stack. */
export async function demoAccount(stack) {
  const { stdout } = await execFileAsync(join(REPO, ".venv", "bin", "kalshi-insights"), ["demo-account", "--state-dir", stack.stateDir], { cwd: REPO });
  return JSON.parse(stdout);
}

/** The simulator's admin origin, from the stack's remembered ports. */
export function simulatorOrigin(stack) {
  const ports = JSON.parse(readFileSync(join(stack.stateDir, "ports.json"), "utf8"));
  return `http://127.0.0.1:${ports.simulator}`;
}

/** Run `body`; when it fails, add what the page saw (script errors, API refusals) to the error. */
export async function explained(page, body) {
  try {
    return await body();
  } catch (error) {
    error.message += `\npage errors: ${JSON.stringify(page.errors)}\nAPI refusals: ${JSON.stringify(page.apiErrors.slice(-20))}`;
    throw error;
  }
}
