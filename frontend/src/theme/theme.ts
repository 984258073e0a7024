/** Light and dark themes: the system's choice until the user picks one (kept in localStorage). */
import { create } from "zustand";

export type Theme = "light" | "dark";
const KEY = "ki-theme";

function initial(): Theme {
  const saved = typeof localStorage !== "undefined" ? localStorage.getItem(KEY) : null;
  if (saved === "light" || saved === "dark") return saved;
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export const useTheme = create<{ theme: Theme; toggle: () => void }>()((set, get) => ({
  theme: initial(),
  toggle: () => {
    const theme: Theme = get().theme === "dark" ? "light" : "dark";
    localStorage.setItem(KEY, theme);
    document.documentElement.dataset.theme = theme;
    set({ theme });
  },
}));

export function applyTheme(): void {
  document.documentElement.dataset.theme = useTheme.getState().theme;
}
