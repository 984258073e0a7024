"""Every function, run the way Cloud Functions runs it (functions-framework's ``create_app``
with ``LOG_EXECUTION_ID=true``, as Terraform sets it), configures logging at import and
never writes a secret from its input through any handler, the framework's own included.

With ``LOG_EXECUTION_ID=true`` functions-framework installs a root handler (``dictConfig``)
before our module is imported; each case below makes its function log an error (a database
that refuses connections, a missing queue setting, a trigger of an unknown version) so that
handler demonstrably writes, and checks that none of the secrets sent with the request (a
PEM private key, a bearer token, a Kalshi request signature, a database password in a URL)
appear in anything written to stdout, stderr or a log record.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import functions_framework
import pytest

from devstack.postgres import free_port
from shared.db.engine import dispose_database
from shared.kalshi.signing import KalshiSigner, generate_private_key_pem, load_private_key


@dataclass(frozen=True)
class Secrets:
    pem: str
    key_line: str
    signature: str
    bearer: str
    db_password: str

    def all(self) -> list[str]:
        return [self.key_line, self.signature, self.bearer, self.db_password]

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.bearer}",
            "KALSHI-ACCESS-KEY": "key-id-1",
            "KALSHI-ACCESS-SIGNATURE": self.signature,
            "X-Client-Key": self.pem.replace("\n", "\\n"),
        }


@pytest.fixture(scope="module")
def secrets() -> Secrets:
    pem = generate_private_key_pem()
    signer = KalshiSigner("key-id-1", load_private_key(pem))
    signature = next(v for k, v in signer.headers("GET", "/x").items() if k.endswith("SIGNATURE"))
    return Secrets(
        pem=pem,
        key_line=pem.splitlines()[1],
        signature=signature,
        bearer="tok-" + uuid.uuid4().hex,
        db_password="pw-" + uuid.uuid4().hex,
    )


@pytest.fixture
def cloud_env(monkeypatch: pytest.MonkeyPatch, secrets: Secrets) -> Iterator[None]:
    """The deployed environment's shape, with a database that refuses connections."""
    for name in (
        "CLOUD_TASKS_QUEUE",
        "BACKTEST_WORKER_URL",
        "INSTANCE_CONNECTION_NAME",
        "PUBSUB_PROJECT_ID",
        "GOOGLE_CLOUD_PROJECT",
        "LOG_LEVEL",
        "APP_ENVIRONMENT",
        "CLOUD_TASKS_EMULATOR_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOG_EXECUTION_ID", "true")
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+pg8000://ki:{secrets.db_password}@127.0.0.1:{free_port()}/ki"
    )
    monkeypatch.setenv("KALSHI_KEY_ID", "key-id-1")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", secrets.pem)
    dispose_database()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogRecordFactory())
    try:
        yield
    finally:
        dispose_database()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.setLogRecordFactory(saved[2])


def _create_app(target: str, signature_type: str) -> Any:
    """functions-framework's app for ``target``, as the Cloud Functions runtime builds it.

    Its ``dictConfig`` disables every logger that already exists; in a function instance
    those are the framework's own, here they are also the ones earlier tests created, so
    they are switched back on (as they would be, being created after it, in production).
    """
    manager = logging.Logger.manager
    existing = [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    was = {id(logger): logger.disabled for logger in existing}
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target, f"functions/{target}/main.py", signature_type
    )
    for logger in existing:
        logger.disabled = was[id(logger)]
    return app


def _framework_handlers() -> list[logging.Handler]:
    return [
        h
        for h in logging.getLogger().handlers
        if not getattr(h, "_kalshi_insights_handler", False)
        and type(h).__module__ == "logging"
        and "LogCapture" not in type(h).__name__
    ]


def _poll_trigger(version: int) -> dict[str, Any]:
    envelope = {
        "type": "poll_markets.trigger",
        "version": version,
        "idempotency_key": "k-1",
        "payload": {},
        "emitted_at": "2026-01-01T00:00:00+00:00",
    }
    return {
        "message": {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "messageId": "m-1",
            "attributes": {"type": "poll_markets.trigger"},
        },
        "subscription": "projects/p/subscriptions/poll-trigger-push",
    }


