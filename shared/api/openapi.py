"""The OpenAPI documents each HTTP function serves, read from ``openapi/``.

The documents live in the repository (reviewed like code) and ship inside each function's
source bundle next to ``shared/`` (``devstack/package_functions.py``), so the same relative
path works in a checkout and in a deployed function. ``OPENAPI_DIR`` overrides it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from shared import config

__all__ = ["OPENAPI_DIR", "load_document"]

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "openapi"


@functools.cache
def load_document(name: str) -> dict[str, Any]:
    """``openapi/<name>.json``, parsed once per instance."""
    directory = Path(config.text("OPENAPI_DIR") or OPENAPI_DIR)
    document: dict[str, Any] = json.loads((directory / f"{name}.json").read_text())
    return document
