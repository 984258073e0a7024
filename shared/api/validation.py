"""Query-parameter parsing that answers 400 (``ApiError``) instead of raising anything else.

:class:`QueryParams` wraps a request's multi-dict. Every getter validates type, range and
length and names the parameter in its message. ``QueryParams(args, allowed={...})``
rejects parameters the endpoint does not know, so a typo (``?limt=5``) is a 400 rather
than a silently ignored filter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.api.errors import (
    bad_request,
    invalid_integer,
    invalid_time,
    out_of_range,
    time_out_of_range,
    unknown_parameter,
)
from shared.domain.timebounds import EARLIEST, LATEST, TimeOutOfRange, to_bounded_utc

__all__ = [
    "MAX_PARAM_LENGTH",
    "QueryParams",
    "parse_timestamp",
    "validate_path_value",
]

MAX_PARAM_LENGTH = 256
_EARLIEST_SECONDS = EARLIEST.timestamp()
_LATEST_SECONDS = LATEST.timestamp()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clip(value: str) -> str:
    shown = _CONTROL.sub("?", value[:40])
    return shown + ("..." if len(value) > 40 else "")


def parse_timestamp(name: str, raw: str) -> datetime:
    """RFC 3339 (``2026-06-11T05:00:00Z``; a zone is required) or Unix seconds, in UTC.

    Every accepted instant lies in :mod:`shared.domain.timebounds`' range (1970 to 2100
    UTC): a year-1 time with a zone offset overflows on conversion, and one that reached
    the database driver would poison its pooled connection, so both are a 400 here.
    """
    value = raw.strip()
    if re.fullmatch(r"[+-]?\d{1,12}(\.\d+)?", value):
        seconds = float(value)
        if not _EARLIEST_SECONDS <= seconds <= _LATEST_SECONDS:
            raise time_out_of_range(
                name,
                f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC "
                f"(Unix seconds {_EARLIEST_SECONDS:.0f} to {_LATEST_SECONDS:.0f})",
            )
        return to_bounded_utc(datetime.fromtimestamp(seconds, UTC))
    if len(value) > 40:
        raise invalid_time(name, "must be an RFC 3339 time or Unix seconds")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid_time(
            name,
            "must be an RFC 3339 time (e.g. 2026-06-11T05:00:00Z) or Unix seconds, "
            f"not {_clip(value)!r}",
        ) from None
    if moment.tzinfo is None:
        raise invalid_time(name, "needs a time zone (e.g. a trailing Z)")
    try:
        return to_bounded_utc(moment)
    except TimeOutOfRange as error:
        raise time_out_of_range(name, str(error)) from None


def validate_path_value(
    name: str, value: str, pattern: re.Pattern[str], what: str, *, upper: bool = False
) -> str:
    """A path segment checked against ``pattern``; 400 naming ``what`` was expected."""
    candidate = value.upper() if upper else value
    if len(candidate) > MAX_PARAM_LENGTH or not pattern.fullmatch(candidate):
        raise bad_request(f"{name} must be {what}, not {_clip(value)!r}", code=f"invalid_{name}")
    return candidate


class QueryParams:
    def __init__(self, args: Any, allowed: Iterable[str] | None = None) -> None:
        self._args = args
        if allowed is not None:
            unknown = sorted(set(args.keys()) - set(allowed))
            if unknown:
                raise unknown_parameter(_clip(unknown[0]), allowed)

    def _values(self, name: str) -> list[str]:
        values = list(self._args.getlist(name))
        for value in values:
            if len(value) > MAX_PARAM_LENGTH:
                raise bad_request(f"{name} is longer than {MAX_PARAM_LENGTH} characters")
        return values

    def string(self, name: str, pattern: re.Pattern[str] | None = None) -> str | None:
        values = self._values(name)
        if not values:
            return None
        if len(values) > 1:
            raise bad_request(f"{name} may be given once")
        value = values[0]
        if value == "":
            return None
        if _CONTROL.search(value):
            raise bad_request(f"{name} contains control characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise bad_request(f"{name} has an invalid format: {_clip(value)!r}")
        return value

    def list(self, name: str, choices: Sequence[str] | None = None) -> list[str]:
        """Repeated (``?a=x&a=y``) and comma-separated (``?a=x,y``) values, deduplicated."""
        out: list[str] = []
        for value in self._values(name):
            for part in value.split(","):
                item = part.strip()
                if not item:
                    continue
                if choices is not None and item not in choices:
                    raise bad_request(
                        f"{name} must be among {', '.join(choices)}; got {_clip(item)!r}"
                    )
                if item not in out:
                    out.append(item)
        return out

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        number = self.optional_integer(name, minimum, maximum)
        return default if number is None else number

    def optional_integer(self, name: str, minimum: int, maximum: int) -> int | None:
        """An integer in ``[minimum, maximum]``, or None when absent. Any length of digits
        parses (the length cap bounds it), so ``2^70`` is "out of range", not "not an
        integer", and never reaches SQL as a number the column cannot hold."""
        value = self.string(name)
        if value is None:
            return None
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise invalid_integer(name)
        number = int(value)
        if not minimum <= number <= maximum:
            raise out_of_range(name, minimum, maximum)
        return number

    def number(self, name: str, default: float, minimum: float, maximum: float) -> float:
        value = self.string(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise bad_request(f"{name} must be a number") from None
        if not math.isfinite(number) or not minimum <= number <= maximum:
            raise out_of_range(name, minimum, maximum)
        return number

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
        value = self.string(name)
        if value is None:
            return default
        if value not in choices:
            raise bad_request(f"{name} must be one of {', '.join(choices)}; got {_clip(value)!r}")
        return value

    def timestamp(self, name: str) -> datetime | None:
        value = self.string(name)
        return None if value is None else parse_timestamp(name, value)
