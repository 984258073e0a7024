import json
from datetime import timedelta
from decimal import Decimal

import pytest
from google.api_core.exceptions import AlreadyExists
from google.cloud import tasks_v2

from shared.config import ConfigError
from shared.messaging.tasks import (
    Forbidden,
    TaskAuth,
    TaskQueue,
    task_auth_mode_from_env,
    task_name_for,
    verify_task_request,
)

QUEUE = "projects/proj/locations/us-central1/queues/backtests"
WORKER = "https://backtest-worker-abc-uc.a.run.app/"
INVOKER = "tasks-invoker@proj.iam.gserviceaccount.com"


def test_http_task_carries_oidc_token_body_headers_and_name():
    queue = TaskQueue(QUEUE, client=object(), dispatch_deadline=timedelta(minutes=15))
    task = queue.build_http_task(
        WORKER,
        {"run_id": "r-1", "capital_dollars": Decimal("100.00")},
        task_id="run-r-1",
        oidc_service_account=INVOKER,
        audience=None,
        headers={"X-Trace": "t"},
    )
    assert task.name == f"{QUEUE}/tasks/run-r-1"
    request = task.http_request
    assert request.url == WORKER
    assert request.http_method == tasks_v2.HttpMethod.POST
    assert request.oidc_token.service_account_email == INVOKER
    assert request.oidc_token.audience == WORKER  # defaults to the target URL
    assert dict(request.headers) == {"Content-Type": "application/json", "X-Trace": "t"}
    assert json.loads(request.body) == {"run_id": "r-1", "capital_dollars": "100.00"}
    assert task.dispatch_deadline == timedelta(minutes=15)


def test_explicit_audience_and_no_oidc_locally():
    queue = TaskQueue(QUEUE, client=object())
    with_audience = queue.build_http_task(
        WORKER, {}, task_id="a", oidc_service_account=INVOKER, audience="https://aud"
    )
    assert with_audience.http_request.oidc_token.audience == "https://aud"
    local = queue.build_http_task(
        "http://127.0.0.1:1/", {}, task_id="a", oidc_service_account=None, audience=None
    )
    assert not local.http_request.oidc_token.service_account_email


def test_task_ids_outside_the_allowed_alphabet_are_hashed_deterministically():
    first = task_name_for(QUEUE, "user:42/run:7")
    assert first == task_name_for(QUEUE, "user:42/run:7")
    assert first != task_name_for(QUEUE, "user:42/run:8")
    suffix = first.rsplit("/", 1)[1]
    assert len(suffix) == 64 and suffix.isalnum()
    with pytest.raises(ValueError):
        task_name_for(QUEUE, "")


def test_bad_queue_path_is_refused():
    with pytest.raises(ValueError):
        TaskQueue("backtests")


class RecordingClient:
    def __init__(self, fail_with=None):
        self.calls = []
        self.fail_with = fail_with

    def create_task(self, parent, task):
        self.calls.append((parent, task))
        if self.fail_with:
            raise self.fail_with
        return task


def test_enqueue_sends_to_the_queue_and_treats_already_exists_as_success():
    client = RecordingClient()
    name = TaskQueue(QUEUE, client=client).enqueue_http(
        WORKER, {"a": 1}, task_id="t1", oidc_service_account=INVOKER, audience=None
    )
    assert name == f"{QUEUE}/tasks/t1"
    assert client.calls[0][0] == QUEUE
    duplicate = RecordingClient(fail_with=AlreadyExists("exists"))
    again = TaskQueue(QUEUE, client=duplicate).enqueue_http(
        WORKER, {"a": 1}, task_id="t1", oidc_service_account=INVOKER, audience=None
    )
    assert again == name


def test_emulator_host_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:9")
    assert TaskQueue(QUEUE).emulator_host == "127.0.0.1:9"
    monkeypatch.delenv("CLOUD_TASKS_EMULATOR_HOST")
    assert TaskQueue(QUEUE).emulator_host is None


# -- receiver ------------------------------------------------------------------------------


def claims(**overrides):
    base = {"iss": "https://accounts.google.com", "email": INVOKER, "email_verified": True}
    base.update(overrides)
    return base


def verifier_returning(result, seen=None):
    def verify(token, audience):
        if seen is not None:
            seen.append((token, audience))
        if isinstance(result, Exception):
            raise result
        return result

    return verify


def cloud_headers(**extra):
    headers = {"X-CloudTasks-QueueName": "backtests", "Authorization": "Bearer tok"}
    headers.update(extra)
    return headers


