"""Structured JSON logs on stdout, in the shape Cloud Logging parses, with secrets scrubbed.

Cloud Run and Cloud Functions turn each stdout line that is a JSON object into a log entry:
``severity`` and ``message`` become the entry's level and text, and the
``logging.googleapis.com/trace`` / ``spanId`` / ``sourceLocation`` keys link it to a request
trace and a line of code. Everything else lands in ``jsonPayload``. So::

    configure_logging()                       # once, at cold start
    with log_context(event_id=cloud_event["id"], **trace_fields(request_header)):
        logger.info("stored snapshots", extra={"json_fields": {"count": 120}})

:func:`configure_logging` scrubs every record *when it is created* (a log record factory),
so every handler sees the scrubbed record: ours, pytest's, and the root handler that
functions-framework installs with ``LOG_EXECUTION_ID=true`` (it calls ``dictConfig`` before
our module is imported, so its handler runs first and a handler-level filter of ours would
come too late). Text that looks like a PEM key, an RSA-PSS signature, a JWT, a bearer token
or the password of a URL, and values under sensitive keys (``password``, ``private_key``,
``authorization`` ...), are replaced by ``[REDACTED]``. ``json_fields`` passed as ``extra``
are attached after the factory ran; :class:`RedactingFilter` on our handler scrubs those
(other handlers do not print extras). It is a net, not a licence: code still must not log
secrets on purpose.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, cast

from shared.config import LoggingSettings

__all__ = [
    "REDACTED",
    "CloudLoggingFormatter",
    "RedactingFilter",
    "configure_logging",
    "install_record_redaction",
    "log_context",
    "redact",
    "trace_fields",
]

REDACTED = "[REDACTED]"
TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SOURCE_KEY = "logging.googleapis.com/sourceLocation"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks, including a truncated one with no END line.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S),
        REDACTED,
    ),
    # The password of a URL's userinfo: postgresql://user:password@host/db
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    # Authorization: Bearer <token>
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    # Our API tokens (shared/auth/api_tokens.py), wherever they appear.
    (re.compile(r"\bki_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), REDACTED),
    # JWTs (header.payload.signature, base64url, header starts with '{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # key=value / "key": "value" pairs whose key names a secret.
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|private[_-]?key|api[_-]?key|token|authorization|"
            r"signature|kalshi-access-signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"
        ),
        r"\1" + REDACTED,
    ),
    # Long base64 runs: RSA-PSS signatures (344 chars for 2048-bit keys), key bodies.
    (re.compile(r"[A-Za-z0-9+/]{100,}={0,2}"), REDACTED),
)

_SENSITIVE_KEY = re.compile(
    r"(?i)(password|passwd|secret|private_?key|api_?key|token|authorization|signature|"
    r"ciphertext|credential|db_pass)"
)

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "kalshi_insights_log_context", default=None
)


def redact(text: str) -> str:
    """``text`` with anything that looks like key material or a credential replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.search(key) and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Scrubs a record's message, structured fields and traceback before any handler writes.

    Install it on handlers (``configure_logging`` does): a filter on a handler sees records
    from every logger, while a logger's own filter does not see its children's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_message(record, record.getMessage())
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, Mapping):
            record.json_fields = {str(k): _redact_value(str(k), v) for k, v in fields.items()}
        _redact_traceback(record)
        return True


_FACTORY_MARK = "_kalshi_insights_redacting"


def _redact_at_creation(record: logging.LogRecord) -> None:
    """Scrub the parts of a fresh record that any handler's formatter would print.

    The message is rendered (``msg % args``) and scrubbed; when that removed something, the
    record carries the scrubbed text and no arguments, so no handler can render the raw
    arguments again. A clean message keeps its ``msg`` and ``args`` as they were: formatters
    such as uvicorn's access log read ``args`` themselves. A rendering error keeps the raw
    parts, scrubbed, rather than raising from a log call. The traceback is rendered to
    ``exc_text``, which every :class:`logging.Formatter` prints instead of ``exc_info``.
    """
    try:
        message = record.getMessage()
    except Exception:
        message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), None
    else:
        _redact_message(record, message)
    _redact_traceback(record)


def _redact_message(record: logging.LogRecord, message: str) -> None:
    """Replace the rendered ``message`` by its scrubbed text when scrubbing changed it.

    A clean record keeps its ``msg`` and ``args`` (formatters such as uvicorn's access log
    read ``args`` themselves); a scrubbed one loses its arguments, so no handler can render
    the raw ones again.
    """
    scrubbed = redact(message)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None


