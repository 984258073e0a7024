"""``emulator-compose.yml`` keeps the local stack on this machine and its key private.

The stack has no authentication: a port published on every interface would hand the
gateway (and through it the functions) to the whole network, so each published port is
bound to 127.0.0.1. The demo account's private key is written by a shell snippet in the
file itself; that snippet is run here, under the usual umask, to see the mode it gives.

It also mirrors ``kalshi-insights up`` and must not drift from it again: the tests below read
the native stack's own source (``devstack.stack.SERVICES`` and ``devstack/services/*.py``)
and fail when a native service, a deployable it runs (``function_server``/``as_role``), a
gateway route or a variable it sets has no counterpart in the compose file.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from devstack.stack import SERVICES

COMPOSE = Path(__file__).resolve().parents[3] / "emulator-compose.yml"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_published_port_is_bound_to_loopback() -> None:
    published = []
    for name, service in _compose()["services"].items():
        for port in service.get("ports") or []:
            published.append((name, str(port)))
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert ("gateway", "127.0.0.1:8080:8080") in published


# Built at run time so the repository holds no private-key block, not even a fake one.
FAKE_PEM = "-----BEGIN " + "PRIVATE KEY-----\n"


def _key_writing_snippets() -> list[str]:
    entrypoint = _compose()["services"]["poll-markets"]["entrypoint"]
    script = " ".join(map(str, entrypoint))
    snippets = [s for s in re.findall(r"python -c '([^']*)'", script) if ".pem" in s]
    assert snippets, "no snippet writes the demo key"
    return snippets


def test_the_demo_key_is_written_with_mode_0600(tmp_path: Path) -> None:
    (tmp_path / "demo-account.json").write_text(
        json.dumps({"key_id": "k", "private_key_pem": FAKE_PEM})
    )
    pem = tmp_path / "demo-account.pem"
    pem.write_text("left by an earlier run")
    pem.chmod(0o644)  # an existing, too-open file must be tightened too
    for snippet in _key_writing_snippets():
        code = snippet.replace("/state/", f"{tmp_path}/")
        old_umask = os.umask(0o022)
        try:
            subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        finally:
            os.umask(old_umask)
    assert pem.read_text() == FAKE_PEM
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_the_gateway_is_told_its_published_port() -> None:
    command = " ".join(_compose()["services"]["gateway"]["command"])
    assert "port=8080" in command.replace(" ", "")


# -- the compose file mirrors the native stack (kalshi-insights up) -------------------------
#
# Read from the native stack's own source, so a service, function, route or variable added
# there fails here until the compose file has it too.

SERVICES_DIR = COMPOSE.parent / "devstack" / "services"

COUNTERPARTS: dict[str, tuple[str, ...]] = {
    "devstack.services.postgres:PostgresService": ("postgres", "migrate"),
    "devstack.services.simulator:SimulatorService": ("kalshi-sim",),
    "devstack.services.pubsub:PubSubService": ("pubsub", "topology"),
    "devstack.services.tasks:CloudTasksService": ("tasks",),
    "devstack.services.secret_manager:SecretManagerService": ("secret-manager", "seed-secrets"),
    "devstack.services.marketdata:MarketDataService": ("poll-markets", "markets", "scheduler"),
    "devstack.services.backtests:BacktestsService": ("backtests", "backtest-worker"),
    "devstack.services.backfill:DailyBackfillService": ("backfill", "backfill-daily"),
    "devstack.services.account:AccountService": ("account", "day-boundary"),
    "devstack.services.streamer:StreamerService": ("streamer",),
    "devstack.services.gateway:GatewayService": ("gateway",),
}
"""Native service -> the compose services that do its work."""

CONTAINER_VALUES = {
    # A container listens on its network interface: loopback would hide it from the gateway.
    "STREAMER_HOST": "0.0.0.0",
}
"""Variables whose compose value differs from the native one on purpose."""

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _service_modules() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(), filename=str(path))
        for path in sorted(SERVICES_DIR.glob("*.py"))
    }


def _string_arg(call: ast.Call, index: int) -> str | None:
    if len(call.args) > index:
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def _deployables(tree: ast.Module) -> set[str]:
    """Deployables a service module runs: ``function_server(ctx, "name", ...)`` and
    ``as_role(env, "name")`` (a process that connects as ``fn_<name>``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "function_server" and (name := _string_arg(node, 1)):
                names.add(name)
            if node.func.id == "as_role" and (name := _string_arg(node, 1)):
                names.add(name)
    return names


def _env_literals(tree: ast.Module) -> dict[str, str | None]:
    """Every ``"NAME": value`` of the module's dict literals whose keys are all variable
    names; a non-literal value is "" (present, any value), ``None`` means removed."""
    found: dict[str, str | None] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        # ``**spread`` entries (key None) are what earlier services published: skipped.
        pairs = [(k, v) for k, v in zip(node.keys, node.values, strict=True) if k is not None]
        keys = [k.value if isinstance(k, ast.Constant) else None for k, _ in pairs]
        if not keys or not all(isinstance(k, str) and _ENV_NAME.match(k) for k in keys):
            continue
        for key, (_, value) in zip(keys, pairs, strict=True):
            assert isinstance(key, str)
            if isinstance(value, ast.Constant):
                found[key] = None if value.value is None else str(value.value)
            else:
                found[key] = ""
    return found


def _routes(tree: ast.Module) -> set[str]:
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/api/v1/")
    }


