"""cloudbuild.yaml (CI), cloudbuild-deploy.yaml (CD) and emulator-compose.yml: valid YAML
with the shape the project promises, least privilege for the code under test, images by
digest, and only paths that exist in the repository."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from devstack.gateway import IMMUTABLE, REVALIDATE
from tests.infra.tf import REPO_ROOT, load_modules

ORDER = ["lint", "unit", "integration", "package-functions", "publish-artifacts"]
DEPLOY_ORDER = [
    "fetch-artifacts",
    "terraform-plan",
    "terraform-apply",
    "migrate",
    "upload-dashboard",
]
DEPLOY_STEPS = {"terraform-plan", "terraform-apply", "migrate", "upload-dashboard"}
DIGEST = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
ENVIRONMENTS = ("dev", "prod")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / name).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def cloudbuild() -> dict[str, Any]:
    return _load("cloudbuild.yaml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load("cloudbuild-deploy.yaml")


def _expand(value: str, subs: dict[str, Any], env: str = "dev") -> str:
    """``value`` with the build's own ``${_X}`` substitutions filled in (one level deep)."""
    for _ in range(3):
        value = re.sub(
            r"\$\{(_[A-Z_]+)\}",
            lambda m: env if m.group(1) == "_ENV" else str(subs.get(m.group(1), m.group(0))),
            value,
        )
    return value


def _step_text(step: dict[str, Any]) -> str:
    return "\n".join(
        [str(step.get("script", "")), *map(str, step.get("args", [])), *step.get("env", [])]
    )


@pytest.mark.parametrize("name", ["cloudbuild.yaml", "cloudbuild-deploy.yaml"])
def test_every_build_step_has_a_unique_id(name: str) -> None:
    build = _load(name)
    ids = [step.get("id") for step in build["steps"]]
    assert all(ids), "every step needs an id"
    assert len(set(ids)) == len(ids)
    known = set(ids) | {"-"}
    for step in build["steps"]:
        for dep in step.get("waitFor", []):
            assert dep in known, f"{step['id']} waits for unknown step {dep}"


def _ancestors(build: dict[str, Any], step_id: str) -> set[str]:
    steps = {s["id"]: s for s in build["steps"]}
    seen: set[str] = set()
    pending = list(steps[step_id].get("waitFor", []))
    while pending:
        dep = pending.pop()
        if dep in seen or dep == "-":
            continue
        seen.add(dep)
        pending.extend(steps[dep].get("waitFor", []))
    return seen


def test_deploy_runs_in_order(deploy: dict[str, Any]) -> None:
    ids = [s["id"] for s in deploy["steps"]]
    assert ids == DEPLOY_ORDER
    assert {"fetch-artifacts", "terraform-plan"} <= _ancestors(deploy, "terraform-apply")
    assert "terraform-apply" in _ancestors(deploy, "migrate")
    assert {"fetch-artifacts", "terraform-apply", "migrate"} <= _ancestors(
        deploy, "upload-dashboard"
    )


def test_pipeline_runs_in_order(cloudbuild: dict[str, Any]) -> None:
    steps = {s["id"]: s for s in cloudbuild["steps"]}
    ids = [s["id"] for s in cloudbuild["steps"]]
    assert [i for i in ids if i in ORDER] == ORDER

    def ancestors(step_id: str) -> set[str]:
        seen: set[str] = set()
        pending = list(steps[step_id].get("waitFor", []))
        while pending:
            dep = pending.pop()
            if dep in seen or dep == "-":
                continue
            seen.add(dep)
            pending.extend(steps[dep].get("waitFor", []))
        return seen

    # Explicit waitFor everywhere, so nothing is published before the tests passed.
    assert {"lint", "unit", "integration", "package-functions", "frontend"} <= ancestors(
        "publish-artifacts"
    )


def test_ci_checks_and_builds_the_dashboard_and_publishes_it(cloudbuild: dict[str, Any]) -> None:
    """The dashboard goes through what `make frontend-check` and `make frontend` run, and the
    build those checks passed on is what the deploy uploads."""
    steps = {s["id"]: s for s in cloudbuild["steps"]}
    frontend = steps["frontend"]
    assert frontend["dir"] == "frontend"
    commands = [line.strip() for line in str(frontend["script"]).splitlines()]
    wanted = ["npm ci", "npm run lint", "npm run typecheck", "npm test", "npm run build"]
    found = [next(i for i, c in enumerate(commands) if c.startswith(w)) for w in wanted]
    assert found == sorted(found), "install, lint, type check, test, then build"
    assert "set -euo pipefail" in commands
    publish = str(steps["publish-artifacts"]["script"])
    assert 'frontend/dist/* "gs://${_ARTIFACTS_BUCKET}/${_COMMIT}/dashboard/"' in publish


