"""Local stand-ins for services that have no official emulator (the Kalshi exchange)."""
