"""The simulator's world on disk, so a restart continues it instead of inventing a new one.

Without this, every start builds a fresh exchange from the seed and the wall clock: markets
that had closed open again with new times and the same volumes, and the history a poller
stored from the last run gets jumps. With ``--state-dir`` the whole exchange (markets,
books, volumes, candles, scheduled lifecycle, accounts, the seeded random generator) is
written to ``STATE_DIR/simulator-world.pickle`` every :data:`SAVE_INTERVAL_S` seconds and on
shutdown, and the next start loads it and brings its clock up to the wall clock (see
:meth:`Exchange.resume`). Why a snapshot and not a replay of ticks from a saved clock: see
the decision record on simulator persistence in ``docs/decisions``.

The file is a pickle, written 0600 into the user's own state directory; a file others may
write is refused, and loading resolves only the simulator's own classes (an allowlist), so
even a tampered file cannot name a function to run.
Anything unreadable (a damaged file, a file from an older simulator) costs the old world,
never a failed start: it is moved aside and a new world is built.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import stat
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from shared.kalshi.signing import load_public_key

__all__ = ["FORMAT", "SAVE_INTERVAL_S", "WORLD_FILE", "load_world", "save_world", "world_path"]

log = logging.getLogger("kalshi_sim.persist")

WORLD_FILE = "simulator-world.pickle"
# Bumped whenever the exchange's classes change shape: an older file is then set aside.
FORMAT = 4
SAVE_INTERVAL_S = 30.0
# Public trades kept across a restart (GET /trades pages over them); the rest is dropped so
# a long-running world does not grow its file without bound.
MAX_SAVED_TRADES = 50_000


def world_path(state_dir: Path) -> Path:
    return state_dir / WORLD_FILE


def _public_key_from_pem(pem: str) -> rsa.RSAPublicKey:
    return load_public_key(pem)


class _Pickler(pickle.Pickler):
    """Accounts hold ``cryptography`` key objects, which do not pickle: store their PEM."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, rsa.RSAPublicKey):
            pem = obj.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
            return _public_key_from_pem, (pem,)
        return NotImplemented


# Every global a saved world refers to; loading refuses anything else, so even a tampered
# file cannot name os.system or the like.
_ALLOWED = frozenset(
    {
        ("collections", "deque"),
        ("random", "Random"),
        ("emulators.kalshi_sim.config", "SimConfig"),
        ("emulators.kalshi_sim.persist", "_public_key_from_pem"),
        *(
            ("emulators.kalshi_sim.accounts", name)
            for name in (
                "Account",
                "AccountBook",
                "Fill",
                "Order",
                "Position",
                "Settlement",
                "Transfer",
            )
        ),
        ("emulators.kalshi_sim.matching", "Matcher"),
        ("shared.domain.fees", "FeeAccumulator"),
        ("emulators.kalshi_sim.exchange", "Exchange"),
        ("emulators.kalshi_sim.catalog", "Catalog"),
        ("emulators.kalshi_sim.book", "Book"),
        ("emulators.kalshi_sim.lifecycle", "MarketLifecycle"),
        *(
            ("emulators.kalshi_sim.model", name)
            for name in ("Clock", "Event", "Market", "Series", "SeriesTemplate", "Trade")
        ),
    }
)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a simulator world")
        return super().find_class(module, name)


def _identity(config: SimConfig) -> dict[str, int]:
    """What must match for a saved world to be this run's world."""
    return {"format": FORMAT, "seed": config.seed, "n_markets": config.n_markets}


def save_world(exchange: Exchange, path: Path) -> int:
    """Write ``exchange`` atomically (temp file, then rename), mode 0600; returns bytes."""
    trades, by_ticker = exchange.trades, exchange.trades_by_ticker
    if len(trades) > MAX_SAVED_TRADES:
        # Only the file is trimmed; this run keeps serving every trade it has.
        exchange.trades = trades[-MAX_SAVED_TRADES:]
        exchange.trades_by_ticker = {}
        for trade in exchange.trades:
            exchange.trades_by_ticker.setdefault(trade.ticker, []).append(trade)
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
            {**_identity(exchange.config), "saved_at": time.time(), "exchange": exchange}
        )
    finally:
        exchange.trades, exchange.trades_by_ticker = trades, by_ticker
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return len(data)


def _set_aside(path: Path, why: str) -> None:
    aside = path.with_name(path.name + ".unused")
    log.warning("simulator world %s not used (%s); moved to %s, starting anew", path, why, aside)
    with contextlib.suppress(OSError):
        os.replace(path, aside)


def load_world(path: Path, config: SimConfig) -> Exchange | None:
    """The saved world for ``config`` (same seed and market count), or None to build one."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or info.st_uid != os.getuid():
        # Loading a pickle runs what it says: only from a file nobody else could have written.
        _set_aside(path, "the file is writable by others or not ours")
        return None
    try:
        with path.open("rb") as handle:
            saved = _Unpickler(handle).load()
        exchange = saved["exchange"]
        identity = {name: saved.get(name) for name in _identity(config)}
    except Exception as error:  # any unreadable file means "start anew"
        _set_aside(path, f"unreadable: {type(error).__name__}")
        return None
    if identity != _identity(config) or not isinstance(exchange, Exchange):
        _set_aside(path, f"saved for {identity}, this run is {_identity(config)}")
        return None
    # Tunables (tick interval, activity) are this run's; the world is the saved one.
    exchange.config = config
    exchange.tick_us = int(config.tick_seconds * 1_000_000)
    return exchange
