"""Saving and loading the simulator's world (``emulators.kalshi_sim.persist``)."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.model import SECOND_US
from emulators.kalshi_sim.persist import load_world, save_world, world_path
from shared.kalshi.signing import generate_private_key_pem, load_private_key

CONFIG = SimConfig(seed=7, n_markets=40, tick_interval_s=None, start_time_s=1_790_000_000)


def _world() -> Exchange:
    exchange = Exchange(CONFIG)
    public = load_private_key(generate_private_key_pem()).public_key()
    exchange.accounts.register(public, 10**9, exchange.now_us, "demo-key")
    exchange.tick(500)
    return exchange


def test_a_saved_world_loads_as_it_was_and_private(tmp_path: Path) -> None:
    exchange = _world()
    path = world_path(tmp_path)
    save_world(exchange, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_world(path, CONFIG)
    assert loaded is not None
    assert (loaded.now_us, loaded.tick_count) == (exchange.now_us, exchange.tick_count)
    assert [(m.ticker, m.status, m.volume) for m in loaded.market_list] == [
        (m.ticker, m.status, m.volume) for m in exchange.market_list
    ]
    account = loaded.accounts.by_key("demo-key")
    assert account is not None and account.public_key.key_size == 2048
    # The continued world moves on exactly as the original would.
    assert [type(h).__name__ for h in loaded.tick(50)] == [
        type(h).__name__ for h in exchange.tick(50)
    ]


def test_resume_runs_the_lifecycle_that_fell_due_while_stopped(tmp_path: Path) -> None:
    exchange = _world()
    active = {m.ticker for m in exchange.market_list if m.status == "active"}
    gap_end = exchange.now_us + 3 * 24 * 3600 * SECOND_US
    exchange.resume(gap_end)
    assert exchange.now_us <= gap_end and exchange.now_us > gap_end - exchange.tick_us
    for market in exchange.market_list:
        if market.ticker in active and market.close_us < gap_end - 3600 * SECOND_US:
            assert market.status in ("closed", "determined", "finalized"), market.ticker
    # A clock already ahead is never moved back.
    now = exchange.now_us
    exchange.resume(now - 1000 * SECOND_US)
    assert exchange.now_us == now


def test_another_seed_or_a_damaged_file_starts_anew(tmp_path: Path) -> None:
    path = world_path(tmp_path)
    save_world(_world(), path)
    other = SimConfig(seed=8, n_markets=40, tick_interval_s=None)
    assert load_world(path, other) is None
    assert not path.exists() and path.with_name(path.name + ".unused").exists()
    path.write_bytes(b"not a pickle")
    path.chmod(0o600)
    assert load_world(path, CONFIG) is None


def test_a_file_naming_other_code_or_writable_by_others_is_refused(tmp_path: Path) -> None:
    path = world_path(tmp_path)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {marker}",)

    path.write_bytes(pickle.dumps({"exchange": Evil(), "format": 1, "seed": 7, "n_markets": 40}))
    path.chmod(0o600)
    assert load_world(path, CONFIG) is None
    assert not marker.exists()

    save_world(_world(), path)
    path.chmod(0o666)
    assert load_world(path, CONFIG) is None
