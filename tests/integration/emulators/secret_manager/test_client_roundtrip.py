"""The real google-cloud-secret-manager client against the emulator over loopback gRPC."""

import os
import stat

import google_crc32c
import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretVersion

from shared.secrets import secret_manager_client

pytestmark = pytest.mark.integration

PROJECT = "projects/local-project"
SECRET = f"{PROJECT}/secrets/api-key"


def create(client, secret_id="api-key"):
    return client.create_secret(
        request={
            "parent": PROJECT,
            "secret_id": secret_id,
            "secret": {"replication": {"automatic": {}}, "labels": {"team": "core"}},
        }
    )


def add(client, data, parent=SECRET, **payload):
    return client.add_secret_version(
        request={"parent": parent, "payload": {"data": data, **payload}}
    )


def access(client, version="latest"):
    return client.access_secret_version(request={"name": f"{SECRET}/versions/{version}"})


def test_create_get_list_delete_secret(client):
    created = create(client)
    assert created.name == SECRET
    assert created.labels["team"] == "core"
    assert created.create_time is not None
    fetched = client.get_secret(request={"name": SECRET})
    assert fetched.name == SECRET and fetched.labels["team"] == "core"
    with pytest.raises(exceptions.AlreadyExists):
        create(client)
    create(client, "other")
    names = [s.name for s in client.list_secrets(request={"parent": PROJECT})]
    assert names == [SECRET, f"{PROJECT}/secrets/other"]
    # Paging: the client follows next_page_token itself.
    paged = client.list_secrets(request={"parent": PROJECT, "page_size": 1})
    assert [s.name for s in paged] == names
    assert [s.name for s in client.list_secrets(request={"parent": "projects/else"})] == []
    client.delete_secret(request={"name": SECRET})
    with pytest.raises(exceptions.NotFound):
        client.get_secret(request={"name": SECRET})
    with pytest.raises(exceptions.NotFound):
        client.delete_secret(request={"name": SECRET})


def test_versions_latest_and_listing(client):
    create(client)
    first = add(client, b"one")
    second = add(client, b"two")
    assert first.name == f"{SECRET}/versions/1" and second.name == f"{SECRET}/versions/2"
    assert first.state == SecretVersion.State.ENABLED
    latest = access(client)
    assert latest.name == f"{SECRET}/versions/2" and latest.payload.data == b"two"
    assert access(client, "1").payload.data == b"one"
    assert client.get_secret_version(request={"name": f"{SECRET}/versions/latest"}).name == (
        f"{SECRET}/versions/2"
    )
    listed = [v.name for v in client.list_secret_versions(request={"parent": SECRET})]
    assert listed == [f"{SECRET}/versions/2", f"{SECRET}/versions/1"]
    with pytest.raises(exceptions.NotFound):
        access(client, "3")
    with pytest.raises(exceptions.NotFound):
        add(client, b"x", parent=f"{PROJECT}/secrets/absent")


def test_latest_of_a_secret_without_versions_is_not_found(client):
    create(client)
    with pytest.raises(exceptions.NotFound):
        access(client)


def test_checksums_round_trip_and_mismatch_is_refused(client):
    create(client)
    data = b"checked payload"
    add(client, data, data_crc32c=google_crc32c.value(data))
    response = access(client)
    assert response.payload.data_crc32c == google_crc32c.value(data)
    with pytest.raises(exceptions.InvalidArgument):
        add(client, b"other", data_crc32c=google_crc32c.value(data))
    # The refused version was not stored.
    assert len(list(client.list_secret_versions(request={"parent": SECRET}))) == 1


def test_disable_enable_destroy(client):
    create(client)
    add(client, b"one")
    name = f"{SECRET}/versions/1"
    disabled = client.disable_secret_version(request={"name": name})
    assert disabled.state == SecretVersion.State.DISABLED
    with pytest.raises(exceptions.FailedPrecondition):
        access(client, "1")
    with pytest.raises(exceptions.FailedPrecondition):
        access(client)  # latest is the disabled version
    enabled = client.enable_secret_version(request={"name": name})
    assert enabled.state == SecretVersion.State.ENABLED
    assert access(client, "1").payload.data == b"one"
    destroyed = client.destroy_secret_version(request={"name": name})
    assert destroyed.state == SecretVersion.State.DESTROYED
    assert destroyed.destroy_time is not None
    with pytest.raises(exceptions.FailedPrecondition):
        access(client, "1")
    with pytest.raises(exceptions.FailedPrecondition):
        client.enable_secret_version(request={"name": name})


def test_malformed_names_are_invalid_arguments(client):
    with pytest.raises(exceptions.InvalidArgument):
        client.get_secret(request={"name": "projects/p/secrets/../etc"})
    with pytest.raises(exceptions.InvalidArgument):
        client.create_secret(request={"parent": PROJECT, "secret_id": "a/b", "secret": {}})
    create(client)
    with pytest.raises(exceptions.InvalidArgument):
        access(client, "0")
    with pytest.raises(exceptions.InvalidArgument):
        access(client, "first")


def test_state_persists_across_a_restart_in_private_files(emulator, client, data_dir):
    create(client)
    add(client, b"one")
    add(client, b"two")
    client.disable_secret_version(request={"name": f"{SECRET}/versions/1"})
    emulator.stop()
    emulator.start()
    again = secret_manager_client(emulator.host)
    assert access(again).payload.data == b"two"
    with pytest.raises(exceptions.FailedPrecondition):
        access(again, "1")
    assert again.get_secret(request={"name": SECRET}).labels["team"] == "core"

    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "local-project") == 0o700
    files = list((data_dir / "local-project").iterdir())
    assert [f.name for f in files] == ["api-key.json"]  # no temporary files left
    assert mode(files[0]) == 0o600
