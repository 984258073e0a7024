"""A throwaway Postgres cluster for a benchmark: its own data directory and port, destroyed
(and the directory removed) whatever happens."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.postgres import LocalPostgres, free_port

__all__ = ["kept_postgres", "throwaway_postgres"]


def _started_in(base: Path) -> LocalPostgres:
    base.chmod(0o755)  # as root, the postgres user must reach the data directory
    server = LocalPostgres(data_dir=base / "data", port=free_port(), log_file=base / "pg.log")
    server.start()
    return server


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[tuple[LocalPostgres, Path]]:
    """Yield ``(server, work_dir)``: a started cluster and a directory for the benchmark's
    other files, both gone afterwards."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = _started_in(base)
        try:
            yield server, base
        finally:
            server.destroy()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def kept_postgres(directory: Path) -> Iterator[tuple[LocalPostgres, Path]]:
    """The same in ``directory``, which stays with the stopped cluster: a benchmark whose
    fixture takes minutes to fill reuses it on the next run."""
    base = directory.resolve()
    base.mkdir(parents=True, exist_ok=True)
    server = _started_in(base)
    try:
        yield server, base
    finally:
        server.stop()
