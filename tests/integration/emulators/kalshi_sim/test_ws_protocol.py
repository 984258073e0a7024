"""The simulator's WebSocket speaks Kalshi's protocol, checked with a plain WS client.

(The project's own client is paired with the simulator in tests/integration/kalshi/ws/.)
"""

from __future__ import annotations

import asyncio
import json
import socket
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.uri import parse_uri

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer

pytestmark = pytest.mark.integration

WS_PATH = "/trade-api/ws/v2"
WAIT = 10.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def frames_until(ws: ClientConnection, predicate: Any) -> list[dict[str, Any]]:
    """Read frames until one satisfies ``predicate``; returns all of them."""
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        seen.append(frame)
        if predicate(frame):
            return seen


async def barrier(ws: ClientConnection, cmd_id: int) -> list[dict[str, Any]]:
    """``list_subscriptions`` is answered in order, after everything already queued."""
    await ws.send(json.dumps({"id": cmd_id, "cmd": "list_subscriptions"}))
    return await frames_until(ws, lambda f: f.get("id") == cmd_id and f["type"] == "ok")


def open_tickers(simulator: Any, n: int) -> list[str]:
    body = httpx.get(
        simulator.base_url + "/markets", params={"status": "open", "limit": 200}
    ).json()
    return [mk["ticker"] for mk in body["markets"] if mk["yes_bid_dollars"] != "0.0000"][:n]


def test_handshake_requires_a_valid_signature(simulator: Any, sim_account: Any) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as unsigned:
            async with connect(simulator.ws_url):
                pass
        assert unsigned.value.response.status_code == 401
        bad = sim_account.signer.headers("GET", "/trade-api/v2/portfolio/balance")
        with pytest.raises(InvalidStatus) as wrong:
            async with connect(simulator.ws_url, additional_headers=bad):
                pass
        assert wrong.value.response.status_code == 401
        assert (
            json.loads(wrong.value.response.body)["error"]["details"]
            == "INCORRECT_API_KEY_SIGNATURE"
        )

    run(scenario())


def test_command_errors_use_kalshis_codes(simulator: Any, sim_account: Any) -> None:
    async def scenario() -> None:
        headers = sim_account.signer.headers("GET", WS_PATH)
        async with connect(simulator.ws_url, additional_headers=headers) as ws:
            [ticker] = open_tickers(simulator, 1)
            cases = [
                ("{not json", 1),
                (json.dumps({"id": 2, "cmd": "subscribe"}), 2),
                (json.dumps({"id": 3, "cmd": "subscribe", "params": {}}), 3),
                (json.dumps({"id": 4, "cmd": "unsubscribe", "params": {}}), 4),
                (json.dumps({"id": 5, "cmd": "dance", "params": {}}), 5),
                (json.dumps({"id": 6, "cmd": "unsubscribe", "params": {"sids": [4242]}}), 7),
                (
                    json.dumps(
                        {"id": 7, "cmd": "subscribe", "params": {"channels": ["ticker_v2"]}}
                    ),
                    8,
                ),
                (
                    json.dumps(
                        {
                            "id": 8,
                            "cmd": "update_subscription",
                            "params": {"sids": [1, 2], "action": "add_markets"},
                        }
                    ),
                    12,
                ),
                (
                    json.dumps(
                        {
                            "id": 9,
                            "cmd": "update_subscription",
                            "params": {"sid": 77, "action": "jump"},
                        }
                    ),
                    13,
                ),
                (
                    json.dumps(
                        {"id": 10, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}
                    ),
                    14,
                ),
                (json.dumps({"id": 11, "cmd": "update_subscription", "params": {"sid": 77}}), 15),
                (
                    json.dumps(
                        {
                            "id": 12,
                            "cmd": "subscribe",
                            "params": {"channels": ["ticker"], "market_tickers": ["NOPE-1"]},
                        }
                    ),
                    16,
                ),
                (
                    json.dumps(
                        {
                            "id": 13,
                            "cmd": "subscribe",
                            "params": {
                                "channels": ["ticker"],
                                "market_ticker": ticker,
                                "market_tickers": [ticker],
                            },
                        }
                    ),
                    11,
                ),
            ]
            for text, code in cases:
                await ws.send(text)
                frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert frame["type"] == "error", (text, frame)
                assert frame["msg"]["code"] == code, (text, frame)
            # The connection survives bad commands.
            assert (await barrier(ws, 99))[-1] == {"id": 99, "type": "ok", "msg": []}

    run(scenario())


