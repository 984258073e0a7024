"""Per-subscription ``seq`` bookkeeping: is this message the one after the last?

Kalshi numbers the messages of each subscription (``sid``) that carry ``seq``: the
``orderbook_snapshot`` sets the counter (1 on a fresh subscription) and every following delta
must be exactly one more. Anything else means messages were lost or reordered, and a local
book built from them is wrong. The tracker only answers the question; the client decides what
to do (report a :class:`~shared.kalshi.ws.messages.SequenceGap`, invalidate books).

Command replies (``ok``, ``unsubscribed``) also carry a ``seq``. The spec does not say whether
that number is taken from the subscription's counter or merely reports it, so after a reply
whose ``seq`` is ``last + 1`` the next data message may be either that number or the one after
it (decision 0032).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Gap", "SequenceTracker"]


@dataclass(frozen=True)
class Gap:
    sid: int
    expected: int
    got: int


class SequenceTracker:
    """Last seen ``seq`` per ``sid``. Not thread-safe; one per connection."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self._reply_seq: dict[int, int] = {}

    def last(self, sid: int) -> int | None:
        return self._last.get(sid)

    def reset(self, sid: int, seq: int) -> None:
        """A snapshot: whatever came before, counting restarts here."""
        self._last[sid] = seq
        self._reply_seq.pop(sid, None)

    def observe(self, sid: int, seq: int) -> Gap | None:
        """Record a sequenced data message; return the gap if it is not ``last + 1``.

        After a gap counting continues from ``seq`` so one loss is reported once, not on
        every following message.
        """
        last = self._last.get(sid)
        self._last[sid] = seq
        reply_seq = self._reply_seq.pop(sid, None)
        if last is None:
            return None
        if seq == last + 1:
            return None
        if reply_seq is not None and seq == reply_seq + 1:
            return None
        return Gap(sid=sid, expected=last + 1, got=seq)

    def observe_reply(self, sid: int, seq: int) -> None:
        """A command reply carrying ``seq``; see the module docstring for the tolerance."""
        last = self._last.get(sid)
        if last is not None and seq == last + 1:
            self._reply_seq[sid] = seq

    def forget(self, sid: int) -> None:
        self._last.pop(sid, None)
        self._reply_seq.pop(sid, None)
