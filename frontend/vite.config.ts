/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The API and the stream live on the same origin as the dashboard (the gateway). In `npm run
// dev` Vite proxies /api to a running `kalshi-insights up` (KI_GATEWAY, default :8080).
const gateway = process.env.KI_GATEWAY ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    sourcemap: false,
    // Hashed file names under assets/: the gateway and the bucket cache them for a year.
    assetsDir: "assets",
    // scripts/check-bundle.mjs reads it to find what the first screen loads.
    manifest: true,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-router-dom"],
          query: ["@tanstack/react-query", "zustand"],
          charts: ["lightweight-charts"],
        },
      },
    },
  },
  server: { proxy: { "/api": { target: gateway, changeOrigin: false } } },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
