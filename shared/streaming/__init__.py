"""What the streamer's two halves share: the Server-Sent Events wire format and the
position-event contract between the tracker (Kalshi sockets, P&L) and the fan-out (browsers).

- :mod:`~shared.streaming.sse`: one event, comment or ``retry:`` line, byte for byte;
- :mod:`~shared.streaming.events`: :class:`~shared.streaming.events.StreamEvent`, its ids,
  the narrow interfaces the halves meet at, and its ``position-events`` envelope.
"""
