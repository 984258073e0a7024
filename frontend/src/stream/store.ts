/**
 * The live state from `GET /api/v1/stream`, in one Zustand store.
 *
 * Server state that is fetched (markets, runs, orders pages) lives in TanStack Query; what
 * arrives pushed lives here, folded by {@link applyEvent}. The connection (`connection.ts`)
 * feeds `receive` and `setConnection`; components read slices with selectors.
 */
import { create } from "zustand";

import { applyEvent, initialState, type ConnectionState, type LiveState, type StreamEvent } from "./events";

export interface LiveStore extends LiveState {
  receive: (event: StreamEvent) => void;
  setConnection: (state: ConnectionState, detail?: string | null) => void;
  reset: () => void;
}

export const useLive = create<LiveStore>()((set) => ({
  ...initialState(),
  receive: (event) => set((state) => applyEvent(state, event, Date.now())),
  setConnection: (connection, detail = null) => set({ connection, connectionDetail: detail }),
  reset: () => set(initialState()),
}));
