"""Kalshi Trade API v2: exact units, RSA-PSS signing, REST and WebSocket clients."""
