"""A stand-in for Google's Cloud SQL connector that hands pg8000 a socket the same way.

The real connector's synchronous path opens ``socket.create_connection((ip, 3307))`` with
no timeout, wraps it in TLS and calls ``pg8000.dbapi.connect(user, database=..., sock=sock,
**kwargs)`` (google/cloud/sql/connector/pg8000.py), passing ``timeout`` along, which pg8000
ignores for a socket it did not open. This one does the same minus TLS, so the engine's
creator path meets the same blocking socket the connector would give it.
"""

from __future__ import annotations

import socket
from typing import Any

import pg8000.dbapi


class SocketHandingConnector:
    def __init__(self, port: int, **kwargs: Any) -> None:
        self.port = port
        self.init_kwargs = kwargs
        self.connects: list[dict[str, Any]] = []
        self.closed = False

    def connect(self, instance: str, driver: str, **kwargs: Any) -> Any:
        assert driver == "pg8000"
        self.connects.append(kwargs)
        kwargs = dict(kwargs)
        kwargs["timeout"] = kwargs.get("timeout", self.init_kwargs.get("timeout", 30))
        sock = socket.create_connection(("127.0.0.1", self.port))  # no timeout, as upstream
        user = kwargs.pop("user")
        database = kwargs.pop("db")
        password = kwargs.pop("password", None)
        try:
            return pg8000.dbapi.connect(
                user, database=database, password=password, sock=sock, **kwargs
            )
        except Exception:
            sock.close()
            raise

    def close(self) -> None:
        self.closed = True
