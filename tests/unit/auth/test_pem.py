"""Every class of bad upload gets its own code, and no message quotes the key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.auth.pem import MAX_PEM_BYTES, InvalidPrivateKey, load_rsa_private_key
from tests.unit.auth.conftest import pem_of

# Armour lines built at run time: no tracked file holds a private-key block, even a fake one.
_BEGIN = "-----BEGIN " + "PRIVATE KEY-----"
_END = "-----END " + "PRIVATE KEY-----"


def _rejects(pem: str | bytes, code: str) -> InvalidPrivateKey:
    with pytest.raises(InvalidPrivateKey) as caught:
        load_rsa_private_key(pem)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_accepts_pkcs1_and_pkcs8_as_bytes_or_text(rsa_key: rsa.RSAPrivateKey) -> None:
    for form in (serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8):
        pem = pem_of(rsa_key, form)
        for given in (pem, pem.decode(), b"\n  " + pem + b"\n\n"):
            loaded = load_rsa_private_key(given)
            assert loaded.private_numbers() == rsa_key.private_numbers()


def test_short_rsa_key() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    error = _rejects(pem_of(small, serialization.PrivateFormat.PKCS8), "key_too_short")
    assert "1024" in error.message and "2048" in error.message


def test_public_key_and_certificate_like_input(rsa_key: rsa.RSAPrivateKey) -> None:
    public = rsa_key.public_key()
    _rejects(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "public_key",
    )
    _rejects(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "public_key",
    )


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()],
    ids=["ec", "ed25519"],
)
def test_non_rsa_keys(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> None:
    _rejects(pem_of(key, serialization.PrivateFormat.PKCS8), "not_rsa")  # type: ignore[arg-type]


def test_encrypted_pkcs8_and_legacy_encrypted_pkcs1(rsa_key: rsa.RSAPrivateKey) -> None:
    encryption = serialization.BestAvailableEncryption(b"passphrase")
    for form in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = rsa_key.private_bytes(serialization.Encoding.PEM, form, encryption)
        _rejects(pem, "encrypted_key")


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello",
        "not a key at all",
        f"{_BEGIN}\nAAAA\n{_END}\n".encode(),
        b"\x00\xff\x10binary",
        f"{_BEGIN}\n\u00e9\n{_END}",
    ],
)
def test_garbage(garbage: str | bytes) -> None:
    _rejects(garbage, "not_pem")


@pytest.mark.parametrize("empty", [b"", "", "   \n\t"])
def test_empty(empty: str | bytes) -> None:
    _rejects(empty, "not_pem")


def test_huge_input_is_refused_before_parsing(rsa_pem: bytes) -> None:
    _rejects(rsa_pem + b"\n" * MAX_PEM_BYTES, "too_large")
    _rejects("A" * (MAX_PEM_BYTES + 1), "too_large")


def test_no_message_quotes_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key, serialization.PrivateFormat.PKCS8)
    body = b"".join(pem.splitlines()[1:-1])
    lines = pem.splitlines(keepends=True)
    lines[3] = base64.b64encode(b"x" * 48) + b"\n"  # the key's structure no longer parses
    damaged = b"".join(lines)
    for bad in (damaged, pem[:-30], pem + b"\n" * MAX_PEM_BYTES):
        with pytest.raises(InvalidPrivateKey) as caught:
            load_rsa_private_key(bad)
        text = f"{caught.value} {caught.value!r} {caught.value.message}"
        for chunk in (body[i : i + 16].decode() for i in range(0, len(body) - 16, 16)):
            assert chunk not in text
        assert caught.value.__cause__ is None  # no chained parser error carries key bytes


def test_validated_keys_skip_only_the_consistency_check(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key, serialization.PrivateFormat.PKCS8)
    assert load_rsa_private_key(pem, validated=True).private_numbers() == (
        rsa_key.private_numbers()
    )
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    _rejects_validated = pytest.raises(InvalidPrivateKey)
    with _rejects_validated:
        load_rsa_private_key(pem_of(small, serialization.PrivateFormat.PKCS8), validated=True)