def _commands(script: str) -> list[list[str]]:
    """The shell commands of a step's script (comments dropped, continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def test_deploy_uploads_the_dashboard_with_the_gateways_cache_rules(
    deploy: dict[str, Any],
) -> None:
    """Hashed assets/ immutable for a year, everything else (index.html above all) revalidated,
    exactly as devstack/gateway.py serves them locally; index.html last, so no served page
    names an asset that is not there yet; as the build account, never the deployer."""
    steps = {s["id"]: s for s in deploy["steps"]}
    fetch = str(steps["fetch-artifacts"]["script"])
    assert "/dashboard/*" in fetch and "build/dashboard/" in fetch
    apply = "\n".join(steps["terraform-apply"]["args"])
    assert "terraform output -raw static_bucket_name > /workspace/static_bucket_name.txt" in apply
    step = steps["upload-dashboard"]
    assert "IMPERSONATE" not in _step_text(step).upper()
    uploads = [c for c in _commands(str(step["script"])) if c[:2] == ["gcloud", "storage"]]
    assert uploads, "the step uploads the dashboard"

    def cache_control(command: list[str]) -> str:
        values = [w.split("=", 1)[1] for w in command if w.startswith("--cache-control=")]
        assert len(values) == 1, f"every upload sets Cache-Control: {command}"
        return values[0]

    def destination(command: list[str]) -> str:
        return [w for w in command if not w.startswith("-")][-1]

    assets = [c for c in uploads if destination(c) == "${bucket}/assets"]
    assert len(assets) == 1 and cache_control(assets[0]) == IMMUTABLE == (
        "public, max-age=31536000, immutable"
    )
    assert "build/dashboard/assets" in assets[0]
    for command in uploads:
        if command is not assets[0]:
            assert cache_control(command) == REVALIDATE == "no-cache", command
    rest = [c for c in uploads if destination(c) == "${bucket}"]
    assert len(rest) == 1 and any(
        w.startswith("--exclude=") and "assets/" in w and "index" in w for w in rest[0]
    ), "the no-cache pass leaves assets/ and index.html to their own commands"
    assert destination(uploads[-1]) == "${bucket}/index.html", "index.html goes last"
    assert "build/dashboard/index.html" in uploads[-1]


def test_the_uploading_account_may_write_the_dashboard_bucket_and_nothing_more(
    deploy: dict[str, Any],
) -> None:
    """upload-dashboard runs as the deploy build's own account (_BUILD_SA), which Terraform
    knows as migrator_email; the platform hands exactly that account to the lb module's
    static_uploaders, which grants object admin on the dashboard bucket alone."""
    plan = "\n".join({s["id"]: s for s in deploy["steps"]}["terraform-plan"]["args"])
    assert '-var="migrator_email=${_BUILD_SA}"' in plan
    modules = load_modules()
    lb_call = dict(modules["modules/platform"].module_calls("/lb"))["lb"]
    assert lb_call["static_uploaders"] == ["serviceAccount:${var.migrator_email}"]
    grants = dict(modules["modules/lb"].resources_of("google_storage_bucket_iam_member"))
    grant = grants["static_uploaders"]
    assert grant["bucket"] == "${google_storage_bucket.static.name}"
    assert grant["role"] == "roles/storage.objectAdmin"
    assert grant["member"] == "${each.value}"
    assert grant["for_each"] == "${toset(var.static_uploaders)}"


def test_substitutions_have_defaults_and_builds_run_as_dedicated_accounts(
    cloudbuild: dict[str, Any], deploy: dict[str, Any]
) -> None:
    for build, account_key in ((cloudbuild, "_CI_SA"), (deploy, "_BUILD_SA")):
        subs = build["substitutions"]
        for key, value in subs.items():
            assert key.startswith("_") and str(value).strip(), f"substitution {key} needs a default"
        assert f"${{{account_key}}}" in build["serviceAccount"]
        assert "cloudbuild.gserviceaccount.com" not in str(subs[account_key])
        assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert {"_ENV", "_REGION", "_APPLY", "_BUILD_SA", "_DEPLOYER_SA"} <= set(
        deploy["substitutions"]
    )
    assert cloudbuild["substitutions"]["_CI_SA"].startswith("ki-ci@")


def test_tests_run_unprivileged_and_only_deploy_steps_impersonate(
    cloudbuild: dict[str, Any], deploy: dict[str, Any]
) -> None:
    """The code under test (and every package it installs) runs in cloudbuild.yaml, as an
    account that may impersonate no one; Cloud Build gives all steps of a build the same
    identity, so the deployer is reachable only from the other build, which runs no test."""
    ci_text = yaml.safe_dump(cloudbuild)
    assert "IMPERSONATE" not in ci_text.upper() and "_DEPLOYER_SA" not in ci_text
    assert "CI=true" in cloudbuild["options"]["env"]
    for step in deploy["steps"]:
        text = _step_text(step)
        assert "pytest" not in text, f"{step['id']}: tests belong in cloudbuild.yaml"
        if "IMPERSONATE" in text.upper():
            assert step["id"] in DEPLOY_STEPS, f"{step['id']} impersonates the deployer"
    steps = {s["id"]: s for s in deploy["steps"]}
    for step_id in ("terraform-plan", "terraform-apply"):
        assert "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT=${_DEPLOYER_SA}" in steps[step_id]["env"]
    plan = "\n".join(steps["terraform-plan"]["args"])
    assert "backend-config" in plan and "streamer_image=${_STREAMER_IMAGE}" in plan
    assert "package_functions" in _step_text(
        {s["id"]: s for s in cloudbuild["steps"]}["package-functions"]
    )


@pytest.mark.parametrize("name", ["cloudbuild.yaml", "cloudbuild-deploy.yaml"])
def test_every_build_image_is_pinned_by_digest(name: str) -> None:
    build = _load(name)
    subs = build["substitutions"]
    images = [_expand(str(step["name"]), subs) for step in build["steps"]]
    images += [
        _expand(str(v), subs)
        for k, v in subs.items()
        if k.endswith("_IMAGE") and k != "_STREAMER_IMAGE"
    ]
    assert images
    for image in images:
        assert DIGEST.match(image), f"{name}: {image} is not pinned by digest (image@sha256:...)"


# ------------------------------------------------------------------ paths that exist


def _module_file(module: str) -> str:
    """``pkg.mod`` as the file ``pkg/mod.py``, or the package directory ``pkg/mod``."""
    path = module.replace(".", "/")
    return path if (REPO_ROOT / path).is_dir() else path + ".py"


def _repo_paths_in_command(text: str) -> set[str]:
    """Repository paths a shell command names: ``-m pkg.mod``, ``-c/-r file``, ``--file=``,
    ``--source=``, and any relative word ending in a file suffix we ship."""
    paths: set[str] = set()
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        for i, word in enumerate(words):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if word == "-m" and re.fullmatch(r"(devstack|shared|emulators|tests)(\.\w+)+", nxt):
                paths.add(_module_file(nxt))
            if word in ("-c", "-r") and nxt.endswith(".txt"):
                paths.add(nxt)
            for flag in ("--file=", "--source="):
                if word.startswith(flag):
                    paths.add(word[len(flag) :])
            if (
                re.fullmatch(r"[\w./-]+\.(txt|py|toml|cfg|yaml|yml|json|sh)", word)
                and not word.startswith(("/", "build/", "-"))
                and "$" not in word
            ):
                paths.add(word)
    return paths


@pytest.mark.parametrize("name", ["cloudbuild.yaml", "cloudbuild-deploy.yaml"])
def test_builds_name_only_repository_paths_that_exist(name: str) -> None:
    build = _load(name)
    subs = build["substitutions"]
    named: set[str] = set()
    for env in ENVIRONMENTS:
        for step in build["steps"]:
            if "dir" in step:
                named.add(_expand(str(step["dir"]), subs, env))
            named |= _repo_paths_in_command(_expand(_step_text(step), subs, env))
    assert "constraints.txt" in named or name == "cloudbuild-deploy.yaml"
    missing = sorted(p for p in named if not (REPO_ROOT / p).exists())
    assert not missing, f"{name} names paths that do not exist: {missing}"


def test_compose_names_only_repository_paths_that_exist() -> None:
    compose = _load("emulator-compose.yml")
    named: set[str] = set()
    for service in compose["services"].values():
        build = service.get("build") or {}
        if isinstance(build, dict):
            named.add(str(build.get("context", ".")))
            if build.get("dockerfile"):
                named.add(str(build["dockerfile"]))
            for line in str(build.get("dockerfile_inline", "")).splitlines():
                words = line.split()
                if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                    named |= {w for w in words[1:-1] if not w.startswith("--")}
        command = service.get("command") or []
        if isinstance(command, list):
            named |= _repo_paths_in_command(" ".join(map(str, command)))
    named.discard(".")
    assert "devstack/tasks-emulator-requirements.txt" in named
    missing = sorted(p for p in named if not (REPO_ROOT / p).exists())
    assert not missing, f"emulator-compose.yml names paths that do not exist: {missing}"


def test_compose_mirrors_the_native_stack() -> None:
    text = (REPO_ROOT / "emulator-compose.yml").read_text()
    header = "\n".join(line for line in text.splitlines()[:15] if line.startswith("#"))
    assert "make up" in header, "the top comment must name the no-Docker path"
    compose = _load("emulator-compose.yml")
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "pubsub" in " ".join(services["pubsub"]["command"])
    assert "tasks-emulator" in " ".join(services["tasks"]["command"])
    assert "emulators.kalshi_sim" in services["kalshi-sim"]["command"]
    for function in ("poll_markets", "markets", "backtests", "backtest_worker"):
        service = services[function.replace("_", "-")]
        command = " ".join(service["command"])
        assert f"--target={function}" in command
        assert f"functions/{function}/main.py" in command
    assert any(p.endswith(":8080") for p in services["gateway"]["ports"])


def test_compose_functions_use_functions_that_exist() -> None:
    compose = _load("emulator-compose.yml")
    for name, service in compose["services"].items():
        command = " ".join(map(str, service.get("command") or []))
        if "--source=" in command:
            source = command.split("--source=", 1)[1].split()[0]
            assert (REPO_ROOT / source).is_file(), f"{name}: {source} does not exist"
