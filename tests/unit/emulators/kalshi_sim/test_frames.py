"""``ws_frame``: every outgoing WebSocket frame, keys in Kalshi's order per frame type."""

from __future__ import annotations

import json

from emulators.kalshi_sim.frames import encode, error_frame, ws_frame


def test_data_frames_lead_with_type_then_sid_seq_msg() -> None:
    body = encode({"market_ticker": "T", "price": "0.5%"})
    assert ws_frame("trade", body, 3) == '{"type":"trade","sid":3,"msg":' + body + "}"
    assert ws_frame("orderbook_delta", body, 2, 9) == (
        '{"type":"orderbook_delta","sid":2,"seq":9,"msg":' + body + "}"
    )


def test_subscribed_writes_id_only_when_the_command_had_one() -> None:
    msg = encode({"channel": "ticker", "sid": 1})
    assert ws_frame("subscribed", msg, cmd_id=4) == '{"type":"subscribed","id":4,"msg":' + msg + "}"
    assert ws_frame("subscribed", msg) == '{"type":"subscribed","msg":' + msg + "}"


def test_replies_lead_with_id_and_ok_always_carries_it() -> None:
    assert ws_frame("ok", "[]") == '{"id":null,"type":"ok","msg":[]}'
    assert ws_frame("ok", None, 1, 5, cmd_id=2) == '{"id":2,"sid":1,"seq":5,"type":"ok"}'
    assert ws_frame("unsubscribed", None, 1, 0) == '{"sid":1,"seq":0,"type":"unsubscribed"}'
    assert ws_frame("unsubscribed", None, 1, 0, cmd_id=8) == (
        '{"id":8,"sid":1,"seq":0,"type":"unsubscribed"}'
    )


def test_error_frames() -> None:
    assert error_frame(None, 25, sid=4) == (
        '{"sid":4,"type":"error","msg":{"code":25,"msg":"Subscription buffer overflow"}}'
    )
    frame = error_frame(7, 16, market_ticker="NOPE")
    assert list(json.loads(frame)) == ["id", "type", "msg"]
    assert json.loads(frame)["msg"] == {
        "code": 16,
        "msg": "Market not found",
        "market_ticker": "NOPE",
    }
