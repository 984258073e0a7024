import os
import stat
import threading

import pytest

from emulators.secret_manager import LocalSecretStore
from shared.secrets import (
    SecretManagerStore,
    SecretNotFound,
    SecretStore,
    SecretStoreError,
    crc32c,
    secret_store_from_env,
)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_local_store_files_are_private_and_versions_increase(tmp_path):
    store = LocalSecretStore(tmp_path / "secrets")
    assert isinstance(store, SecretStore)
    assert store.add_version("jwt-signing-key", b"one") == "1"
    assert store.add_version("jwt-signing-key", b"two") == "2"
    assert store.get("jwt-signing-key") == b"two"
    assert store.get("jwt-signing-key", "1") == b"one"
    assert mode(tmp_path / "secrets") == 0o700
    assert mode(tmp_path / "secrets" / "jwt-signing-key") == 0o700
    assert mode(tmp_path / "secrets" / "jwt-signing-key" / "1") == 0o600
    assert mode(tmp_path / "secrets" / "jwt-signing-key" / "2") == 0o600
    # No temporary files left behind.
    assert sorted(p.name for p in (tmp_path / "secrets" / "jwt-signing-key").iterdir()) == [
        "1",
        "2",
    ]


def test_create_if_missing_generates_once(tmp_path):
    store = LocalSecretStore(tmp_path)
    calls = []

    def generate():
        calls.append(1)
        return os.urandom(32)

    first = store.create_if_missing("credential-key", generate)
    again = LocalSecretStore(tmp_path).create_if_missing("credential-key", generate)
    assert first == again and len(first) == 32
    assert len(calls) == 1


def test_concurrent_bootstrap_agrees_on_one_value(tmp_path):
    results = []
    barrier = threading.Barrier(8)

    def worker(index):
        barrier.wait()
        value = LocalSecretStore(tmp_path).create_if_missing("k", lambda: str(index).encode())
        results.append(value)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8 and len(set(results)) == 1
    assert LocalSecretStore(tmp_path).versions("k") == [1]


def test_missing_secrets_and_bad_names(tmp_path):
    store = LocalSecretStore(tmp_path)
    with pytest.raises(SecretNotFound):
        store.get("absent")
    store.add_version("present", b"x")
    with pytest.raises(SecretNotFound):
        store.get("present", "7")
    for name in ("../etc", "a/b", "", "x" * 256):
        with pytest.raises(ValueError):
            store.get(name)
    with pytest.raises(ValueError):
        store.get("present", "../1")


def test_repr_shows_no_secret_material(tmp_path):
    store = LocalSecretStore(tmp_path)
    store.add_version("k", b"very-secret-bytes")
    assert "very-secret" not in repr(store)


def test_crc32c_known_vector():
    # RFC 3720 B.4 check value for "123456789".
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


class FakePayload:
    def __init__(self, data, checksum):
        self.data = data
        self.data_crc32c = checksum


class FakeResponse:
    def __init__(self, data, checksum):
        self.payload = FakePayload(data, checksum)


class FakeSecretManager:
    def __init__(self, response):
        self.response = response
        self.requests = []

    def access_secret_version(self, request):
        self.requests.append(request)
        return self.response


def test_secret_manager_store_verifies_the_checksum():
    good = FakeSecretManager(FakeResponse(b"value", crc32c(b"value")))
    store = SecretManagerStore("proj", client=good)
    assert store.get("db-password") == b"value"
    assert good.requests == [{"name": "projects/proj/secrets/db-password/versions/latest"}]
    corrupt = SecretManagerStore("proj", client=FakeSecretManager(FakeResponse(b"value", 1)))
    with pytest.raises(SecretStoreError) as error:
        corrupt.get("db-password")
    assert "value" not in str(error.value)


def test_store_selection_from_environment(tmp_path):
    local = secret_store_from_env(
        {"SECRET_MANAGER_LOCAL_DIR": str(tmp_path)}, local=LocalSecretStore
    )
    assert isinstance(local, LocalSecretStore)
    # shared/ never imports the local stack: without the launcher's factory it refuses.
    with pytest.raises(SecretStoreError, match="SECRET_MANAGER_LOCAL_DIR"):
        secret_store_from_env({"SECRET_MANAGER_LOCAL_DIR": str(tmp_path)})
    cloud = secret_store_from_env({"GOOGLE_CLOUD_PROJECT": "proj"})
    assert isinstance(cloud, SecretManagerStore) and cloud.project == "proj"
    with pytest.raises(SecretStoreError):
        secret_store_from_env({})
