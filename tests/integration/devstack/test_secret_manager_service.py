"""The Secret Manager service of ``kalshi-insights up``: emulator, endpoint, seeding once."""

import argparse
import base64
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.services.base import StackContext
from devstack.services.secret_manager import SecretManagerService
from shared.secrets import secret_store_from_env

pytestmark = pytest.mark.integration


def run_once(tmp_path, capsys=None):
    """Start the service, read both seeded secrets through shared.secrets, stop."""
    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())
    service = SecretManagerService()
    try:
        service.start(ctx)
        assert service.check() is None
        store = secret_store_from_env(ctx.env | {"GOOGLE_CLOUD_PROJECT": service.project})
        values = {name: store.get(name) for name in ("credential-key-ring", "session-signing-keys")}
        return ctx, service, values
    finally:
        service.stop()


def test_first_start_seeds_keys_and_later_starts_keep_them(tmp_path):
    ctx, service, first = run_once(tmp_path)
    assert ctx.env["SECRET_MANAGER_EMULATOR_HOST"].startswith("127.0.0.1:")
    assert not service.emulator.is_running()
    assert service.seeded == ["credential-key-ring", "session-signing-keys"]

    ring = json.loads(first["credential-key-ring"])
    assert ring["active"] == "1" and [k["id"] for k in ring["keys"]] == ["1"]
    assert len(base64.b64decode(ring["keys"][0]["aes256_key"])) == 32

    signing = json.loads(first["session-signing-keys"])
    (key,) = signing["keys"]
    assert signing["active"] == key["kid"] and key["kid"]
    private = serialization.load_pem_private_key(key["private_key_pem"].encode(), None)
    assert isinstance(private, Ed25519PrivateKey)

    data_dir = tmp_path / "secret-manager"
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700

    port = ctx.env["SECRET_MANAGER_EMULATOR_HOST"]
    ctx2, service2, second = run_once(tmp_path)
    assert ctx2.env["SECRET_MANAGER_EMULATOR_HOST"] == port  # remembered port
    assert service2.seeded == []
    assert second == first  # the same key bytes, not regenerated


def test_describe_never_shows_key_material(tmp_path):
    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())
    service = SecretManagerService()
    try:
        service.start(ctx)
        store = secret_store_from_env(ctx.env | {"GOOGLE_CLOUD_PROJECT": service.project})
        ring = json.loads(store.get("credential-key-ring"))
        text = "\n".join(service.describe()) + service.emulator.log_text()
        assert "Secrets" in text
        assert ring["keys"][0]["aes256_key"] not in text
        assert "PRIVATE KEY" not in text
    finally:
        service.stop()
