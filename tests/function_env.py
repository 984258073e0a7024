"""Run functions in process under an environment of the test's choosing, then put it back.

Functions read their settings from the environment and keep one lazily built database per
process (:func:`shared.db.engine.get_database`); a test that points them somewhere else
must swap both, and restore both however it ends. One copy of that, for every fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["function_environment", "restore_env", "set_env"]


def set_env(values: Mapping[str, str]) -> dict[str, str | None]:
    """Set ``values``; return what they replaced (``None``: was unset) for :func:`restore_env`."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    return previous


def restore_env(previous: Mapping[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def function_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in the environment and a fresh process database inside the block."""
    from shared.db.engine import dispose_database

    previous = set_env(values)
    dispose_database()
    try:
        yield
    finally:
        dispose_database()
        restore_env(previous)