class Client:
    """A Flask test client whose requests' ``wsgi.errors`` (the stream functions-framework's
    handler writes to during a request) is a buffer the test reads."""

    def __init__(self, app: Any) -> None:
        self._client = app.test_client()
        self.errors = io.StringIO()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._client.get(path, errors_stream=self.errors, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._client.post(path, errors_stream=self.errors, **kwargs)


def _markets(client: Any, s: Secrets) -> None:
    client.get("/api/v1/health", headers=s.headers())
    client.get(f"/api/v1/markets?cursor={s.bearer}", headers=s.headers())


def _backtests(client: Any, s: Secrets) -> None:
    # No CLOUD_TASKS_QUEUE: the service cannot be built; logged with its traceback.
    body = {"strategy": "threshold", "params": {"private_key": s.pem, "token": s.bearer}}
    client.post("/api/v1/backtests", json=body, headers=s.headers())


def _backtest_worker(client: Any, s: Secrets) -> None:
    # The queue's own call; the refused database makes the attempt fail (logged, 503).
    headers = {**s.headers(), "X-CloudTasks-QueueName": "backtests"}
    client.post("/", json={"run_id": str(uuid.uuid4()), "note": s.pem}, headers=headers)


def _poll_markets(client: Any, s: Secrets) -> None:
    for version in (2, 3):
        client.post(
            "/",
            json=_poll_trigger(version),
            headers={
                **s.headers(),
                "ce-id": f"Bearer {s.bearer}",
                "ce-source": "//pubsub.googleapis.com/projects/p/topics/poll-trigger",
                "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                "ce-specversion": "1.0",
            },
        )


CASES: dict[str, tuple[str, Callable[[Any, Secrets], None], str]] = {
    "markets": ("http", _markets, "database unavailable"),
    "backtests": ("http", _backtests, "backtests request failed"),
    "backtest_worker": ("http", _backtest_worker, "attempt 1 failed"),
    "poll_markets": ("cloudevent", _poll_markets, "unexpected message"),
}


def _worker_env(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backtest functions refuse to start without a way to check Cloud Tasks calls; the
    local stack's setting (queue header, no OIDC) lets the test call the worker without a
    Google-signed token. The backtests API gets no queue, so building its service fails."""
    if target.startswith("backtest"):
        monkeypatch.setenv("APP_ENVIRONMENT", "local")
    if target == "backtest_worker":
        monkeypatch.setenv("CLOUD_TASKS_QUEUE", "projects/p/locations/l/queues/backtests")


@pytest.mark.parametrize("target", sorted(CASES))
def test_function_configures_logging_once_at_import(
    target: str, cloud_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker_env(target, monkeypatch)
    _create_app(target, CASES[target][0])
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_kalshi_insights_handler", 0)]
    assert len(ours) == 1, f"{target} does not configure logging at import"
    assert getattr(logging.getLogRecordFactory(), "_kalshi_insights_redacting", False), target


@pytest.mark.parametrize("target", sorted(CASES))
def test_no_handler_writes_a_secret_from_the_input(
    target: str,
    cloud_env: None,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    signature_type, drive, expected = CASES[target]
    _worker_env(target, monkeypatch)
    app = _create_app(target, signature_type)
    # LOG_EXECUTION_ID=true made functions-framework install a plain root handler; ours took
    # its place (writing through the framework's execution-id stream), so nothing is doubled.
    assert not _framework_handlers(), "functions-framework's plain handler is still installed"
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keeper = Keep()
    logging.getLogger().addHandler(keeper)
    client = Client(app)
    drive(client, secrets)
    logging.getLogger().removeHandler(keeper)
    out, err = capfd.readouterr()
    framework = client.errors.getvalue()
    written = "\n".join(
        [framework, out, err, *(keeper.format(r) + "\n" + str(r.__dict__) for r in records)]
    )
    assert expected in framework, f"the {target} error did not reach the framework's stream"
    lines = [line for line in (framework + out + err).splitlines() if expected in line]
    entries = [json.loads(line) for line in lines]
    messages = [entry["message"] for entry in entries]
    assert len(set(messages)) == len(messages), f"{target}: a record was written twice"
    for entry in entries:
        assert entry["severity"] == "ERROR", entry
        assert entry["logging.googleapis.com/labels"]["execution_id"], "no execution id label"
    for secret in secrets.all():
        assert secret not in written, f"{target}: a handler wrote {secret[:16]}..."
