"""The ``stack`` fixture of the streamer's integration tests (see ``stack.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.streamer.stack import Stack, build_stack


@pytest.fixture
def stack(migrated_database: str, simulator: Any) -> Iterator[Stack]:
    yield from build_stack(migrated_database, simulator)
