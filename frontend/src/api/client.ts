/**
 * The one way the dashboard talks to the API: same origin, cookies, JSON both ways.
 *
 * Every failure becomes an {@link ApiError} carrying the server's `{"error", "message"}` (or a
 * made-up one for a network failure), so every screen can show a sentence instead of a blank
 * page. State-changing requests echo the readable `ki_csrf` cookie in `X-CSRF-Token`
 * (double-submit); the session cookie itself is httpOnly and never seen by this code.
 */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds from a `Retry-After` header (429, 503), when the server sent one. */
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, retryAfter: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** The account, trading or stream API is not deployed (yet) on this origin. */
  get notAvailable(): boolean {
    return this.status === 404 && this.code === "not_found";
  }
}

export const CSRF_COOKIE = "ki_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
}

function retryAfterSeconds(response: Response): number | null {
  const header = response.headers.get("Retry-After");
  if (header === null) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

async function errorFrom(response: Response): Promise<ApiError> {
  const retryAfter = retryAfterSeconds(response);
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}`.trim() + ".";
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object") {
      const record = body as Record<string, unknown>;
      if (typeof record.error === "string") code = record.error;
      if (typeof record.message === "string") message = record.message;
    }
  } catch {
    // Not JSON (a proxy's HTML page): keep the generic sentence.
  }
  return new ApiError(response.status, code, message, retryAfter);
}

/** `fetch` an `/api/v1` path and return its JSON body (or null for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (STATE_CHANGING.has(method)) {
    const token = readCookie(CSRF_COOKIE);
    if (token) headers[CSRF_HEADER] = token;
  }
  let response: Response;
  try {
    response = await fetch(path.startsWith("/") ? path : `/api/v1/${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The server could not be reached. Check that the stack is running.");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** A sentence for any error a query or mutation may throw. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
      return `Too many attempts.${wait}`;
    }
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
