"""The Server-Sent Events wire format, byte for byte (WHATWG HTML, "server-sent events").

An event is a block of ``field: value`` lines ended by one blank line::

    id: 1764370000000-42
    event: position_update
    data: {"ticker":"KXBTC-25","contracts":"3.00"}

A line starting with ``:`` is a comment: browsers ignore it, proxies see traffic, so it is
the heartbeat. ``retry: <ms>`` sets how long a browser waits before it reconnects; sent at
shutdown it asks for a quick reconnect to the next instance.

Data is compact JSON, which has no raw newlines; a value with a newline is still framed
correctly (one ``data:`` line per line). Ids and event names must not contain a newline or
NUL (a browser would split or drop them), so those are refused instead of being written.
"""

from __future__ import annotations

__all__ = [
    "HEARTBEAT",
    "SseFormatError",
    "comment",
    "encode_event",
    "retry",
]


class SseFormatError(ValueError):
    """An id or event name that cannot be framed (a newline, carriage return or NUL)."""


_FORBIDDEN = ("\n", "\r", "\0")


def _check(what: str, value: str) -> None:
    if any(ch in value for ch in _FORBIDDEN):
        raise SseFormatError(f"an SSE {what} cannot contain a newline or NUL")


def encode_event(event: str, data: str, event_id: str | None = None) -> bytes:
    """One event: ``id:`` (when given), ``event:``, one ``data:`` line per line, blank line."""
    _check("event name", event)
    parts: list[str] = []
    if event_id is not None:
        _check("id", event_id)
        parts.append(f"id: {event_id}\n")
    parts.append(f"event: {event}\n")
    if "\n" in data or "\r" in data:
        lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        parts.extend(f"data: {line}\n" for line in lines)
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts).encode()


def comment(text: str = "") -> bytes:
    """A comment line (``: text``) ending its own block; browsers ignore it."""
    _check("comment", text)
    return f": {text}\n\n".encode() if text else b":\n\n"


def retry(milliseconds: int) -> bytes:
    """``retry: <ms>``: the browser's reconnection delay from now on."""
    if milliseconds < 0:
        raise SseFormatError("an SSE retry delay cannot be negative")
    return f"retry: {milliseconds}\n\n".encode()


HEARTBEAT = comment("heartbeat")
"""The comment sent when a stream has been quiet for the heartbeat interval."""
