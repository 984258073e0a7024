"""The local stack: launcher and CLI (``kalshi-insights``) that run the system on one machine."""
