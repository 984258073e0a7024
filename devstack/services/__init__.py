"""Services that ``kalshi-insights up`` starts, one module each, in dependency order."""
