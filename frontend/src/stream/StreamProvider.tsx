/**
 * Opens the one stream for the whole app and lets screens say which markets they show.
 *
 * Screens call {@link useWatchMarkets}; the union of what mounted screens watch is the
 * stream's `markets` list. A stream event that changes an account figure also marks the
 * matching REST queries stale, so a page that shows the REST answer catches up.
 */
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useMemo, useRef, type ReactNode } from "react";
import { create } from "zustand";

import { useSignedIn } from "../api/hooks";
import { StreamConnection } from "./connection";
import { useLive } from "./store";

interface Watched {
  counts: Record<string, number>;
  add: (tickers: readonly string[]) => void;
  remove: (tickers: readonly string[]) => void;
}

const useWatched = create<Watched>()((set) => ({
  counts: {},
  add: (tickers) =>
    set((state) => {
      const counts = { ...state.counts };
      for (const t of tickers) counts[t] = (counts[t] ?? 0) + 1;
      return { counts };
    }),
  remove: (tickers) =>
    set((state) => {
      const counts = { ...state.counts };
      for (const t of tickers) counts[t] = (counts[t] ?? 1) - 1;
      return { counts: Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)) };
    }),
}));

/** Ask the stream for live prices of these markets while the calling component is mounted. */
export function useWatchMarkets(tickers: readonly string[]): void {
  const key = [...tickers].sort().join(",");
  useEffect(() => {
    const list = key ? key.split(",") : [];
    useWatched.getState().add(list);
    return () => useWatched.getState().remove(list);
  }, [key]);
}

const ConnectionContext = createContext<StreamConnection | null>(null);

export function useStreamConnection(): StreamConnection | null {
  return useContext(ConnectionContext);
}

const MAX_WATCHED = 200;

export function StreamProvider({ children }: { children: ReactNode }) {
  const connectionRef = useRef<StreamConnection | null>(null);
  const queryClient = useQueryClient();
  if (connectionRef.current === null && typeof EventSource !== "undefined") {
    connectionRef.current = new StreamConnection({
      receive: (event) => {
        useLive.getState().receive(event);
        if (event.type === "fill" || event.type === "order_update") {
          void queryClient.invalidateQueries({ queryKey: ["orders"] });
          if (event.type === "fill") void queryClient.invalidateQueries({ queryKey: ["fills"] });
        }
      },
      setConnection: (state, detail) => useLive.getState().setConnection(state, detail),
    });
  }
  const connection = connectionRef.current;
  const counts = useWatched((state) => state.counts);
  const markets = useMemo(() => Object.keys(counts).sort().slice(0, MAX_WATCHED), [counts]);
  const started = useRef(false);
  // The stream is a signed-in user's (it authenticates with the session cookie): open it
  // on sign-in, close it on sign-out.
  const signedIn = useSignedIn();

  useEffect(() => {
    if (!connection) return;
    if (!signedIn) {
      if (started.current) connection.stop();
      started.current = false;
      useLive.getState().setConnection("off", "Sign in to receive live positions and prices.");
      return;
    }
    if (!started.current) {
      started.current = true;
      connection.start(markets);
    } else {
      connection.setMarkets(markets);
    }
  }, [connection, markets, signedIn]);

  useEffect(
    () => () => {
      connection?.stop();
      started.current = false;
    },
    [connection],
  );

  return <ConnectionContext.Provider value={connection}>{children}</ConnectionContext.Provider>;
}
