"""Structured logs in Cloud Logging's shape, with key material scrubbed before writing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import PROJECT_ID_VARS
from shared.kalshi.signing import KalshiSigner, generate_private_key_pem, load_private_key
from shared.logging import (
    REDACTED,
    SOURCE_KEY,
    SPAN_KEY,
    TRACE_KEY,
    configure_logging,
    install_record_redaction,
    log_context,
    redact,
    trace_fields,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogRecordFactory())
    configure_logging("DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
        logging.setLogRecordFactory(before[2])


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_cloud_logging_keys(stream: io.StringIO) -> None:
    logging.getLogger("ki.test").warning(
        "stored %d snapshots", 12, extra={"json_fields": {"n": 12}}
    )
    (entry,) = entries(stream)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "stored 12 snapshots"
    assert entry["logger"] == "ki.test"
    assert entry["n"] == 12
    assert entry[SOURCE_KEY]["function"] == "test_one_json_object_per_line_with_cloud_logging_keys"
    assert entry["time"].endswith("+00:00")


def test_context_adds_event_id_and_trace(stream: io.StringIO) -> None:
    trace = trace_fields("105445aa7843bc8bf206b12000100000/1;o=1", project="demo")
    with log_context(event_id="evt-1", **trace):
        logging.getLogger("ki.test").info("handled")
    logging.getLogger("ki.test").info("outside")
    inside, outside = entries(stream)
    assert inside["event_id"] == "evt-1"
    assert inside[TRACE_KEY] == "projects/demo/traces/105445aa7843bc8bf206b12000100000"
    assert inside[SPAN_KEY] == "1"
    assert "event_id" not in outside and TRACE_KEY not in outside


def test_trace_fields_from_traceparent_and_garbage() -> None:
    fields = trace_fields(
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", project="p"
    )
    assert fields[TRACE_KEY] == "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert fields[SPAN_KEY] == "00f067aa0ba902b7"
    assert trace_fields("not a trace!/x", project="p") == {}


def test_trace_fields_need_a_project(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every variable the one project-id rule reads (shared.config.project_id): the Pub/Sub
    # plugin sets PUBSUB_PROJECT_ID for the whole session.
    for name in PROJECT_ID_VARS:
        monkeypatch.delenv(name, raising=False)
    assert trace_fields("abc/1") == {}
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert trace_fields("abc/1")[TRACE_KEY] == "projects/from-env/traces/abc"


def test_exceptions_are_in_the_message(stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("ki.test").exception("failed")
    (entry,) = entries(stream)
    assert entry["severity"] == "ERROR"
    assert entry["message"].startswith("failed\nTraceback")
    assert "ValueError: boom" in entry["message"]


def test_pem_keys_and_signatures_never_reach_the_output(stream: io.StringIO) -> None:
    pem = generate_private_key_pem()
    signer = KalshiSigner("key-id-1", load_private_key(pem))
    headers = signer.headers("GET", "/trade-api/v2/portfolio/balance")
    signature = next(v for k, v in headers.items() if k.endswith("SIGNATURE"))
    body_line = pem.splitlines()[1]
    log = logging.getLogger("ki.test")
    log.info("loaded key %s", pem)
    log.info("headers %s", headers)
    log.info("fields", extra={"json_fields": {"private_key": "x", "nested": {"sig": signature}}})
    try:
        raise RuntimeError(f"bad key {pem}")
    except RuntimeError:
        log.exception("while signing")
    output = stream.getvalue()
    assert body_line not in output
    assert signature not in output
    assert "PRIVATE KEY-----" not in output
    parsed = entries(stream)
    assert parsed[2]["private_key"] == REDACTED
    assert REDACTED in parsed[2]["nested"]["sig"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", "c2lnbmF0dXJl"),
        ("dsn password=hunter2 host=x", "hunter2"),
        ('{"api_key": "k-123456"}', "k-123456"),
        ("KALSHI-ACCESS-SIGNATURE: QUJD+/==", "QUJD+/=="),
        ("-----BEGIN " + "PRIVATE KEY-----\nMIIEvQ\n(truncated", "MIIEvQ"),
        ("connect postgresql+pg8000://ki:hunter2-x@db:5432/ki failed", "hunter2-x"),
        ("DATABASE_URL=postgres://postgres:s3cr%2Ft@127.0.0.1/db", "s3cr%2Ft"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    scrubbed = redact(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_ordinary_text_is_untouched() -> None:
    text = "GET /trade-api/v2/markets?cursor=abc 200 in 12ms; 3 revoked_tokens purged"
    assert redact(text) == text


def test_configure_logging_is_idempotent(stream: io.StringIO) -> None:
    configure_logging("INFO", stream=stream)
    configure_logging("INFO", stream=stream)
    logging.getLogger("ki.test").info("once")
    assert len(entries(stream)) == 1


def test_a_url_keeps_its_user_and_host_when_the_password_is_redacted() -> None:
    assert redact("postgresql+pg8000://ki:pw@db:5432/ki") == (
        f"postgresql+pg8000://ki:{REDACTED}@db:5432/ki"
    )
    assert redact("http://localhost:8080/api/v1/markets") == "http://localhost:8080/api/v1/markets"


def test_handlers_installed_by_others_see_only_redacted_records(stream: io.StringIO) -> None:
    """functions-framework (``LOG_EXECUTION_ID=true``) puts its own handler on the root
    logger before our module is imported; it must never write a secret either."""
    other = io.StringIO()
    foreign = logging.StreamHandler(other)
    foreign.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers.insert(0, foreign)  # first, as it is in a function instance
    pem = generate_private_key_pem()
    signer = KalshiSigner("key-id-1", load_private_key(pem))
    signature = next(v for k, v in signer.headers("GET", "/x").items() if k.endswith("SIGNATURE"))
    secrets = [pem.splitlines()[1], signature, "tok-abc123", "hunter2-pw"]
    log = logging.getLogger("ki.test.foreign")
    log.warning("key %s", pem)
    log.warning("headers %s", {"KALSHI-ACCESS-SIGNATURE": signature})
    log.error("Authorization: Bearer tok-abc123")
    log.error("db %s", "postgresql+pg8000://ki:hunter2-pw@db/ki")
    try:
        raise RuntimeError(f"could not sign with {pem}")
    except RuntimeError:
        log.exception("while signing")
    log.warning("stack", stack_info=True, extra={"json_fields": {"password": "hunter2-pw"}})
    written = other.getvalue() + stream.getvalue()
    assert "while signing" in other.getvalue() and "Traceback" in other.getvalue()
    for secret in secrets:
        assert secret not in written, f"a handler wrote {secret[:12]}..."


def test_record_redaction_is_installed_once(stream: io.StringIO) -> None:
    factory = logging.getLogRecordFactory()
    configure_logging("INFO", stream=stream)
    install_record_redaction()
    assert logging.getLogRecordFactory() is factory


def test_a_message_whose_arguments_do_not_format_is_still_logged(stream: io.StringIO) -> None:
    logging.getLogger("ki.test").warning("two %s %s", "password=hunter2")
    (entry,) = entries(stream)
    assert "two %s %s" in entry["message"] and "hunter2" not in entry["message"]


def test_a_clean_record_keeps_its_arguments_for_formatters_that_read_them(
    stream: io.StringIO,
) -> None:
    """uvicorn's access formatter unpacks ``record.args``; only a record that needed
    scrubbing loses them."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        logging.getLogger("ki.test").info("%s %s", "GET", "/api/v1/markets")
        logging.getLogger("ki.test").info("%s %s", "GET", "/x?password=hunter2")
    finally:
        logging.getLogger().removeHandler(keep)
    clean, dirty = seen
    assert clean.args == ("GET", "/api/v1/markets")
    assert dirty.args is None and "hunter2" not in dirty.getMessage()
