import pytest

from emulators.secret_manager import serve
from shared.secrets import (
    SecretManagerStore,
    SecretNotFound,
    SecretStore,
    SecretStoreError,
    crc32c,
    secret_manager_client,
    secret_store_from_env,
)


@pytest.fixture
def emulator_host(tmp_path):
    """The emulator in this process: the store talks to it through the real client."""
    server = serve(tmp_path / "secret-manager")
    yield f"127.0.0.1:{server.port}"
    server.stop(grace=None)


def test_store_reads_the_emulator_through_the_real_client(emulator_host):
    client = secret_manager_client(emulator_host)
    client.create_secret(request={"parent": "projects/p", "secret_id": "db-password", "secret": {}})
    for data in (b"one", b"two"):
        client.add_secret_version(
            request={"parent": "projects/p/secrets/db-password", "payload": {"data": data}}
        )
    store = secret_store_from_env(
        {"GOOGLE_CLOUD_PROJECT": "p", "SECRET_MANAGER_EMULATOR_HOST": emulator_host}
    )
    assert isinstance(store, SecretStore)
    assert store.get("db-password") == b"two"
    assert store.get("db-password", "1") == b"one"
    with pytest.raises(SecretNotFound):
        store.get("db-password", "7")
    with pytest.raises(SecretNotFound):
        store.get("absent")
    for name in ("../etc", "a/b", "", "x" * 256):
        with pytest.raises(ValueError):
            store.get(name)
    with pytest.raises(ValueError):
        store.get("db-password", "../1")
    assert "two" not in repr(store) and emulator_host in repr(store)


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


def test_store_selection_from_environment():
    local = secret_store_from_env(
        {"GOOGLE_CLOUD_PROJECT": "proj", "SECRET_MANAGER_EMULATOR_HOST": "127.0.0.1:9"}
    )
    assert isinstance(local, SecretManagerStore)
    assert local.project == "proj" and local.emulator_host == "127.0.0.1:9"
    cloud = secret_store_from_env({"GOOGLE_CLOUD_PROJECT": "proj"})
    assert isinstance(cloud, SecretManagerStore) and cloud.project == "proj"
    assert cloud.emulator_host is None
    with pytest.raises(SecretStoreError):
        secret_store_from_env({})
    with pytest.raises(SecretStoreError):
        secret_store_from_env({"SECRET_MANAGER_EMULATOR_HOST": "127.0.0.1:9"})