def test_cloud_mode_accepts_a_valid_token_from_the_invoker():
    seen = []
    assert verify_task_request(
        cloud_headers(),
        expected_queue=QUEUE,
        audience=WORKER,
        mode="cloud",
        service_account_email=INVOKER,
        token_verifier=verifier_returning(claims(), seen),
    )
    assert seen == [("tok", WORKER)]


@pytest.mark.parametrize(
    ("headers", "token_claims"),
    [
        ({"X-CloudTasks-QueueName": "backtests"}, claims()),  # no token
        (cloud_headers(Authorization="Basic abc"), claims()),
        (cloud_headers(**{"X-CloudTasks-QueueName": "other"}), claims()),
        ({"Authorization": "Bearer tok"}, claims()),  # no queue header
        (cloud_headers(), claims(email="someone@gmail.com")),
        (cloud_headers(), claims(email_verified=False)),
        (cloud_headers(), claims(iss="https://evil.example")),
        (cloud_headers(), ValueError("bad signature")),
    ],
)
def test_cloud_mode_refuses(headers, token_claims):
    with pytest.raises(Forbidden):
        verify_task_request(
            headers,
            expected_queue=QUEUE,
            audience=WORKER,
            mode="cloud",
            service_account_email=INVOKER,
            token_verifier=verifier_returning(token_claims),
        )


def test_emulator_mode_needs_the_queue_header_only():
    # gcloud-tasks-emulator 0.6.2 sends the full queue path, lower-cased header names arrive.
    assert verify_task_request(
        {"x-cloudtasks-queuename": QUEUE}, expected_queue=QUEUE, audience=None, mode="emulator"
    )
    assert verify_task_request(
        {"X-CloudTasks-QueueName": QUEUE},
        expected_queue="backtests",
        audience=None,
        mode="emulator",
    )
    for headers in ({}, {"X-CloudTasks-QueueName": QUEUE.replace("backtests", "other")}):
        with pytest.raises(Forbidden):
            verify_task_request(headers, expected_queue=QUEUE, audience=None, mode="emulator")


# -- fail closed ---------------------------------------------------------------------------


def test_only_an_explicit_local_environment_switches_token_checks_off():
    # An emulator address alone (a leftover variable) no longer means "local".
    assert task_auth_mode_from_env({"CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:8123"}) == "cloud"
    assert task_auth_mode_from_env({}) == "cloud"
    assert task_auth_mode_from_env({"APP_ENVIRONMENT": "production"}) == "cloud"
    assert task_auth_mode_from_env({"APP_ENVIRONMENT": "local"}) == "emulator"


def test_an_emulator_address_in_the_process_environment_does_not_mean_local(monkeypatch):
    monkeypatch.delenv("APP_ENVIRONMENT", raising=False)
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:8123")
    assert task_auth_mode_from_env() == "cloud"


@pytest.mark.parametrize(
    ("audience", "invoker"), [(None, INVOKER), (WORKER, None), (None, None), ("", INVOKER)]
)
def test_cloud_mode_without_audience_or_invoker_refuses_every_request(audience, invoker):
    # A token any Google account minted for any audience would otherwise pass.
    with pytest.raises(Forbidden):
        verify_task_request(
            cloud_headers(),
            expected_queue=QUEUE,
            audience=audience,
            mode="cloud",
            service_account_email=invoker,
            token_verifier=verifier_returning(claims()),
        )


def test_task_auth_from_env_refuses_cloud_mode_without_audience_and_invoker():
    names = ("BACKTEST_WORKER_AUDIENCE", "BACKTEST_WORKER_URL")
    with pytest.raises(ConfigError, match="BACKTEST_WORKER_AUDIENCE or BACKTEST_WORKER_URL"):
        TaskAuth.from_env({"TASKS_INVOKER_SA": INVOKER}, audience_vars=names)
    with pytest.raises(ConfigError, match="TASKS_INVOKER_SA"):
        TaskAuth.from_env({"BACKTEST_WORKER_URL": WORKER}, audience_vars=names)
    with pytest.raises(ConfigError):
        TaskAuth.from_env({"CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:1"}, audience_vars=names)
    cloud = TaskAuth.from_env(
        {"BACKTEST_WORKER_URL": WORKER, "TASKS_INVOKER_SA": INVOKER}, audience_vars=names
    )
    assert (cloud.mode, cloud.audience, cloud.invoker) == ("cloud", WORKER, INVOKER)
    local = TaskAuth.from_env({"APP_ENVIRONMENT": "local"}, audience_vars=names)
    assert (local.mode, local.audience, local.invoker) == ("emulator", None, None)