def _redact_traceback(record: logging.LogRecord) -> None:
    """Render the traceback to ``exc_text`` (which every formatter prints instead of
    ``exc_info``) and scrub it and the stack."""
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_record_redaction() -> None:
    """Wrap the process's log record factory so every record is scrubbed at creation.

    Idempotent: a factory that already redacts is left alone, so configuring logging twice
    (or a test calling ``create_app`` repeatedly) never stacks wrappers.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, _FACTORY_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _redact_at_creation(record)
        return record

    setattr(factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(factory)


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line with Cloud Logging's special keys."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{record.stack_info}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, record.levelname),
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            SOURCE_KEY: {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            },
        }
        context = _context.get()
        if context:
            entry.update(context)
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        return json.dumps(entry, default=str, ensure_ascii=False)


_HANDLER_MARK = "_kalshi_insights_handler"


def configure_logging(level: int | str | None = None, *, stream: IO[str] | None = None) -> None:
    """Scrub every record at creation and send it to ``stream`` (stdout) as Cloud Logging JSON.

    Each ``functions/*/main.py`` calls this once, at import. Idempotent: calling it again
    replaces the handler it installed before, leaving other handlers (pytest's,
    functions-framework's) alone; they too receive only scrubbed records. ``level`` defaults
    to ``LOG_LEVEL`` or INFO.
    """
    install_record_redaction()
    settings = LoggingSettings.from_env()
    framework_stream = _execution_id_stream() if settings.execution_id else None
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False) or (
            framework_stream is not None and getattr(handler, "stream", None) is framework_stream
        ):
            root.removeHandler(handler)
    if stream is None:
        stream = framework_stream if framework_stream is not None else sys.stdout
    handler = logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(CloudLoggingFormatter())
    root.addHandler(handler)
    chosen = level if level is not None else settings.level
    root.setLevel(chosen.upper() if isinstance(chosen, str) else chosen)


def _execution_id_stream() -> IO[str] | None:
    """functions-framework's stream that adds the execution id label to each JSON line.

    With ``LOG_EXECUTION_ID`` the framework installs a plain root handler writing through
    this stream; ours writing beside it put every record out twice (once as plain text), so
    our handler takes the framework's place and writes its JSON through the same stream:
    one line per record, execution id included. ``None`` where the framework is absent.
    """
    try:
        from functions_framework import execution_id
    except ImportError:
        return None
    # A werkzeug LocalProxy, resolved at each write to the running request's error stream;
    # the framework's own handler holds this very object, which is how it is recognised.
    stream: IO[str] = cast(IO[str], execution_id.logging_stream)
    return stream


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (``event_id=...``, trace keys) to every record logged inside the block.

    The formatter writes these after :class:`RedactingFilter` has run, so they are scrubbed
    here, once per block, by the same rules as a record's own ``json_fields``.
    """
    added = {k: _redact_value(k, v) for k, v in fields.items() if v is not None}
    merged = {**(_context.get() or {}), **added}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def trace_fields(
    cloud_trace_context: str | None = None,
    *,
    traceparent: str | None = None,
    project: str | None = None,
) -> dict[str, str]:
    """Cloud Logging trace keys from ``X-Cloud-Trace-Context`` or a W3C ``traceparent``.

    ``X-Cloud-Trace-Context`` is ``TRACE_ID/SPAN_ID;o=1``; ``traceparent`` is
    ``00-TRACE_ID-SPAN_ID-01``. Without a project (``GOOGLE_CLOUD_PROJECT``) Cloud Logging
    cannot link the trace, so nothing is returned.
    """
    project = project or LoggingSettings.from_env().project
    trace_id = span_id = None
    if cloud_trace_context:
        head = cloud_trace_context.split(";", 1)[0]
        trace_id, _, span_id = head.partition("/")
    elif traceparent:
        parts = traceparent.split("-")
        if len(parts) >= 3:
            trace_id, span_id = parts[1], parts[2]
    if not project or not trace_id or not re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id):
        return {}
    fields = {TRACE_KEY: f"projects/{project}/traces/{trace_id}"}
    if span_id and re.fullmatch(r"[0-9a-fA-F]{1,16}|[0-9]{1,20}", span_id):
        fields[SPAN_KEY] = span_id
    return fields
