"""Which database role each deployable connects as (docs/decisions/0080).

Migration ``0004_deployable_roles`` creates one NOLOGIN group role per deployable and grants
it exactly what that deployable does. A deployable's login joins its group role:

- on Cloud SQL the login is the deployable's IAM database user (Terraform creates it; the
  one-time ``GRANT`` statements are the ``sql_role_grants`` output, see infra/README.md);
- in ``kalshi-insights up`` it is a local login role, ``fn_<deployable>``, made here by
  :func:`ensure_local_logins` and used through :func:`deployable_url`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url

__all__ = [
    "GROUP_ROLES",
    "create_local_logins",
    "deployable_url",
    "ensure_local_logins",
    "grant_group_roles",
    "local_login",
]

# deployable -> its NOLOGIN group role (created by migration 0004).
GROUP_ROLES: Mapping[str, str] = {
    "markets": "ki_markets",
    "poll_markets": "ki_poll_markets",
    "backtests": "ki_backtests",
    "backtest_worker": "ki_backtest_worker",
    "account": "ki_account",
    "streamer": "ki_streamer",
    "backfill": "ki_backfill",
}


def _group(deployable: str) -> str:
    try:
        return GROUP_ROLES[deployable]
    except KeyError:
        raise ValueError(
            f"unknown deployable {deployable!r}; one of {sorted(GROUP_ROLES)}"
        ) from None


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def local_login(deployable: str) -> str:
    """The local stack's login role of ``deployable`` (``fn_markets`` ...)."""
    _group(deployable)
    return f"fn_{deployable}"


def deployable_url(url: str | URL, deployable: str) -> str:
    """``url`` with ``deployable``'s local login as its user (and no password: the local
    cluster trusts loopback connections)."""
    parsed = make_url(url)
    return URL.create(
        parsed.drivername,
        username=local_login(deployable),
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    ).render_as_string(hide_password=False)


def grant_group_roles(connection: Connection, logins: Mapping[str, str]) -> None:
    """Make each login (``{deployable: login role}``) a member of its deployable's group
    role. Idempotent; the logins must exist."""
    for deployable, login in logins.items():
        connection.execute(text(f"GRANT {_group(deployable)} TO {_quoted(login)}"))


def ensure_local_logins(connection: Connection) -> dict[str, str]:
    """Create (if missing) the local stack's ``fn_<deployable>`` LOGIN roles and make each a
    member of its group role only. Returns ``{deployable: login}``."""
    logins = {deployable: local_login(deployable) for deployable in GROUP_ROLES}
    for login in logins.values():
        # Roles are cluster-wide: another database's setup may create the same one at once.
        connection.execute(
            text(
                "DO $$ BEGIN "
                f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') THEN "
                f"CREATE ROLE {_quoted(login)} LOGIN; END IF; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        )
    grant_group_roles(connection, logins)
    return logins


def create_local_logins(url: str) -> dict[str, str]:
    """:func:`ensure_local_logins` on the database at ``url`` (as its owner), committed."""
    from sqlalchemy.pool import NullPool

    from shared.config import DatabaseSettings
    from shared.db.engine import create_database

    database = create_database(DatabaseSettings(database_url=url), poolclass=NullPool)
    try:
        with database.engine.begin() as connection:
            return ensure_local_logins(connection)
    finally:
        database.dispose()
