"""Everything the WebSocket stack raises, in one place.

The client's errors share :class:`KalshiWSError` so a reconnect loop catches one type (with
``OSError``) for any way a session can end. :class:`OrderBookError` is deliberately not one of
them: it is a ``ValueError`` about one snapshot or delta that cannot be applied to a local
book, which the client turns into a :class:`~shared.kalshi.ws.messages.BookInvalidated` event
instead of ending the session.
"""

from __future__ import annotations

from shared.kalshi.ws.messages import WsErrorCode

__all__ = [
    "KalshiWSCommandError",
    "KalshiWSConnectionClosed",
    "KalshiWSError",
    "KalshiWSHandshakeError",
    "KalshiWSTimeout",
    "OrderBookError",
]


class KalshiWSError(Exception):
    """Base class for everything this client raises."""


class KalshiWSHandshakeError(KalshiWSError):
    """The HTTP upgrade was refused (401 bad signature, 403, 502 during maintenance...)."""

    def __init__(self, status: int, error_code: str | None) -> None:
        self.status = status
        self.error_code = error_code
        detail = f" ({error_code})" if error_code else ""
        super().__init__(f"Kalshi refused the WebSocket handshake: HTTP {status}{detail}")


class KalshiWSCommandError(KalshiWSError):
    """Kalshi answered a command with ``{"type":"error","msg":{"code":..,"msg":..}}``."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        command_id: int | None = None,
        cmd: str | None = None,
        market_ticker: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.command_id = command_id
        self.cmd = cmd
        self.market_ticker = market_ticker
        where = f" for {market_ticker}" if market_ticker else ""
        super().__init__(
            f"{cmd or 'command'} #{command_id}: error {code} {self.name}{where}: {message}"
        )

    @property
    def name(self) -> str:
        """The code's name from the spec table (``UNKNOWN_CHANNEL_NAME``), or ``UNKNOWN_<n>``."""
        try:
            return WsErrorCode(self.code).name
        except ValueError:
            return f"UNKNOWN_{self.code}"


class KalshiWSTimeout(KalshiWSError, TimeoutError):
    """No complete reply to a command within the timeout."""


class KalshiWSConnectionClosed(KalshiWSError):
    """The connection is gone. ``by_client`` tells a :meth:`close` from a server drop."""

    def __init__(self, code: int | None, reason: str, *, by_client: bool = False) -> None:
        self.code = code
        self.reason = reason
        self.by_client = by_client
        who = "client" if by_client else "server or network"
        super().__init__(f"Kalshi WebSocket closed by {who} (code {code}): {reason or '-'}")


class OrderBookError(ValueError):
    """A snapshot or delta that cannot be applied to this book."""
