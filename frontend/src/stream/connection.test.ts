// @vitest-environment node
import { describe, expect, it } from "vitest";

import type { ConnectionState, StreamEvent } from "./events";
import { StreamConnection, streamUrl, type EventSourceLike } from "./connection";

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  listeners = new Map<string, ((event: MessageEvent) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  emit(type: string, data: unknown, id = ""): void {
    for (const listener of this.listeners.get(type) ?? []) {
      listener(new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id }));
    }
  }
  fail(closed: boolean): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event("error"));
  }
}

function harness() {
  const sources: FakeSource[] = [];
  const states: ConnectionState[] = [];
  const events: StreamEvent[] = [];
  const timers: { callback: () => void; ms: number }[] = [];
  const connection = new StreamConnection(
    {
      receive: (event) => events.push(event),
      setConnection: (state) => states.push(state),
    },
    {
      factory: (url) => {
        const source = new FakeSource(url);
        sources.push(source);
        return source;
      },
      setTimer: (callback, ms) => {
        timers.push({ callback, ms });
        return timers.length;
      },
      clearTimer: () => undefined,
    },
  );
  return { connection, sources, states, events, timers };
}

describe("streamUrl", () => {
  it("sorts the markets and sends nothing else (the stream refuses other parameters)", () => {
    expect(streamUrl("/api/v1/stream", ["B", "A"])).toBe("/api/v1/stream?markets=A%2CB");
    expect(streamUrl("/api/v1/stream", [])).toBe("/api/v1/stream");
  });
});

describe("StreamConnection", () => {
  it("opens, reports connected and forwards typed events with their ids", () => {
    const h = harness();
    h.connection.start(["M1"]);
    h.sources[0]!.open();
    h.sources[0]!.emit("position_update", { ticker: "A" }, "5");
    expect(h.states).toEqual(["connecting", "connected"]);
    expect(h.events).toEqual([{ type: "position_update", id: "5", data: { ticker: "A" } }]);
    expect(h.sources[0]!.url).toBe("/api/v1/stream?markets=M1");
  });

  it("while the browser retries by itself it shows reconnecting and keeps the same source", () => {
    const h = harness();
    h.connection.start();
    h.sources[0]!.open();
    h.sources[0]!.fail(false);
    expect(h.states.at(-1)).toBe("reconnecting");
    h.sources[0]!.open();
    expect(h.states.at(-1)).toBe("connected");
    expect(h.sources).toHaveLength(1);
  });

  it("when the source closes it reopens after a doubling backoff and shows red after a few failures", () => {
    const h = harness();
    h.connection.start();
    h.sources[0]!.open();
    h.sources[0]!.emit("snapshot", { positions: [] }, "10");
    h.sources[0]!.fail(true);
    expect(h.states.at(-1)).toBe("reconnecting");
    expect(h.timers.map((t) => t.ms)).toEqual([1000]);
    h.timers[0]!.callback();
    expect(h.sources[1]!.url).toBe("/api/v1/stream");
    h.sources[1]!.fail(true);
    h.timers[1]!.callback();
    h.sources[2]!.fail(true);
    h.timers[2]!.callback();
    h.sources[3]!.fail(true);
    expect(h.timers.map((t) => t.ms)).toEqual([1000, 2000, 4000, 8000]);
    expect(h.states.at(-1)).toBe("disconnected");
    h.timers[3]!.callback();
    h.sources[4]!.open();
    expect(h.states.at(-1)).toBe("connected");
  });

  it("changing the markets reconnects with the new list; the same list does nothing", () => {
    const h = harness();
    h.connection.start(["A"]);
    h.connection.setMarkets(["A"]);
    expect(h.sources).toHaveLength(1);
    h.connection.setMarkets(["B", "A"]);
    expect(h.sources).toHaveLength(2);
    expect(h.sources[0]!.closed).toBe(true);
    expect(h.sources[1]!.url).toBe("/api/v1/stream?markets=A%2CB");
  });

  it("ignores events from a source it already replaced, and stop closes", () => {
    const h = harness();
    h.connection.start(["A"]);
    h.connection.setMarkets(["B"]);
    h.sources[0]!.emit("fill", { ticker: "A" }, "1");
    expect(h.events).toEqual([]);
    h.connection.stop();
    expect(h.sources[1]!.closed).toBe(true);
  });
});
