"""Cloud Tasks: enqueue HTTP tasks, and check on the receiving side that a request came
from the queue.

Sender: :class:`TaskQueue` names every task after a caller-chosen ``task_id`` so Cloud
Tasks deduplicates at enqueue time (a second create with the same name answers
ALREADY_EXISTS, which is success here: the work is already queued). In the cloud the task
carries an OIDC token minted for the invoker service account; locally
(``CLOUD_TASKS_EMULATOR_HOST`` set) the client talks to the emulator over an insecure
gRPC channel, since google-cloud-tasks has no emulator variable of its own.

Receiver: :func:`verify_task_request`. In the cloud it verifies the ``Authorization:
Bearer`` ID token (signature, audience, issuer, the invoker's e-mail) and the
``X-CloudTasks-QueueName`` header; without an audience and an invoker it refuses every
request, and :meth:`TaskAuth.from_env` refuses to start. The emulator sends no token, so in
``"emulator"`` mode (only with ``APP_ENVIRONMENT=local``, see
:func:`task_auth_mode_from_env`) only the queue header (which it sets to the full queue
path) is required: that stops a browser or curl reaching the worker through the gateway by
accident; it is not authentication, and the mode must never be used in the cloud.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from shared import config
from shared.auth.google_caller import CallerRefused, TokenVerifier, check_google_caller
from shared.config import ConfigError
from shared.domain.units import json_default
from shared.messaging.lazy_client import LazyClient

__all__ = [
    "QUEUE_HEADER",
    "TASK_NAME_HEADER",
    "Forbidden",
    "TaskAuth",
    "TaskQueue",
    "task_auth_mode_from_env",
    "task_name_for",
    "verify_task_request",
]

QUEUE_HEADER = "X-CloudTasks-QueueName"
TASK_NAME_HEADER = "X-CloudTasks-TaskName"
RETRY_COUNT_HEADER = "X-CloudTasks-TaskRetryCount"
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
_QUEUE_PATH = re.compile(r"^projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]+$")

TaskAuthMode = Literal["cloud", "emulator"]


class Forbidden(PermissionError):
    """The request did not come from the expected Cloud Tasks queue (answer 403)."""


def task_name_for(queue_path: str, task_id: str) -> str:
    """The full task name for ``task_id``; ids that are not valid task ids are hashed.

    Task ids may hold letters, digits, ``-`` and ``_`` (500 at most). Anything else (a
    composite key such as ``"user:42/run:7"``) becomes its SHA-256, still deterministic, so
    the same logical task always maps to the same name.
    """
    if not task_id:
        raise ValueError("task_id is required")
    safe = task_id if _TASK_ID.match(task_id) else hashlib.sha256(task_id.encode()).hexdigest()
    return f"{queue_path}/tasks/{safe}"


class TaskQueue(LazyClient):
    """One Cloud Tasks queue (``projects/P/locations/L/queues/Q``)."""

    def __init__(
        self,
        queue_path: str,
        *,
        emulator_host: str | None = None,
        client: Any = None,
        dispatch_deadline: timedelta | None = None,
    ) -> None:
        if not _QUEUE_PATH.match(queue_path):
            raise ValueError(
                f"queue_path must look like projects/P/locations/L/queues/Q, got {queue_path!r}"
            )
        self.queue_path = queue_path
        self.emulator_host = emulator_host or config.text("CLOUD_TASKS_EMULATOR_HOST") or None
        self.dispatch_deadline = dispatch_deadline
        self._client = client
        self._lock = threading.Lock()

    def _make_client(self) -> Any:
        from google.cloud import tasks_v2

        if self.emulator_host:
            import grpc  # type: ignore[import-untyped]
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                CloudTasksGrpcTransport,
            )

            channel = grpc.insecure_channel(self.emulator_host)
            transport = CloudTasksGrpcTransport(
                channel=channel,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
            return tasks_v2.CloudTasksClient(transport=transport)
        return tasks_v2.CloudTasksClient()

    def build_http_task(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        task_id: str,
        oidc_service_account: str | None = None,
        audience: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The ``tasks_v2.Task`` that :meth:`enqueue_http` creates (pure; unit-testable)."""
        from google.cloud import tasks_v2

        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        http_request = tasks_v2.HttpRequest(
            url=url,
            http_method=tasks_v2.HttpMethod.POST,
            headers=all_headers,
            body=json.dumps(dict(payload), default=json_default, separators=(",", ":")).encode(),
        )
        if oidc_service_account:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=oidc_service_account, audience=audience or url
            )
        task = tasks_v2.Task(
            name=task_name_for(self.queue_path, task_id), http_request=http_request
        )
        if self.dispatch_deadline is not None:
            task.dispatch_deadline = self.dispatch_deadline
        return task

    def enqueue_http(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        task_id: str,
        oidc_service_account: str | None,
        audience: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Create an HTTP POST task carrying ``payload`` as JSON; return the task name.

        A task with the same ``task_id`` that already exists (or ran recently) is not
        created again and its name is returned: enqueueing is idempotent.
        """
        from google.api_core.exceptions import AlreadyExists

        task = self.build_http_task(
            url,
            payload,
            task_id=task_id,
            oidc_service_account=oidc_service_account,
            audience=audience,
            headers=headers,
        )
        try:
            created = self.client.create_task(parent=self.queue_path, task=task)
        except AlreadyExists:
            return str(task.name)
        return str(created.name)


def task_auth_mode_from_env(env: Mapping[str, str] | None = None) -> TaskAuthMode:
    """``"emulator"`` only when ``APP_ENVIRONMENT=local`` (the local stack sets it for every
    function); anything else, including nothing, is ``"cloud"``.

    Fail closed: local mode switches token verification off, so it must be asked for by
    name. A stray ``CLOUD_TASKS_EMULATOR_HOST`` (a leftover variable, a copied ``.env``)
    once did that silently.
    """
    return "emulator" if config.is_local(env) else "cloud"


@dataclass(frozen=True)
class TaskAuth:
    """How a task receiver checks its callers: the mode and, in the cloud, the ID token's
    audience and the invoker service account it must belong to."""

    mode: TaskAuthMode
    audience: str | None = None
    invoker: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, audience_vars: tuple[str, ...]
    ) -> TaskAuth:
        """Read the mode, the audience (first of ``audience_vars`` that is set) and
        ``TASKS_INVOKER_SA``; in cloud mode both are required (:class:`ConfigError`), so a
        function that would accept any Google-signed token refuses to start instead."""
        mode = task_auth_mode_from_env(env)
        audience = next((v for v in (config.text(n, env) for n in audience_vars) if v), None)
        invoker = config.text("TASKS_INVOKER_SA", env)
        if mode == "cloud":
            missing = [
                name
                for name, value in (
                    (" or ".join(audience_vars), audience),
                    ("TASKS_INVOKER_SA", invoker),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    f"cloud mode needs {' and '.join(missing)} to verify Cloud Tasks callers "
                    "(set APP_ENVIRONMENT=local only on the local stack)"
                )
        return cls(mode=mode, audience=audience, invoker=invoker)

    def admits(self, headers: Mapping[str, str], queue: str | None) -> bool:
        """Whether a request with ``headers`` came from ``queue`` (no queue configured:
        nothing is admitted). The one check every task receiver makes before any work."""
        if not queue:
            return False
        try:
            return verify_task_request(
                dict(headers),
                expected_queue=queue,
                audience=self.audience,
                mode=self.mode,
                service_account_email=self.invoker,
            )
        except Forbidden:
            return False


def verify_task_request(
    headers: Mapping[str, str],
    *,
    expected_queue: str,
    audience: str | None,
    mode: TaskAuthMode,
    service_account_email: str | None = None,
    token_verifier: TokenVerifier | None = None,
) -> bool:
    """Return True when the request came from ``expected_queue``; raise :class:`Forbidden`.

    ``expected_queue`` is the queue id (``backtests``) or its full path. ``mode="cloud"``
    also requires a valid Google-signed ID token for ``audience``; pass
    ``service_account_email`` (the invoker SA) so a token minted by any other Google
    account for the same audience is refused.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    queue_id = expected_queue.rsplit("/", 1)[-1]
    sent_queue = lowered.get(QUEUE_HEADER.lower(), "")
    if mode == "emulator":
        # gcloud-tasks-emulator 0.6.2 sends the full queue path, Cloud Tasks the id.
        if sent_queue in (queue_id, expected_queue):
            return True
        if "/" not in expected_queue and sent_queue.rsplit("/", 1)[-1] == queue_id:
            return True
        raise Forbidden("request did not come from the task queue")
    if mode != "cloud":
        raise ValueError(f"unknown task auth mode {mode!r}")
    if sent_queue != queue_id:
        raise Forbidden("request did not come from the task queue")
    try:
        check_google_caller(
            lowered, audience=audience, invoker=service_account_email, verifier=token_verifier
        )
    except CallerRefused as refused:
        raise Forbidden(str(refused)) from refused
    return True
