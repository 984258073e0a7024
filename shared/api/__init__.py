"""Small, framework-agnostic helpers every HTTP function of the project shares.

- :mod:`.errors`: :class:`ApiError` and the ``{"error", "message"}`` JSON body;
- :mod:`.http`: :class:`JsonResponse` with ETag / ``If-None-Match`` and Cache-Control;
- :mod:`.validation`: query-parameter parsing that answers 400 instead of raising;
- :mod:`.cursor`: opaque, tamper-evident pagination cursors;
- :mod:`.routing`: a tiny method + path router that answers 404/405 itself.

A function adapter (Flask request from functions-framework) does::

    response = handle(router, request)           # never raises
    return response.as_flask()                   # (body, status, headers)
"""
