from __future__ import annotations

import json
import socket
from pathlib import Path

from devstack.state import port_is_free, remembered_port


def test_port_is_chosen_once_and_remembered(tmp_path: Path) -> None:
    first = remembered_port(tmp_path, "postgres")
    assert json.loads((tmp_path / "ports.json").read_text()) == {"postgres": first}
    assert remembered_port(tmp_path, "postgres") == first


def test_each_service_gets_its_own_entry(tmp_path: Path) -> None:
    a = remembered_port(tmp_path, "postgres")
    b = remembered_port(tmp_path, "simulator")
    assert json.loads((tmp_path / "ports.json").read_text()) == {"postgres": a, "simulator": b}


def test_a_taken_port_is_replaced(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        (tmp_path / "ports.json").write_text(json.dumps({"postgres": taken}))
        assert not port_is_free(taken)
        port = remembered_port(tmp_path, "postgres")
    assert port != taken
    assert json.loads((tmp_path / "ports.json").read_text()) == {"postgres": port}


def test_explicit_port_wins_and_is_saved(tmp_path: Path) -> None:
    remembered_port(tmp_path, "postgres")
    assert remembered_port(tmp_path, "postgres", 6543) == 6543
    assert remembered_port(tmp_path, "postgres") in (6543,) or not port_is_free(6543)


def test_corrupt_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text("not json")
    port = remembered_port(tmp_path, "gateway")
    assert json.loads((tmp_path / "ports.json").read_text()) == {"gateway": port}


def test_local_database_url_reads_the_stacks_postgres_port(tmp_path: Path) -> None:
    from devstack.state import local_database_url

    assert local_database_url(tmp_path) is None
    (tmp_path / "ports.json").write_text('{"postgres": 54321}')
    assert local_database_url(tmp_path) == (
        "postgresql+pg8000://postgres@127.0.0.1:54321/kalshi_insights"
    )
    (tmp_path / "ports.json").write_text("not json")
    assert local_database_url(tmp_path) is None
