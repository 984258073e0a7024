"""The credential vault: round trips, bindings, tampering, rotation, and no plaintext leaks."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from shared.auth.vault import (
    CredentialUnreadable,
    CredentialVault,
    KeyRing,
    KeyRingError,
    SealedCredential,
    key_ring_from_secret,
    key_ring_to_secret,
)

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def ring_secret(*ids: str, active: str | None = None) -> bytes:
    keys = [{"id": i, "aes256_key": base64.b64encode(os.urandom(32)).decode()} for i in ids]
    return json.dumps({"active": active or ids[-1], "keys": keys}).encode()


@pytest.fixture
def vault() -> CredentialVault:
    return CredentialVault(key_ring_from_secret(ring_secret("1")))


def test_round_trip_with_a_fresh_nonce_each_time(vault: CredentialVault, rsa_pem: bytes) -> None:
    first, second = vault.seal(ALICE, rsa_pem), vault.seal(ALICE, rsa_pem)
    assert first.key_version == "1"
    assert len(first.nonce) == 12 and first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert vault.open(ALICE, first) == rsa_pem == vault.open(ALICE, second)


def test_ciphertext_never_contains_the_pem_or_its_base64_body(
    vault: CredentialVault, rsa_pem: bytes
) -> None:
    sealed = vault.seal(ALICE, rsa_pem)
    body = b"".join(rsa_pem.splitlines()[1:-1])
    stored = sealed.nonce + sealed.ciphertext
    assert b"PRIVATE KEY" not in stored
    for i in range(0, len(body) - 8, 8):
        assert body[i : i + 8] not in stored
    assert base64.b64decode(body)[:16] not in stored
    assert rsa_pem.decode()[40:60] not in repr(sealed) + repr(vault)


def test_another_users_row_does_not_open(vault: CredentialVault, rsa_pem: bytes) -> None:
    sealed = vault.seal(ALICE, rsa_pem)
    with pytest.raises(CredentialUnreadable) as caught:
        vault.open(BOB, sealed)
    assert str(caught.value) == "the stored credential cannot be read"
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("part", ["ciphertext", "tag", "nonce", "version"])
def test_tampering_is_detected(vault: CredentialVault, rsa_pem: bytes, part: str) -> None:
    sealed = vault.seal(ALICE, rsa_pem)
    flip = bytearray(sealed.ciphertext)
    if part == "ciphertext":
        flip[10] ^= 1
        sealed = SealedCredential(sealed.key_version, sealed.nonce, bytes(flip))
    elif part == "tag":
        flip[-1] ^= 0x80
        sealed = SealedCredential(sealed.key_version, sealed.nonce, bytes(flip))
    elif part == "nonce":
        sealed = SealedCredential(sealed.key_version, bytes(12), sealed.ciphertext)
    else:
        sealed = SealedCredential("2", sealed.nonce, sealed.ciphertext)
    with pytest.raises(CredentialUnreadable):
        vault.open(ALICE, sealed)


def test_rotation_newest_seals_every_key_opens(rsa_pem: bytes) -> None:
    ring = key_ring_from_secret(ring_secret("1"))
    old = CredentialVault(ring).seal(ALICE, rsa_pem)
    rotated = ring.with_new_key()
    assert rotated.newest == "2" and rotated.versions == ["1", "2"]
    vault = CredentialVault(key_ring_from_secret(key_ring_to_secret(rotated)))
    assert vault.open(ALICE, old) == rsa_pem
    assert vault.needs_rewrap(old)
    new = vault.seal(ALICE, rsa_pem)
    assert new.key_version == "2" and not vault.needs_rewrap(new)
    # A ring that lost the old version cannot open the old row (and says nothing more).
    only_new = KeyRing({"2": rotated.keys["2"]}, "2")
    with pytest.raises(CredentialUnreadable):
        CredentialVault(only_new).open(ALICE, old)
    assert CredentialVault(only_new).open(ALICE, new) == rsa_pem


def test_active_need_not_be_the_last_entry() -> None:
    ring = key_ring_from_secret(ring_secret("1", "2", active="1"))
    assert ring.newest == "1"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"active": "1"}',
        b'{"active": "1", "keys": [{"id": "1", "aes256_key": "!!!"}]}',
        json.dumps(
            {
                "active": "1",
                "keys": [{"id": "1", "aes256_key": base64.b64encode(b"short").decode()}],
            }
        ).encode(),
        json.dumps(
            {
                "active": "9",
                "keys": [{"id": "1", "aes256_key": base64.b64encode(bytes(32)).decode()}],
            }
        ).encode(),
        b'{"active": "1", "keys": []}',
        b'{"active": 1, "keys": [1]}',
    ],
)
def test_malformed_rings_are_refused(raw: bytes) -> None:
    with pytest.raises(KeyRingError):
        key_ring_from_secret(raw)


def test_repr_shows_versions_not_keys() -> None:
    raw = ring_secret("1")
    encoded = json.loads(raw)["keys"][0]["aes256_key"]
    ring = key_ring_from_secret(raw)
    assert encoded not in repr(ring) and "versions=['1']" in repr(ring)
