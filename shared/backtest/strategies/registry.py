"""The catalogue of strategies by name; users add theirs with :func:`register`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.strategies.base import Strategy
from shared.backtest.strategies.fade import FadeLargeMoves
from shared.backtest.strategies.favourite_longshot import FavouriteLongshot
from shared.backtest.strategies.momentum import Momentum
from shared.backtest.strategies.passive_threshold import PassiveThreshold

__all__ = ["available", "create", "get", "register", "unregister"]

_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy class (usable as a decorator). Names must be unique."""
    for attr in ("name", "version", "params_schema"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} must define the class attribute {attr!r}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a strategy named {cls.name!r} is already registered")
    for name, spec in cls.params_schema.get("properties", {}).items():
        if "default" not in spec:
            raise TypeError(f"{cls.__name__}: parameter {name!r} needs a default")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> type[Strategy]:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidBacktestRequest(
            f"unknown strategy {name!r}; known strategies: {known}", code="unknown_strategy"
        ) from None


def create(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Instantiate ``name`` with ``params`` (defaults fill what is missing; validated)."""
    return get(name)(params)


def available() -> list[type[Strategy]]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


for _builtin in (FadeLargeMoves, Momentum, FavouriteLongshot, PassiveThreshold):
    register(_builtin)
