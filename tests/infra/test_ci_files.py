"""cloudbuild.yaml and emulator-compose.yml: valid YAML with the shape the project promises."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.infra.tf import REPO_ROOT

ORDER = [
    "lint",
    "unit",
    "integration",
    "package-functions",
    "push-streamer",
    "terraform-plan",
    "terraform-apply",
]


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / name).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def cloudbuild() -> dict[str, Any]:
    return _load("cloudbuild.yaml")


def test_every_build_step_has_a_unique_id(cloudbuild: dict[str, Any]) -> None:
    ids = [step.get("id") for step in cloudbuild["steps"]]
    assert all(ids), "every step needs an id"
    assert len(set(ids)) == len(ids)
    known = set(ids) | {"-"}
    for step in cloudbuild["steps"]:
        for dep in step.get("waitFor", []):
            assert dep in known, f"{step['id']} waits for unknown step {dep}"


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

    # Explicit waitFor everywhere, so nothing deploys before the tests passed.
    assert {"lint", "unit", "integration", "package-functions", "push-streamer"} <= ancestors(
        "terraform-plan"
    )
    assert "terraform-plan" in ancestors("terraform-apply")


def test_substitutions_have_defaults_and_build_runs_as_a_dedicated_account(
    cloudbuild: dict[str, Any],
) -> None:
    subs = cloudbuild["substitutions"]
    assert {"_ENV", "_REGION", "_APPLY", "_BUILD_SA", "_DEPLOYER_SA", "_AR_REPO"} <= set(subs)
    for key, value in subs.items():
        assert key.startswith("_") and str(value).strip(), f"substitution {key} needs a default"
    account = cloudbuild["serviceAccount"]
    assert "${_BUILD_SA}" in account
    assert "cloudbuild.gserviceaccount.com" not in str(subs["_BUILD_SA"])
    assert cloudbuild["options"]["logging"] == "CLOUD_LOGGING_ONLY"


def test_terraform_impersonates_the_deployer_and_deploys_by_digest(
    cloudbuild: dict[str, Any],
) -> None:
    steps = {s["id"]: s for s in cloudbuild["steps"]}
    for step_id in ("terraform-plan", "terraform-apply"):
        assert "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT=${_DEPLOYER_SA}" in steps[step_id]["env"]
    plan = "\n".join(steps["terraform-plan"]["args"])
    assert "backend-config" in plan and "streamer_image.txt" in plan
    assert "RepoDigests" in steps["push-streamer"]["script"]
    assert "package_functions" in steps["package-functions"]["script"]


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
