"""``kalshi-insights migrate``: bring a database's schema to a revision with Alembic.

The database is ``--database-url``, else ``DATABASE_URL``, else Cloud SQL through
``INSTANCE_CONNECTION_NAME`` (with ``DB_USER``/``DB_PASS``/``DB_NAME`` or IAM auth), the same
resolution the deployed code uses, so one command serves a laptop and a deploy job. With
none of those set, it is the Postgres of the local stack in ``--state-dir`` (``.local``),
found as ``kalshi-insights backtest run`` finds it, so a fresh clone needs no URL.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "migrate"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="upgrade (default) or downgrade the database schema",
        description=(
            "Run Alembic migrations. Examples: 'kalshi-insights migrate' (upgrade to the "
            "newest), 'kalshi-insights migrate downgrade base', 'kalshi-insights migrate current'."
        ),
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("upgrade", "downgrade", "current"),
        default="upgrade",
        help="what to do (default: upgrade)",
    )
    parser.add_argument(
        "revision",
        nargs="?",
        help="target revision: 'head' (default for upgrade), a revision id, or 'base'",
    )
    parser.add_argument(
        "--database-url",
        help="any Postgres URL (default: $DATABASE_URL, else Cloud SQL via "
        "$INSTANCE_CONNECTION_NAME, else the local stack's in --state-dir)",
    )
    parser.add_argument(
        "--state-dir",
        default=".local",
        help="state directory of 'kalshi-insights up' (default: .local)",
    )
    parser.set_defaults(handler=run)


def _describe(url: str | None) -> str:
    import os

    from sqlalchemy.engine import make_url

    if url is None:
        instance = os.environ.get("INSTANCE_CONNECTION_NAME")
        if instance:
            return f"Cloud SQL instance {instance}"
        url = os.environ.get("DATABASE_URL")
    return make_url(url).render_as_string(hide_password=True) if url else "(no database)"


def _local_stack_url(state_dir: str) -> str | None:
    """The local stack's database, when nothing else names one (as ``backtest run`` does)."""
    import os
    from pathlib import Path

    from devstack.state import local_database_url

    if os.environ.get("DATABASE_URL") or os.environ.get("INSTANCE_CONNECTION_NAME"):
        return None
    return local_database_url(Path(state_dir))


def run(args: Any) -> int:
    import logging
    import sys

    from shared.config import ConfigError
    from shared.db import migrate

    url: str | None = args.database_url or _local_stack_url(args.state_dir)
    where = _describe(url)
    try:
        if args.action == "current":
            print(f"{where}: {migrate.current_revision(url) or 'not migrated'}")
            return 0
        if args.action == "downgrade":
            if not args.revision:
                print("migrate downgrade needs a revision (an id, or 'base')", file=sys.stderr)
                return 2
            migrate.downgrade(url, args.revision)
        else:
            migrate.upgrade(url, args.revision or "head")
        print(f"{where}: at revision {migrate.current_revision(url) or 'base'}")
    except ConfigError as error:
        print(f"kalshi-insights migrate: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # One line a person can act on; the traceback adds nothing for a connection error
        # (run with -v to see it anyway).
        logging.getLogger("devstack.migrate").debug("migration failed", exc_info=True)
        print(
            f"kalshi-insights migrate: failed on {where}: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    return 0
