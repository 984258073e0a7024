"""Throwaway Postgres clusters and databases for tests: one copy, used by every conftest.

Kept out of ``conftest.py`` so fixtures in other packages can call it as an ordinary
module (conftest modules are not meant to be imported).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.postgres import LocalPostgres, free_port

__all__ = ["admin_run", "recreate_database", "throwaway_cluster"]


@contextmanager
def throwaway_cluster(prefix: str) -> Iterator[LocalPostgres]:
    """A fresh Postgres cluster in a temporary directory, destroyed and removed after."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    # The postgres system user (root runs) must reach the data directory.
    base.chmod(0o755)
    server = LocalPostgres(data_dir=base / "data", port=free_port(), log_file=base / "postgres.log")
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


def admin_run(postgres: LocalPostgres, *statements: str) -> None:
    """Run ``statements`` as the superuser on the ``postgres`` database."""
    import pg8000.native

    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        for statement in statements:
            admin.run(statement)
    finally:
        admin.close()


def recreate_database(postgres: LocalPostgres, name: str) -> str:
    """Drop ``name`` if it exists, create it empty, and return its SQLAlchemy URL."""
    admin_run(
        postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )
    return postgres.url_for(name)
