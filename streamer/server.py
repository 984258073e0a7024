"""Running the app on uvicorn, with SIGTERM turned into "reconnect elsewhere" for browsers.

uvicorn's graceful shutdown waits for open responses to finish, and an SSE response never
finishes by itself. So the first thing a SIGTERM (or SIGINT) does here is end every stream
with ``retry:`` (:meth:`streamer.service.StreamerService.begin_shutdown`); the connections
then drain at once, the lifespan's stop flushes the cache and closes the Kalshi sockets, and
the process exits well within Cloud Run's 10 s.
"""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn

from streamer.app import create_app
from streamer.service import StreamerService

__all__ = ["StreamerServer", "server_for"]

log = logging.getLogger(__name__)


class StreamerServer(uvicorn.Server):
    """uvicorn's server whose exit signal first closes every stream."""

    def __init__(self, config: uvicorn.Config, service: StreamerService) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        log.info("signal %s: closing streams, then stopping", sig)
        self.service.begin_shutdown()
        super().handle_exit(sig, frame)


def server_for(
    service: StreamerService, host: str, port: int, *, graceful_s: float = 5.0
) -> StreamerServer:
    """A server for ``service`` on ``host:port`` (not started)."""
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(graceful_s),
        timeout_keep_alive=5,
    )
    return StreamerServer(config, service)