def _db_user(service: dict[str, Any]) -> str | None:
    url = str((service.get("environment") or {}).get("DATABASE_URL", ""))
    match = re.match(r"^[\w+]+://([^:@/]+)[:@]", url)
    return match.group(1) if match else None


def _service_of(compose: dict[str, Any], deployable: str) -> tuple[str, dict[str, Any]]:
    """The compose service that runs ``deployable`` as its own login role."""
    matches = [
        (name, service)
        for name, service in compose["services"].items()
        if _db_user(service) == f"fn_{deployable}"
    ]
    assert len(matches) == 1, f"{deployable}: {len(matches)} compose services run as fn_*"
    return matches[0]


def _gateway_routes(compose: dict[str, Any]) -> dict[str, str]:
    script = next(
        part for part in compose["services"]["gateway"]["command"] if "create_app" in str(part)
    )
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "routes" for t in node.targets
        ):
            routes = ast.literal_eval(node.value)
            assert isinstance(routes, dict)
            return routes
    raise AssertionError("the gateway's command has no routes = {...}")


def test_every_native_service_has_a_compose_counterpart() -> None:
    unmapped = [entry for entry in SERVICES if entry not in COUNTERPARTS]
    assert not unmapped, (
        f"{unmapped} run natively (devstack.stack.SERVICES) but have no counterpart in "
        "emulator-compose.yml: add it there and map it in COUNTERPARTS"
    )
    services = _compose()["services"]
    missing = {
        entry: [name for name in names if name not in services]
        for entry, names in COUNTERPARTS.items()
        if entry in SERVICES and any(name not in services for name in names)
    }
    assert not missing, f"compose services missing: {missing}"


def test_every_deployable_the_stack_runs_runs_in_compose_as_its_own_role() -> None:
    compose = _compose()
    served = set().union(*map(_deployables, _service_modules().values()))
    # The scan must find what is known to run, or it could pass by finding nothing.
    assert {"poll_markets", "markets", "backtests", "backtest_worker", "account"} <= served
    assert "streamer" in served
    for deployable in sorted(served):
        name, service = _service_of(compose, deployable)
        command = " ".join(map(str, service.get("command") or []))
        source = COMPOSE.parent / "functions" / deployable / "main.py"
        if source.is_file():
            assert f"--target={deployable}" in command, name
            assert f"--source=functions/{deployable}/main.py" in command, name
        else:
            assert f"-m {deployable}" in command, name


def test_the_gateway_routes_every_native_route_to_a_compose_service() -> None:
    compose = _compose()
    routes = _gateway_routes(compose)
    native = set().union(*map(_routes, _service_modules().values()))
    assert {"/api/v1/account", "/api/v1/stream", "/api/v1/markets"} <= native
    assert not native - set(routes), (
        f"routes missing from the compose gateway: {native - set(routes)}"
    )
    for prefix, upstream in routes.items():
        host = re.match(r"^http://([\w-]+):\d+$", upstream)
        assert host and host.group(1) in compose["services"], (prefix, upstream)


def test_each_deployable_gets_the_variables_its_native_service_sets() -> None:
    compose = _compose()
    for module, tree in _service_modules().items():
        expected = _env_literals(tree)
        for deployable in _deployables(tree):
            name, service = _service_of(compose, deployable)
            env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
            for variable, value in expected.items():
                where = f"{name} ({module}.py) {variable}"
                if value is None:
                    assert variable not in env, f"{where} must not be set"
                    continue
                assert variable in env, f"{where} is missing"
                if value:
                    assert env[variable] == CONTAINER_VALUES.get(variable, value), where


def test_what_earlier_services_publish_reaches_every_app_container() -> None:
    """Natively each service hands later ones ``ctx.env`` (and the emulators' ``env``)."""
    published: set[str] = set()
    sources = [*SERVICES_DIR.glob("*.py"), *(COMPOSE.parent / "devstack").glob("*_emulator.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "ctx.env"
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.ctx, ast.Store)
            ):
                published.add(str(node.slice.value))
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "ctx.env.setdefault":
                published.add(str(_string_arg(node, 0)))
            if isinstance(node, ast.FunctionDef) and node.name == "env":
                published |= set(_env_literals(ast.Module(body=node.body, type_ignores=[])))
    assert {"SECRET_MANAGER_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "DATABASE_URL"} <= published
    # The demo account's key goes only to the functions that sign with it (the entrypoint
    # exports the key id); the real-exchange switch has no compose counterpart.
    per_service = {"KALSHI_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "KALSHI_ENV"}
    app_env = _compose()["x-app"]["environment"]
    missing = sorted(published - per_service - set(app_env))
    assert not missing, f"x-app environment lacks {missing}"


def test_the_demo_key_reaches_only_the_functions_that_sign_with_it() -> None:
    services = _compose()["services"]
    for name in ("account", "streamer"):
        env = services[name].get("environment") or {}
        assert "KALSHI_PRIVATE_KEY_PATH" not in env, name
        assert "entrypoint" not in services[name], name
    for name in ("poll-markets", "markets"):
        assert services[name]["environment"]["KALSHI_PRIVATE_KEY_PATH"] == "/state/demo-account.pem"


def test_the_gateway_serves_the_dashboard_built_in_the_image() -> None:
    compose = _compose()
    dockerfile = compose["x-app"]["build"]["dockerfile_inline"]
    assert "npm run build" in dockerfile
    assert "COPY --from=dashboard /frontend/dist ./frontend/dist" in dockerfile
    command = " ".join(compose["services"]["gateway"]["command"])
    assert 'dist_dir=Path("frontend/dist")' in command
