import { lazy, Suspense, useState } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router-dom";

import { Boundary } from "./components/Boundary";
import { PortfolioBar } from "./components/PortfolioBar";
import { PositionsPanel } from "./positions/PositionsPanel";

// Every screen is its own chunk: the first page loads only the shell and the page it shows.
const SignIn = lazy(() => import("./pages/SignIn"));
const Markets = lazy(() => import("./pages/Markets"));
const MarketDetail = lazy(() => import("./pages/MarketDetail"));
const Orders = lazy(() => import("./pages/Orders"));
const Performance = lazy(() => import("./pages/Performance"));
const Backtests = lazy(() => import("./pages/Backtests"));
const BacktestRun = lazy(() => import("./pages/BacktestRun"));
const CompareRuns = lazy(() => import("./pages/BacktestRun").then((m) => ({ default: m.CompareRuns })));

export function App() {
  const [drawer, setDrawer] = useState(false);
  const location = useLocation();
  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Boundary what="The portfolio bar">
        <PortfolioBar onTogglePositions={() => setDrawer(!drawer)} />
      </Boundary>
      <div className="body">
        <Boundary what="The positions panel">
          <PositionsPanel open={drawer} onClose={() => setDrawer(false)} />
        </Boundary>
        <main id="main" tabIndex={-1}>
          <Boundary what="This screen" resetKey={location.pathname}>
            <Suspense fallback={<p className="muted page" role="status">Loading…</p>}>
              <Routes>
                <Route path="/" element={<Navigate to="/markets" replace />} />
                <Route path="/signin" element={<SignIn />} />
                <Route path="/markets" element={<Markets />} />
                <Route path="/markets/:ticker" element={<MarketDetail />} />
                <Route path="/orders" element={<Orders />} />
                <Route path="/performance" element={<Performance />} />
                <Route path="/backtests" element={<Backtests />} />
                <Route path="/backtests/compare" element={<CompareRuns />} />
                <Route path="/backtests/:id" element={<BacktestRun />} />
                <Route path="*" element={<section className="page"><h1>Not found</h1><p>No screen lives at {location.pathname}.</p></section>} />
              </Routes>
            </Suspense>
          </Boundary>
        </main>
      </div>
    </div>
  );
}