def test_orderbook_subscription_snapshot_deltas_and_get_snapshot(
    simulator: Any, sim_account: Any
) -> None:
    async def scenario() -> None:
        tickers = open_tickers(simulator, 3)
        headers = sim_account.signer.headers("GET", WS_PATH)
        async with connect(simulator.ws_url, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {
                            "channels": ["orderbook_delta", "ticker"],
                            "market_tickers": tickers,
                        },
                    }
                )
            )
            frames = await barrier(ws, 2)
            subscribed = [f for f in frames if f["type"] == "subscribed"]
            assert [f["msg"]["channel"] for f in subscribed] == ["orderbook_delta", "ticker"]
            sid = subscribed[0]["msg"]["sid"]
            snapshots = [f for f in frames if f["type"] == "orderbook_snapshot"]
            assert [f["seq"] for f in snapshots] == [1, 2, 3]
            books: dict[str, dict[tuple[str, Decimal], Decimal]] = {}
            for snap in snapshots:
                book = books.setdefault(snap["msg"]["market_ticker"], {})
                for side in ("yes", "no"):
                    for price, size in snap["msg"].get(f"{side}_dollars_fp", []):
                        book[(side, Decimal(price))] = Decimal(size)
            seqs = [3]
            for round_id in range(3, 9):
                await asyncio.to_thread(simulator.advance, 25)
                for frame in await barrier(ws, round_id):
                    if frame["type"] == "orderbook_delta":
                        assert frame["sid"] == sid
                        seqs.append(frame["seq"])
                        msg = frame["msg"]
                        key = (msg["side"], Decimal(msg["price_dollars"]))
                        book = books[msg["market_ticker"]]
                        book[key] = book.get(key, Decimal(0)) + Decimal(msg["delta_fp"])
                        assert book[key] >= 0
                        if book[key] == 0:
                            del book[key]
                    elif frame["type"] == "ticker":
                        assert "seq" not in frame
            assert len(seqs) > 3, "no deltas in 150 ticks"
            assert seqs == list(range(3, 3 + len(seqs))), "seq must be consecutive per sid"
            # The book rebuilt from deltas equals REST's and a fresh get_snapshot.
            for ticker in tickers:
                rest = httpx.get(f"{simulator.base_url}/markets/{ticker}/orderbook").json()[
                    "orderbook_fp"
                ]
                expected = {
                    (side, Decimal(p)): Decimal(c)
                    for side in ("yes", "no")
                    for p, c in rest[f"{side}_dollars"]
                }
                assert books[ticker] == expected
            await ws.send(
                json.dumps(
                    {
                        "id": 20,
                        "cmd": "update_subscription",
                        "params": {
                            "sids": [sid],
                            "market_tickers": [tickers[0]],
                            "action": "get_snapshot",
                        },
                    }
                )
            )
            snap = (await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot"))[-1]
            assert snap["seq"] == seqs[-1] + 1
            await ws.send(
                json.dumps(
                    {
                        "id": 21,
                        "cmd": "update_subscription",
                        "params": {
                            "sid": sid,
                            "market_tickers": [tickers[0]],
                            "action": "delete_markets",
                        },
                    }
                )
            )
            ok = (await frames_until(ws, lambda f: f.get("id") == 21))[-1]
            assert ok["type"] == "ok" and ok["msg"]["market_tickers"] == sorted(tickers[1:])
            await ws.send(json.dumps({"id": 22, "cmd": "unsubscribe", "params": {"sids": [sid]}}))
            gone = (await frames_until(ws, lambda f: f.get("id") == 22))[-1]
            assert gone["type"] == "unsubscribed" and gone["sid"] == sid

    run(scenario())


def test_skip_seq_fault_leaves_a_detectable_gap(simulator: Any, sim_account: Any) -> None:
    async def scenario() -> None:
        tickers = open_tickers(simulator, 5)
        headers = sim_account.signer.headers("GET", WS_PATH)
        async with connect(simulator.ws_url, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {"channels": ["orderbook_delta"], "market_tickers": tickers},
                    }
                )
            )
            await barrier(ws, 2)
            await asyncio.to_thread(simulator.set_faults, ws_skip_seq=1)
            seqs = []
            for round_id in range(3, 12):
                await asyncio.to_thread(simulator.advance, 20)
                seqs += [
                    f["seq"] for f in await barrier(ws, round_id) if f["type"] == "orderbook_delta"
                ]
                if len(seqs) >= 3:
                    break
            await asyncio.to_thread(simulator.set_faults)
            assert seqs[0] == len(tickers) + 2, "the first delta after the snapshots was swallowed"

    run(scenario())


