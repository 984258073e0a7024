"""JSON errors for what the web framework refuses before our function runs.

functions-framework serves each HTTP function with Flask. A request Flask's own router
refuses (a path with a newline, a method it cannot parse) never reaches our handler and
would get Flask's HTML error page; the API contract is JSON ``{"error", "message"}`` for
every error, so each HTTP function registers this handler at import.
"""

from __future__ import annotations

from typing import Any

from shared.api.errors import error_body
from shared.api.http import NO_STORE

__all__ = ["framework_error", "register_json_framework_errors"]


def framework_error(error: Any) -> tuple[dict[str, str], int, dict[str, str]]:
    """Flask's ``HTTPException`` as the API's JSON error."""
    code = int(getattr(error, "code", 500) or 500)
    name = str(getattr(error, "name", "error")).lower().replace(" ", "_")
    message = str(getattr(error, "description", "") or name)
    return error_body(name, message), code, {"Cache-Control": NO_STORE}


def register_json_framework_errors() -> None:
    """Register :func:`framework_error` on the app functions-framework builds around the
    importing module.

    A no-op when the module is imported outside that app's setup: by tests or tools with no
    app (AttributeError, RuntimeError), or after another app in the same process already
    served requests (Flask refuses late setup with an AssertionError).
    """
    try:
        import functions_framework
        from werkzeug.exceptions import HTTPException

        functions_framework.errorhandler(HTTPException)(framework_error)
    except (AttributeError, RuntimeError, AssertionError):
        pass
