"""Fixtures that run the Kalshi exchange simulator over loopback (filled in by the simulator work)."""
