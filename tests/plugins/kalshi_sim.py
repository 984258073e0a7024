"""Fixtures that run the Kalshi exchange simulator over loopback."""
