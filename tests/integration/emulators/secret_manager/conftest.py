import socket

import pytest

from devstack.secret_manager_emulator import SecretManagerEmulator
from shared.secrets import secret_manager_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "secret-manager"


@pytest.fixture
def emulator(tmp_path, data_dir):
    """The emulator as the local stack runs it: a child process on loopback."""
    harness = SecretManagerEmulator(free_port(), data_dir=data_dir, log_path=tmp_path / "sm.log")
    with harness:
        yield harness


@pytest.fixture
def client(emulator):
    return secret_manager_client(emulator.host)
