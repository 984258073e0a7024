"""The local stack's Postgres: the machine's own server binaries, data under the state dir.

Started with ``initdb``/``pg_ctl`` (see :mod:`devstack.postgres`; as root through
``runuser -u postgres``), migrated to the newest schema, and published to later services
as ``DATABASE_URL`` (the owner's). Each function connects as its own login role instead,
``fn_<deployable>``, a member of that deployable's group role only (docs/decisions/0080):
:func:`as_role` gives a function's environment its URL, so a grant the cloud would refuse
is refused locally too. Stopping leaves the data in place, so the next run starts where
this one ended.
"""

from __future__ import annotations

import argparse
import socket

from devstack.postgres import LocalPostgres
from devstack.services.base import StackContext, stop_all
from devstack.state import remembered_port

__all__ = ["PostgresService", "as_role"]


def as_role(env: dict[str, str], deployable: str) -> dict[str, str]:
    """``env`` with ``DATABASE_URL`` switched to ``deployable``'s own login role."""
    from shared.db.roles import deployable_url

    return {**env, "DATABASE_URL": deployable_url(env["DATABASE_URL"], deployable)}


class PostgresService:
    name = "postgres"

    def __init__(self) -> None:
        self.server: LocalPostgres | None = None
        self.revision: str | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--postgres-port",
            type=int,
            default=None,
            help="Postgres port (default: a free port, remembered in STATE_DIR/ports.json)",
        )

    def start(self, ctx: StackContext) -> None:
        from shared.db.migrate import current_revision, upgrade
        from shared.db.roles import create_local_logins

        port = remembered_port(
            ctx.state_dir, "postgres", getattr(ctx.options, "postgres_port", None)
        )
        self.server = LocalPostgres.in_state_dir(ctx.state_dir, port)
        self.server.start(timeout=60)
        upgrade(self.server.url)
        self.revision = current_revision(self.server.url)
        create_local_logins(self.server.url)
        ctx.env["DATABASE_URL"] = self.server.url

    def stop(self) -> None:
        stop_all(self.server)

    def check(self) -> str | None:
        # A TCP probe, not ``pg_ctl status``: this runs every second on a shared machine.
        if self.server is None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=2):
                return None
        except OSError:
            return (
                f"Postgres stopped answering on port {self.server.port}; see {self.server.log_file}"
            )

    def describe(self) -> list[str]:
        if self.server is None:
            return []
        return [
            f"Postgres     {self.server.url}  (schema {self.revision})",
            f"             data {self.server.data_dir}, log {self.server.log_file}",
        ]
