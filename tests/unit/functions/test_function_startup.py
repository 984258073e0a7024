"""The backtest functions fail closed: in cloud mode (the default) neither starts without
the worker's OIDC audience and the queue's invoker account; on the local stack
(``APP_ENVIRONMENT=local``) both start with neither. And each task the API queues carries
the worker's timeout as its dispatch deadline."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.backtest.adapters import dispatcher_from_env
from shared.backtest.settings import WorkerSettings
from shared.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "projects/proj/locations/us-central1/queues/backtests"
WORKER = "https://backtest-worker-1.us-central1.run.app"
INVOKER = "tasks-invoker@proj.iam.gserviceaccount.com"
_VARS = (
    "APP_ENVIRONMENT",
    "BACKTEST_WORKER_AUDIENCE",
    "BACKTEST_WORKER_URL",
    "TASKS_INVOKER_SA",
    "CLOUD_TASKS_EMULATOR_HOST",
)


def _load(function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"{function}_startup_{uuid.uuid4().hex}", ROOT / "functions" / function / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("function", ["backtest_worker", "backtests"])
@pytest.mark.parametrize(
    "env",
    [
        {"CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:8123", "BACKTEST_WORKER_URL": "http://x"},
        {"BACKTEST_WORKER_URL": WORKER},  # no invoker
        {"TASKS_INVOKER_SA": INVOKER},  # no audience
    ],
)
def test_cloud_mode_refuses_to_start_without_audience_and_invoker(
    clean_env: pytest.MonkeyPatch, function: str, env: dict[str, str]
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match="cloud mode needs"):
        _load(function)


@pytest.mark.parametrize("function", ["backtests", "markets"])
def test_the_apis_refuse_to_start_in_cloud_mode_without_a_cursor_key(
    clean_env: pytest.MonkeyPatch, function: str
) -> None:
    """Cursors signed with the key in the source could be forged: only the local stack may
    fall back to it; in the cloud a missing ``API_CURSOR_KEY`` stops the instance starting."""
    clean_env.setenv("BACKTEST_WORKER_AUDIENCE", WORKER)
    clean_env.setenv("TASKS_INVOKER_SA", INVOKER)
    clean_env.delenv("API_CURSOR_KEY", raising=False)
    with pytest.raises(ConfigError, match="API_CURSOR_KEY"):
        _load(function)
    clean_env.setenv("APP_ENVIRONMENT", "local")
    _load(function)
    clean_env.delenv("APP_ENVIRONMENT")
    clean_env.setenv("API_CURSOR_KEY", "a-key")
    _load(function)


@pytest.mark.parametrize("function", ["backtest_worker", "backtests"])
def test_cloud_mode_starts_with_both_and_local_mode_with_neither(
    clean_env: pytest.MonkeyPatch, function: str
) -> None:
    clean_env.setenv("BACKTEST_WORKER_AUDIENCE", WORKER)
    clean_env.setenv("TASKS_INVOKER_SA", INVOKER)
    assert _load(function).TASK_AUTH.mode == "cloud"
    for name in _VARS:
        clean_env.delenv(name, raising=False)
    clean_env.setenv("APP_ENVIRONMENT", "local")
    assert _load(function).TASK_AUTH.mode == "emulator"


class RecordingClient:
    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def create_task(self, parent: str, task: Any) -> Any:
        self.tasks.append(task)
        return task


def test_each_task_gets_the_workers_timeout_as_its_dispatch_deadline() -> None:
    client = RecordingClient()
    env = {"CLOUD_TASKS_QUEUE": QUEUE, "BACKTEST_WORKER_URL": WORKER, "TASKS_INVOKER_SA": INVOKER}
    dispatcher = dispatcher_from_env(env, WorkerSettings(timeout_s=1_500), client=client)
    dispatcher.dispatch(uuid.uuid4())
    (task,) = client.tasks
    # Without it Cloud Tasks gives up after 10 minutes on a run the worker is still computing
    # and delivers it again.
    assert task.dispatch_deadline == timedelta(seconds=1_500)
    assert task.http_request.oidc_token.service_account_email == INVOKER
    # Cloud Tasks accepts at most 30 minutes for HTTP targets.
    dispatcher_from_env(env, WorkerSettings(timeout_s=3_600), client=client).dispatch(uuid.uuid4())
    assert client.tasks[-1].dispatch_deadline == timedelta(seconds=1_800)
