import pg8000.native
import pytest

pytestmark = pytest.mark.integration


def test_postgres_accepts_connections(postgres):
    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        assert conn.run("SELECT version()")[0][0].startswith("PostgreSQL")
    finally:
        conn.close()
