"""Every worked example in docs/pnl.md is computed by shared.domain.pnl, number for number.

The page's fenced ``pnl`` blocks are a tiny language: input lines (``holding``, ``quote``,
``fill``, ``settle``, ``deposit``/``withdrawal``, ``portfolio``, ``curve``) and one
``expect`` line of ``name=value`` pairs. Numbers compare as Decimals (``1.53`` equals
``1.530000``), words as text; ``none`` means None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain import pnl

DOC = Path(__file__).resolve().parents[3] / "docs" / "pnl.md"
BLOCK = re.compile(r"```pnl\n(.*?)```", re.DOTALL)
START = datetime(2026, 6, 11, 13, 0, tzinfo=UTC)


def _blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def _pairs(words: list[str]) -> dict[str, str]:
    return dict(word.split("=", 1) for word in words)


def _num(pairs: dict[str, str], name: str, default: str = "0") -> Decimal:
    return Decimal(pairs.get(name, default))


def _run(block: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Execute one block; returns (computed figures, expected figures)."""
    lines = [line.split() for line in block.strip().splitlines() if line.strip()]
    expect = _pairs(lines[-1][1:])
    assert lines[-1][0] == "expect"
    kinds = {line[0] for line in lines[:-1]}
    if "holding" in kinds:
        h = _pairs(next(line for line in lines if line[0] == "holding")[1:])
        q = _pairs(next(line for line in lines if line[0] == "quote")[1:])
        valuation = pnl.value_position(
            pnl.Holding(
                "T",
                _num(h, "position"),
                _num(h, "exposure"),
                _num(h, "realized"),
                _num(h, "fees"),
            ),
            pnl.Quote(
                Decimal(q["yes_bid"]),
                Decimal(q["yes_ask"]),
                Decimal(q["last"]) if "last" in q else None,
                Decimal(q["settlement"]) if "settlement" in q else None,
            ),
        )
        got = {name: getattr(valuation, name) for name in valuation.__slots__}
        return got, expect
    if kinds <= {"deposit", "withdrawal"}:
        transfers = [
            pnl.Transfer(line[0], line[1], Decimal(line[2]), _num(_pairs(line[3:]), "fee"))  # type: ignore[arg-type]
            for line in lines[:-1]
        ]
        return {"net_transfers": pnl.net_transfers(transfers)}, expect
    if kinds == {"portfolio"}:
        p = _pairs(lines[0][1:])
        fake = pnl.value_position(
            pnl.Holding("T", Decimal(1), Decimal(0)),
            pnl.Quote(None, None, None, _num(p, "positions_value")),
        )
        summary = pnl.summarize_portfolio(
            _num(p, "cash"),
            [fake],
            pnl.BaselinePoint(_num(p, "baseline"), _num(p, "baseline_transfers")),
            _num(p, "transfers_now"),
        )
        return {name: getattr(summary, name) for name in summary.__slots__}, expect
    if kinds == {"curve"}:
        return {"max_drawdown": pnl.max_drawdown(Decimal(v) for v in lines[0][1:])}, expect
    fills: list[pnl.FillRecord] = []
    settlements: list[pnl.SettlementRecord] = []
    for index, line in enumerate(lines[:-1]):
        when = START + timedelta(minutes=index)
        if line[0] == "fill":
            _, side, count, _at, price, *rest = line
            fee = _num(_pairs(rest), "fee")
            fills.append(pnl.FillRecord("T", when, side, Decimal(count), Decimal(price), fee))  # type: ignore[arg-type]
        else:
            s = _pairs(line[1:])
            settlements.append(
                pnl.SettlementRecord(
                    "T",
                    when,
                    _num(s, "revenue"),
                    _num(s, "yes_count"),
                    _num(s, "no_count"),
                    _num(s, "yes_cost"),
                    _num(s, "no_cost"),
                )
            )
    result = pnl.performance(fills, settlements, lambda ticker: ("S", "C"))
    replay = pnl.replay_fills(fills, settlements)
    position, exposure = replay.positions.get("T", (Decimal(0), Decimal(0)))
    got = {
        "position": position,
        "exposure": exposure,
        "realized_pnl": result.realized_pnl,
        "fees": result.fees,
        "net_pnl": result.net_pnl,
        "trades": len(result.trades),
        "wins": result.wins,
        "win_rate": result.win_rate,
        "max_drawdown": result.max_drawdown,
        "trade_net": result.trades[0].net_pnl if result.trades else None,
    }
    return got, expect


def _same(got: object, want: str) -> bool:
    if want == "none":
        return got is None
    if isinstance(got, Decimal | int) and not isinstance(got, bool):
        return Decimal(got) == Decimal(want)
    return str(got) == want


def test_the_page_has_its_examples() -> None:
    assert len(_blocks()) >= 14


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: b.strip().splitlines()[0][:40])
def test_worked_example(block: str) -> None:
    got, expect = _run(block)
    for name, want in expect.items():
        assert name in got, f"the example names {name!r}, which nothing computes"
        assert _same(got[name], want), f"{name}: page says {want}, code gives {got[name]}"
