"""Policy over infra/*.tf, checked structurally (python-hcl2): what Terraform cannot check
offline and checkov has no rule for (docs/decisions/0070-0073, 0105, 0106).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.messaging.topics import ALL_TOPICS
from tests.infra.tf import INFRA, TfModule, load_modules, one, parse_file, tf_files, walk_strings

BASIC_ROLES = re.compile(r"^roles/(owner|editor|viewer)$")
ROLE = re.compile(r"roles/[A-Za-z0-9_.]+")
EXPECTED_FUNCTIONS = {
    "poll_markets",
    "markets",
    "backtests",
    "backtest_worker",
    "account",
    "backfill",
}


@pytest.fixture(scope="module")
def modules() -> dict[str, TfModule]:
    return load_modules()


def _all_resources(modules: dict[str, TfModule]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(key, t, n, b) for key, m in modules.items() for t, n, b in m.resources]


def _ref(value: Any) -> str:
    return str(value)


# ------------------------------------------------------------------ files and layout


def test_every_tf_file_parses_and_has_a_license_header() -> None:
    files = tf_files()
    assert len(files) >= 40
    for path in files:
        parse_file(path)
        head = path.read_text().splitlines()[:2]
        assert head and "Copyright" in head[0], f"{path} lacks the license header"
        assert "Apache-2.0" in head[1], f"{path} lacks the SPDX Apache-2.0 line"


def test_modules_follow_the_cft_layout(modules: dict[str, TfModule]) -> None:
    names = {k.split("/", 1)[1] for k in modules if k.startswith("modules/")}
    assert {"pubsub", "sql", "function", "run_service", "scheduler", "tasks", "secrets", "lb"} <= (
        names
    )
    for name in names:
        for file in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (INFRA / "modules" / name / file).is_file(), f"modules/{name}/{file} missing"


def test_provider_versions_are_pinned_with_an_upper_bound(modules: dict[str, TfModule]) -> None:
    for key, module in modules.items():
        blocks = [b for b in module.terraform if "required_providers" in b]
        assert blocks, f"{key} declares no required_providers"
        google = one(blocks[0]["required_providers"])["google"]
        assert google["source"] == "hashicorp/google"
        assert ">=" in google["version"] and "<" in google["version"].replace(">=", ""), key
        assert any("required_version" in b for b in module.terraform), key


@pytest.mark.parametrize("root", ["environments/dev", "environments/prod", "bootstrap"])
def test_roots_use_an_empty_gcs_backend_configured_at_init(
    modules: dict[str, TfModule], root: str
) -> None:
    backends = [b["backend"] for b in modules[root].terraform if "backend" in b]
    assert len(backends) == 1, f"{root} must declare exactly one backend"
    backend = backends[0]
    assert backend == [{"gcs": {}}], f"{root}: backend settings belong in -backend-config"
    assert (INFRA / root / "terraform.tfvars.example").is_file()


def test_every_variable_has_type_and_description(modules: dict[str, TfModule]) -> None:
    count = 0
    for key, module in modules.items():
        for name, body in module.variables:
            count += 1
            assert body.get("type"), f"{key}: variable {name} has no type"
            assert str(body.get("description", "")).strip(), f"{key}: {name} has no description"
    assert count > 100


@pytest.mark.parametrize("env", ["environments/dev", "environments/prod"])
def test_environment_scalars_are_validated(modules: dict[str, TfModule], env: str) -> None:
    for name, body in modules[env].variables:
        if str(body["type"]) in ("string", "number") and name != "function_source_dir":
            assert body.get("validation"), f"{env}: variable {name} has no validation"


def test_no_timestamp_churn_in_terraform() -> None:
    for path in tf_files():
        code = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        assert not any("timestamp(" in line for line in code), f"{path} uses timestamp()"


# ------------------------------------------------------------------ Pub/Sub


def test_topics_are_created_only_by_the_pubsub_module(modules: dict[str, TfModule]) -> None:
    owners = {key for key, t, _, _ in _all_resources(modules) if t == "google_pubsub_topic"}
    assert owners == {"modules/pubsub"}


def test_every_topic_has_a_dead_letter_topic_and_a_subscription_keeping_it(
    modules: dict[str, TfModule],
) -> None:
    pubsub = modules["modules/pubsub"]
    topics = {name: body for name, body in pubsub.resources_of("google_pubsub_topic")}
    mains = {n: b for n, b in topics.items() if not str(b["name"]).endswith("-dead-letter")}
    dead = {n: b for n, b in topics.items() if str(b["name"]).endswith("-dead-letter")}
    assert mains and dead
    for body in mains.values():
        assert any(d["name"] == f"{body['name']}-dead-letter" for d in dead.values())
    subscriptions = pubsub.resources_of("google_pubsub_subscription")
    for name in dead:
        assert any(
            str(sub["topic"]) == f"${{google_pubsub_topic.{name}.id}}" for _, sub in subscriptions
        ), f"dead-letter topic {name} has no subscription: its messages would be lost"


def test_platform_creates_every_contract_topic(modules: dict[str, TfModule]) -> None:
    names = {body["name"] for _, body in modules["modules/platform"].module_calls("/pubsub")}
    assert names == set(ALL_TOPICS)


def test_every_subscription_has_retry_and_dead_letter_policies(
    modules: dict[str, TfModule],
) -> None:
    subs = [
        (key, name, body)
        for key, t, name, body in _all_resources(modules)
        if t == "google_pubsub_subscription"
    ]
    assert len(subs) >= 3
    dead_letter_topics = {
        f"${{google_pubsub_topic.{n}.id}}"
        for n, b in modules["modules/pubsub"].resources_of("google_pubsub_topic")
        if str(b["name"]).endswith("-dead-letter")
    }
    for key, name, body in subs:
        retry = one(body.get("retry_policy"))
        assert retry.get("minimum_backoff") and retry.get("maximum_backoff"), f"{key}:{name}"
        if str(body["topic"]) in dead_letter_topics:
            assert "dead_letter_policy" not in body, f"{name}: a dead-letter keeper dead-letters"
            continue
        policy = one(body.get("dead_letter_policy"))
        assert str(policy["dead_letter_topic"]) in dead_letter_topics, f"{key}:{name}"
        assert policy.get("max_delivery_attempts"), f"{key}:{name}"
        assert body.get("ack_deadline_seconds"), f"{key}:{name}"
        push = body.get("push_config")
        if push:
            oidc = one(one(push)["oidc_token"])
            assert oidc.get("service_account_email") and oidc.get("audience"), name


def test_dead_letter_forwarding_is_authorised_for_the_service_agent(
    modules: dict[str, TfModule],
) -> None:
    pubsub = modules["modules/pubsub"]
    publisher = dict(pubsub.resources_of("google_pubsub_topic_iam_member"))["dead_letter_publisher"]
    assert "gcp-sa-pubsub" in str(pubsub.locals["service_agent"])
    assert publisher["member"] == "${local.service_agent}"
    assert publisher["role"] == "roles/pubsub.publisher"
    subscriber = dict(pubsub.resources_of("google_pubsub_subscription_iam_member"))[
        "dead_letter_source_subscriber"
    ]
    assert subscriber["role"] == "roles/pubsub.subscriber"


def test_no_eventarc_triggers_on_functions(modules: dict[str, TfModule]) -> None:
    for key, t, name, body in _all_resources(modules):
        if t == "google_cloudfunctions2_function":
            assert "event_trigger" not in body, f"{key}:{name} (see docs/decisions/0040)"


# ------------------------------------------------------------------ functions and services


def test_every_function_is_bounded_and_has_its_own_identity(modules: dict[str, TfModule]) -> None:
    functions = [
        (key, body)
        for key, t, _, body in _all_resources(modules)
        if t == "google_cloudfunctions2_function"
    ]
    assert [key for key, _ in functions] == ["modules/function"]
    service = one(functions[0][1]["service_config"])
    assert service["max_instance_count"] == "${var.max_instance_count}"
    assert service["service_account_email"] == "${google_service_account.runtime.email}"
    # gunicorn's threads follow the concurrency Cloud Run sends, not the host's CPU count.
    assert "THREADS = tostring(var.max_instance_request_concurrency)" in str(
        service["environment_variables"]
    ).replace('"', "")
    assert one(functions[0][1]["build_config"])["service_account"] == (
        "${var.build_service_account_id}"
    )
    variables = dict(modules["modules/function"].variables)
    assert "default" not in variables["max_instance_count"], "max_instance_count must be explicit"
    assert "default" not in variables["timeout_seconds"]
    assert "ALLOW_ALL" not in str(variables["ingress_settings"]["validation"][0]["condition"])


def test_platform_deploys_each_function_with_explicit_limits(modules: dict[str, TfModule]) -> None:
    calls = modules["modules/platform"].module_calls("/function")
    assert {body["name"] for _, body in calls} == EXPECTED_FUNCTIONS
    account_ids = set()
    for name, body in calls:
        assert body.get("max_instance_count"), f"{name} has no max_instance_count"
        assert body.get("timeout_seconds"), name
        assert body["ingress_settings"] in ("ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"), name
        account_ids.add(body["service_account_id"])
        env = str(body["environment_variables"])
        assert "INSTANCE_CONNECTION_NAME" in env or "common_env" in env, name
    assert len(account_ids) == len(calls), "each function needs its own service account"
    # Only the public API functions accept unauthenticated (load balancer) traffic.
    for name, body in calls:
        if body.get("allow_unauthenticated") is True:
            assert body["ingress_settings"] == "ALLOW_INTERNAL_AND_GCLB", name
        else:
            assert body["ingress_settings"] == "ALLOW_INTERNAL_ONLY", name
            assert body.get("invoker_members"), f"{name} has no invoker"


def test_streamer_is_a_single_always_on_instance(modules: dict[str, TfModule]) -> None:
    calls = dict(modules["modules/platform"].module_calls("/run_service"))
    assert set(calls) == {"streamer", "streamer_fanout"}
    streamer = calls["streamer"]
    # Split mode is an option: the fan-out exists only with streamer_fanout_max_instances > 0,
    # autoscales, runs as the streamer's account and creates its own subscriptions.
    fanout = calls["streamer_fanout"]
    assert fanout["count"] == "${local.streamer_split ? 1 : 0}"
    assert fanout["max_instance_count"] == "${var.streamer_fanout_max_instances}"
    assert fanout["service_account_email"] == "${module.streamer.service_account_email}"
    assert fanout["cpu_idle"] is False and fanout["timeout"] == "3600s"
    assert 'STREAMER_ROLE="fanout"' in str(fanout["environment_variables"]).replace(" ", "")
    # Its subscriptions need a custom role of three permissions, never roles/pubsub.editor.
    assert "pubsub.editor" not in str(streamer["project_roles"])
    assert "local.streamer_subscriptions_role" in str(streamer["project_roles"])
    role = dict(modules["modules/platform"].resources_of("google_project_iam_custom_role"))[
        "streamer_subscriptions"
    ]
    assert sorted(role["permissions"]) == [
        "pubsub.subscriptions.consume",
        "pubsub.subscriptions.create",
        "pubsub.topics.attachSubscription",
    ]
    assert streamer["min_instance_count"] == 1
    assert streamer["max_instance_count"] == 1
    assert streamer["cpu_idle"] is False
    assert streamer["timeout"] == "3600s"
    assert streamer["session_affinity"] is True
    run = dict(modules["modules/run_service"].resources_of("google_cloud_run_v2_service"))["this"]
    template = one(run["template"])
    scaling = one(template["scaling"])
    assert scaling["min_instance_count"] == "${var.min_instance_count}"
    assert scaling["max_instance_count"] == "${var.max_instance_count}"
    assert template["timeout"] == "${var.timeout}"
    assert template["session_affinity"] == "${var.session_affinity}"
    # Its own account, or (the split's fan-out) the streamer's: never the default compute one.
    assert template["service_account"] == "${local.runtime_email}"
    runtime = modules["modules/run_service"].locals["runtime_email"]
    assert "var.service_account_email" in runtime and "google_service_account.runtime" in runtime
    resources = one(one(template["containers"])["resources"])
    assert resources["cpu_idle"] == "${var.cpu_idle}"


# ------------------------------------------------------------------ IAM


def test_no_default_compute_or_legacy_build_accounts() -> None:
    for path in tf_files():
        text = path.read_text()
        for line in text.splitlines():
            if "compute@developer.gserviceaccount.com" in line:
                assert "regex" in line, f"{path}: default compute account used: {line.strip()}"
        assert "@cloudbuild.gserviceaccount.com" not in text, path
        assert "@appspot.gserviceaccount.com" not in text, path


def test_no_basic_roles_anywhere(modules: dict[str, TfModule]) -> None:
    roles_seen = 0
    for key, module in modules.items():
        scopes: list[Any] = [module.locals, [b for _, _, b in module.resources]]
        scopes += [b for _, b in module.modules]
        for scope in scopes:
            for value in walk_strings(scope):
                # Roles also hide inside expressions: toset(["roles/a", "roles/b"]).
                for role in ROLE.findall(value):
                    roles_seen += 1
                    assert not BASIC_ROLES.match(role), f"{key}: basic role {role}"
    assert roles_seen > 10


def test_secret_access_is_granted_per_secret(modules: dict[str, TfModule]) -> None:
    for key, t, name, body in _all_resources(modules):
        if "secretmanager" in str(body.get("role", "")) or "secretmanager" in str(
            body.get("for_each", "")
        ):
            assert t == "google_secret_manager_secret_iam_member", f"{key}:{t}.{name}"


def test_public_invokers_only_behind_the_load_balancer(modules: dict[str, TfModule]) -> None:
    for key, t, name, body in _all_resources(modules):
        if body.get("member") == "allUsers":
            assert t in (
                "google_cloud_run_service_iam_member",
                "google_cloud_run_v2_service_iam_member",
                "google_storage_bucket_iam_member",
            ), f"{key}:{t}.{name}"
            if t == "google_storage_bucket_iam_member":
                assert body["role"] == "roles/storage.objectViewer" and key == "modules/lb"
            else:
                assert body.get("count") == "${var.allow_unauthenticated ? 1 : 0}", name


# ------------------------------------------------------------------ secrets


def test_terraform_never_holds_secret_values(modules: dict[str, TfModule]) -> None:
    forbidden = {"google_secret_manager_secret_version", "random_password", "tls_private_key"}
    for key, t, name, body in _all_resources(modules):
        assert t not in forbidden, f"{key}: {t}.{name} would put a secret value in state"
        if t == "google_sql_user":
            assert "password" not in body, f"{key}: {name} sets a password"
    for path in tf_files():
        assert "secret_data" not in path.read_text(), path
    secrets = modules["modules/platform"].module_calls("/secrets")
    assert len(secrets) == 1
    ids = set(modules["modules/platform"].locals["secret_names"].values())
    assert ids == {"jwt-signing-key", "credential-keyring", "db-password", "api-cursor-key"}


# ------------------------------------------------------------------ Cloud SQL


def test_cloud_sql_is_backed_up_encrypted_and_connector_only(modules: dict[str, TfModule]) -> None:
    sql = modules["modules/sql"]
    instance = dict(sql.resources_of("google_sql_database_instance"))["this"]
    assert instance["deletion_protection"] == "${var.deletion_protection}"
    settings = one(instance["settings"])
    assert settings["deletion_protection_enabled"] == "${var.deletion_protection}"
    backup = one(settings["backup_configuration"])
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    ip = one(settings["ip_configuration"])
    assert ip["ssl_mode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    assert "authorized_networks" not in ip
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    variables = dict(sql.variables)
    assert variables["database_version"]["default"] == "POSTGRES_15"
    assert "default" not in variables["deletion_protection"]
    users = dict(sql.resources_of("google_sql_user"))
    assert users["iam_service_account"]["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"


def test_prod_database_is_deletion_protected(modules: dict[str, TfModule]) -> None:
    platform_calls = dict(modules["modules/platform"].module_calls("/sql"))
    assert platform_calls["sql"]["deletion_protection"] == "${var.sql_deletion_protection}"
    prod = dict(modules["environments/prod"].modules)["platform"]
    assert prod["sql_deletion_protection"] is True
    assert prod["sql_availability_type"] == "REGIONAL"
    assert prod["environment"] == "prod"
    assert dict(modules["environments/dev"].modules)["platform"]["environment"] == "dev"


# ------------------------------------------------------------------ scheduler, tasks, APIs, labels


def test_scheduler_and_queue_have_explicit_retry_settings(modules: dict[str, TfModule]) -> None:
    job = dict(modules["modules/scheduler"].resources_of("google_cloud_scheduler_job"))["this"]
    assert one(job["retry_config"])["retry_count"] == "${var.retry_count}"
    assert job["time_zone"] == "${var.time_zone}"
    assert one(job["pubsub_target"])["topic_name"] == "${var.topic_id}"
    schedule = dict(modules["modules/platform"].module_calls("/scheduler"))["poll_schedule"]
    assert schedule["topic_id"] == "${module.topic_poll_trigger.topic_id}"
    assert dict(modules["modules/platform"].variables)["poll_schedule"]["default"] == "* * * * *"
    queue = dict(modules["modules/tasks"].resources_of("google_cloud_tasks_queue"))["this"]
    assert one(queue["retry_config"])["max_attempts"] == "${var.max_attempts}"
    assert one(queue["rate_limits"])["max_concurrent_dispatches"]
    assert dict(modules["modules/platform"].module_calls("/tasks"))["backtest_queue"]["name"] == (
        "backtests"
    )


def test_the_daily_backfill_is_an_oidc_job_the_backfill_function_checks(
    modules: dict[str, TfModule],
) -> None:
    platform = modules["modules/platform"]
    job = dict(platform.module_calls("/http_scheduler"))["backfill_schedule"]
    assert job["uri"] == "${local.backfill_url}/_jobs/backfill"
    assert job["audience"] == "${local.backfill_url}"
    invoker = "${google_service_account.scheduler_invoker.email}"
    assert job["oidc_service_account_email"] == invoker
    assert job["time_zone"] == "Etc/UTC"
    fn = dict(platform.module_calls("/function"))["fn_backfill"]
    env = fn["environment_variables"]
    assert "BACKFILL_JOB_AUDIENCE = local.backfill_url" in env
    assert "BACKFILL_JOB_INVOKER_SA = google_service_account.scheduler_invoker.email" in env
    assert "scheduler" in fn["invoker_members"]


def test_required_apis_are_enabled_and_never_disabled(modules: dict[str, TfModule]) -> None:
    apis = set(modules["modules/platform"].locals["apis"])
    for api in (
        "sqladmin", "run", "cloudfunctions", "cloudbuild", "artifactregistry", "eventarc",
        "pubsub", "cloudscheduler", "cloudtasks", "secretmanager", "compute",
    ):  # fmt: skip
        assert f"{api}.googleapis.com" in apis
    service = dict(modules["modules/project_services"].resources_of("google_project_service"))
    assert service["this"]["disable_on_destroy"] is False


LABELLED = {
    "google_pubsub_topic",
    "google_pubsub_subscription",
    "google_cloudfunctions2_function",
    "google_cloud_run_v2_service",
    "google_storage_bucket",
    "google_secret_manager_secret",
    "google_compute_global_address",
    "google_compute_global_forwarding_rule",
    "google_artifact_registry_repository",
}


def test_labels_everywhere(modules: dict[str, TfModule]) -> None:
    checked = 0
    for key, t, name, body in _all_resources(modules):
        if t in LABELLED:
            checked += 1
            assert body.get("labels"), f"{key}: {t}.{name} has no labels"
        if t == "google_sql_database_instance":
            assert one(body["settings"]).get("user_labels"), name
    assert checked >= 12


def test_load_balancer_routes_one_origin(modules: dict[str, TfModule]) -> None:
    lb = dict(modules["modules/platform"].module_calls("/lb"))["lb"]
    backends = lb["serverless_backends"]
    paths = {p: key for key, b in backends.items() for p in b["paths"]}
    assert paths["/api/v1/stream"] == "streamer"
    assert paths["/api/v1/markets/*"] == "markets"
    assert paths["/api/v1/backtests/*"] == "backtests"
    assert paths["/api/v1/account/*"] == "account"
    assert "/api/v1/backtest_worker" not in str(backends), "the worker is never public"
    url_map = dict(modules["modules/lb"].resources_of("google_compute_url_map"))["https"]
    assert url_map["default_service"] == "${google_compute_backend_bucket.static.id}"


# ------------------------------------------------------------------ CI identities (0105)


def test_the_test_account_impersonates_no_one_and_only_build_reaches_the_deployer(
    modules: dict[str, TfModule],
) -> None:
    boot = modules["bootstrap"]
    accounts = {
        name: body["account_id"] for name, body in boot.resources_of("google_service_account")
    }
    assert accounts == {"ci": "ki-ci", "build": "ki-cloudbuild", "deployer": "ki-deployer"}
    ci_member = "serviceAccount:${google_service_account.ci.email}"
    for _, t, name, body in _all_resources({"bootstrap": boot}):
        if body.get("member") == ci_member:
            assert "serviceAccount" not in str(body.get("role", "")), f"{t}.{name}"
            assert t != "google_service_account_iam_member", f"{t}.{name}: ki-ci impersonates"
            assert body["role"] in {
                "roles/logging.logWriter",
                "roles/storage.objectCreator",
                "roles/artifactregistry.writer",
            }, f"{t}.{name}: {body['role']}"
    impersonation = boot.resources_of("google_service_account_iam_member")
    assert [(n, b["member"]) for n, b in impersonation] == [
        ("build_impersonates_deployer", "serviceAccount:${google_service_account.build.email}")
    ]
    build_project_roles = dict(boot.resources_of("google_project_iam_member"))["build"]
    assert "serviceAccountTokenCreator" not in str(build_project_roles["for_each"])


# ------------------------------------------------------------------ public edge (0106)


def test_api_backends_sit_behind_a_per_client_rate_limit(modules: dict[str, TfModule]) -> None:
    lb = modules["modules/lb"]
    policies = dict(lb.resources_of("google_compute_security_policy"))
    assert set(policies) == {"api"}
    rules = policies["api"]["rule"]
    limited = [r for r in rules if r["action"] in ("rate_based_ban", "throttle")]
    assert limited, "no rate_based_ban/throttle rule"
    for rule in limited:
        options = one(rule["rate_limit_options"])
        assert options["enforce_on_key"] == "IP"
        assert options["exceed_action"] == "deny(429)"
        threshold = one(options["rate_limit_threshold"])
        assert threshold["count"] == "${var.rate_limit_count}"
        assert threshold["interval_sec"] == "${var.rate_limit_interval_sec}"
        assert one(one(rule["match"])["config"])["src_ip_ranges"] == ["*"]
    default = [r for r in rules if r["priority"] == 2147483647]
    assert len(default) == 1 and min(r["priority"] for r in limited) < 2147483647
    backend = dict(lb.resources_of("google_compute_backend_service"))["serverless"]
    assert backend["security_policy"] == "${google_compute_security_policy.api.id}"
    assert "security_policy" not in dict(lb.variables), "the policy is not optional"
    variables = dict(lb.variables)
    for name in ("rate_limit_count", "rate_limit_interval_sec", "ban_duration_sec"):
        assert variables[name].get("validation"), name


def test_cursor_key_comes_from_secret_manager_never_a_literal(modules: dict[str, TfModule]) -> None:
    platform = modules["modules/platform"]
    env = platform.locals["api_secret_env"]["API_CURSOR_KEY"]
    assert env["secret"] == "${local.secret_names.api_cursor_key}"
    assert env["version"] == "${var.api_cursor_key_version}"
    secrets = dict(platform.module_calls("/secrets"))["secrets"]["secrets"]
    accessors = secrets["${(local.secret_names.api_cursor_key)}"]["accessors"]
    calls = dict(platform.module_calls("/function"))
    public = {n for n, b in calls.items() if b.get("allow_unauthenticated") is True}
    assert public == {"fn_markets", "fn_backtests", "fn_account"}
    for name in public:
        assert calls[name]["secret_environment_variables"] == "${local.api_secret_env}", name
        assert f"${{module.{name}.service_account_member}}" in accessors.values(), name
    for key, module in modules.items():
        for _, _, body in module.resources:
            assert "API_CURSOR_KEY" not in str(body.get("environment_variables", "")), key
        for _, body in module.modules:
            assert "API_CURSOR_KEY" not in str(body.get("environment_variables", "")), key
    function = modules["modules/function"]
    service = one(
        dict(function.resources_of("google_cloudfunctions2_function"))["this"]["service_config"]
    )
    dynamic = [block for d in service.get("dynamic", []) for block in d]
    assert "secret_environment_variables" in dynamic, "the function module drops secret env"
