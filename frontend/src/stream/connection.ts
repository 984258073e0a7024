/**
 * Keeps one EventSource on `/api/v1/stream` open and recovers from every way it can drop.
 *
 * While the EventSource retries by itself (readyState CONNECTING) the browser resends
 * `Last-Event-ID` and the server resumes; we only show "reconnecting". When it gives up
 * (CLOSED: the server answered an error or not an event stream, e.g. while the streamer is
 * down) we open a new one after a backoff (1 s doubling to 30 s). A new EventSource cannot
 * send `Last-Event-ID`, and the stream accepts no other query than `markets`, so that one
 * starts with a fresh `snapshot`, which replaces the state whole (events.ts). Changing the
 * watched markets reconnects the same way (the stream's contract: reconnect to change them).
 */
import { EVENT_TYPES, parseData, type ConnectionState, type StreamEvent } from "./events";

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export interface StreamSink {
  receive: (event: StreamEvent) => void;
  setConnection: (state: ConnectionState, detail?: string | null) => void;
}

export interface StreamOptions {
  path?: string;
  factory?: EventSourceFactory;
  minDelayMs?: number;
  maxDelayMs?: number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const CLOSED = 2;
const GIVE_UP_SHOWING_YELLOW_AFTER = 3;

export function streamUrl(path: string, markets: readonly string[]): string {
  if (markets.length === 0) return path;
  return `${path}?${new URLSearchParams({ markets: [...markets].sort().join(",") })}`;
}

export class StreamConnection {
  private source: EventSourceLike | null = null;
  private timer: unknown = null;
  private attempts = 0;
  private markets: string[] = [];
  private stopped = true;
  private readonly path: string;
  private readonly factory: EventSourceFactory;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(
    private readonly sink: StreamSink,
    options: StreamOptions = {},
  ) {
    this.path = options.path ?? "/api/v1/stream";
    this.factory = options.factory ?? ((url) => new EventSource(url, { withCredentials: true }));
    this.minDelay = options.minDelayMs ?? 1000;
    this.maxDelay = options.maxDelayMs ?? 30_000;
    this.setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  }

  start(markets: readonly string[] = []): void {
    this.stopped = false;
    this.markets = [...markets];
    this.open();
  }

  /** Watch other markets: reconnect at once, resuming from the last id. */
  setMarkets(markets: readonly string[]): void {
    const next = [...new Set(markets)].sort();
    if (next.join(",") === [...this.markets].sort().join(",")) return;
    this.markets = next;
    if (!this.stopped) this.open();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer();
    this.source?.close();
    this.source = null;
  }

  /** Drop the stream now and reconnect (the indicator's "reconnect" button, tests). */
  reconnect(): void {
    if (this.stopped) return;
    this.attempts = 0;
    this.open();
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }

  private open(): void {
    this.cancelTimer();
    this.source?.close();
    const source = this.factory(streamUrl(this.path, this.markets));
    this.source = source;
    if (this.attempts === 0) this.sink.setConnection("connecting");
    source.onopen = () => {
      if (this.source !== source) return;
      this.attempts = 0;
      this.sink.setConnection("connected");
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === CLOSED) {
        this.scheduleReopen();
      } else {
        this.sink.setConnection("reconnecting", "The stream dropped; the browser is reconnecting.");
      }
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message: MessageEvent) => {
        if (this.source !== source) return;
        const id = message.lastEventId ? String(message.lastEventId) : null;
        this.sink.receive({ type, id, data: parseData(String(message.data)) });
      });
    }
  }

  private scheduleReopen(): void {
    this.source?.close();
    this.source = null;
    if (this.stopped) return;
    const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempts);
    this.attempts += 1;
    // A few quick failures are a blip ("reconnecting", yellow); more mean the stream is down.
    this.sink.setConnection(
      this.attempts > GIVE_UP_SHOWING_YELLOW_AFTER ? "disconnected" : "reconnecting",
      `The stream is unavailable; retrying in ${Math.round(delay / 1000)} s (attempt ${this.attempts}).`,
    );
    this.timer = this.setTimer(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, delay);
  }
}
