import { useQueryClient } from "@tanstack/react-query";
import { Link, NavLink } from "react-router-dom";

import { api, describeError } from "../api/client";
import { useMe } from "../api/hooks";
import { money } from "../lib/format";
import { useAccountLive } from "../positions/useAccountLive";
import { useLive } from "../stream/store";
import { useTheme } from "../theme/theme";
import { ConnectionIndicator } from "./ConnectionIndicator";
import { Pnl } from "./Pnl";

function Figure({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="figure">
      <span className="figure-label">{label}</span>
      <span className="figure-value">{children}</span>
    </div>
  );
}

/** Always on top: the account's figures, navigation, the stream's state, theme, sign in/out. */
export function PortfolioBar({ onTogglePositions }: { onTogglePositions: () => void }) {
  const me = useMe();
  const { signedIn, portfolio, portfolioQuery } = useAccountLive();
  const queryClient = useQueryClient();
  const { theme, toggle } = useTheme();
  return (
    <header className="portfolio-bar">
      <div className="brand">
        <button type="button" className="drawer-toggle" onClick={onTogglePositions} aria-label="Show or hide positions">
          ☰
        </button>
        <Link to="/markets" className="brand-name">
          Kalshi Insights
        </Link>
      </div>
      <nav aria-label="Main">
        <NavLink to="/markets">Markets</NavLink>
        <NavLink to="/orders">Orders</NavLink>
        <NavLink to="/performance">Performance</NavLink>
        <NavLink to="/backtests">Backtests</NavLink>
      </nav>
      <section className="figures" aria-label="Portfolio">
        {signedIn && portfolio ? (
          <>
            <Figure label="Total value">{money(portfolio.total_value)}</Figure>
            <Figure label="Cash">{money(portfolio.cash)}</Figure>
            <Figure label="Today">
              <Pnl dollars={portfolio.today_pnl} pct={portfolio.today_pnl_pct} />
            </Figure>
            <Figure label="Unrealized">
              <Pnl dollars={portfolio.unrealized_pnl} />
            </Figure>
            <Figure label="Realized">
              <Pnl dollars={portfolio.realized_pnl} />
            </Figure>
            <Figure label="Positions">{portfolio.position_count ?? "–"}</Figure>
          </>
        ) : signedIn && portfolioQuery.isError ? (
          <span role="alert" className="error-inline">
            Portfolio: {describeError(portfolioQuery.error)}
          </span>
        ) : me.isError ? (
          <span role="alert" className="error-inline">
            Accounts: {describeError(me.error)}
          </span>
        ) : null}
      </section>
      <div className="bar-actions">
        <ConnectionIndicator />
        {signedIn ? (
          <button
            type="button"
            onClick={() => void queryClient.invalidateQueries()}
            aria-label="Refresh account figures"
            title="Refresh"
          >
            ↻
          </button>
        ) : null}
        <button type="button" onClick={toggle} aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}>
          {theme === "dark" ? "☀" : "☾"}
        </button>
        {signedIn ? <SignOut /> : <Link to="/signin" className="button">Sign in</Link>}
      </div>
    </header>
  );
}

function SignOut() {
  const queryClient = useQueryClient();
  return (
    <button
      type="button"
      onClick={async () => {
        try {
          await api("/api/v1/account/logout", { method: "DELETE" });
        } finally {
          useLive.getState().reset();
          queryClient.clear();
        }
      }}
    >
      Sign out
    </button>
  );
}