def test_fills_and_positions_over_ws_agree_with_rest(simulator: Any, sim_account: Any) -> None:
    async def scenario() -> None:
        headers = sim_account.signer.headers("GET", WS_PATH)
        async with connect(simulator.ws_url, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {"channels": ["fill", "market_positions"]},
                    }
                )
            )
            await barrier(ws, 2)
            for _ in range(5):
                await asyncio.to_thread(simulator.fill, sim_account.key_id)
            frames = await barrier(ws, 3)
        fills = [f["msg"] for f in frames if f["type"] == "fill"]
        positions = {
            f["msg"]["market_ticker"]: f["msg"] for f in frames if f["type"] == "market_position"
        }
        assert len(fills) == 5
        path = "/trade-api/v2/portfolio/positions"
        rest = httpx.get(
            simulator.origin + path, headers=sim_account.signer.headers("GET", path)
        ).json()
        by_ticker = {p["ticker"]: p for p in rest["market_positions"]}
        for ticker, ws_pos in positions.items():
            if Decimal(ws_pos["position_fp"]) == 0 and ticker not in by_ticker:
                continue
            rest_pos = by_ticker[ticker]
            assert Decimal(ws_pos["position_fp"]) == Decimal(rest_pos["position_fp"])
            assert Decimal(ws_pos["position_cost_dollars"]) == Decimal(
                rest_pos["market_exposure_dollars"]
            )
            assert Decimal(ws_pos["fees_paid_dollars"]) == Decimal(rest_pos["fees_paid_dollars"])
            assert Decimal(ws_pos["realized_pnl_dollars"]) == Decimal(
                rest_pos["realized_pnl_dollars"]
            )
        last_fill = fills[-1]
        assert Decimal(last_fill["post_position_fp"]) == Decimal(
            positions[last_fill["market_ticker"]]["position_fp"]
        )

    run(scenario())


def test_heartbeat_pings_and_ws_drop_fault() -> None:
    config = SimConfig(seed=3, n_markets=30, tick_interval_s=None, ws_ping_interval_s=0.2)
    with SimulatorServer(config) as sim:
        key_id, pem = sim.create_account(100)
        from shared.kalshi.signing import KalshiSigner

        signer = KalshiSigner.from_pem(key_id, pem)
        # Raw sans-I/O client, so the Ping frames themselves are visible.
        protocol = ClientProtocol(parse_uri(sim.ws_url))
        request = protocol.connect()
        request.headers.update(signer.headers("GET", WS_PATH))
        with socket.create_connection(("127.0.0.1", sim.port), timeout=WAIT) as sock:
            protocol.send_request(request)
            sock.sendall(b"".join(protocol.data_to_send()))
            pings: list[bytes] = []
            while len(pings) < 2:
                protocol.receive_data(sock.recv(65536))
                for event in protocol.events_received():
                    if getattr(event, "opcode", None) is Opcode.PING:
                        pings.append(bytes(event.data))
                sock.sendall(b"".join(protocol.data_to_send()))  # our pongs
        assert pings == [b"heartbeat", b"heartbeat"]

        async def dropped() -> None:
            async with connect(sim.ws_url, additional_headers=signer.headers("GET", WS_PATH)) as ws:
                await asyncio.to_thread(sim.set_faults, ws_drop=True)
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), WAIT)

        run(dropped())
