"""The Google client a messaging wrapper holds, built on first use and once per instance.

Building a Pub/Sub or Cloud Tasks client opens channels and reads credentials; a function
that never publishes or queues on a given request should not pay for that at import (cold
starts stay short), and concurrent first requests must not each build one.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["LazyClient"]


class LazyClient:
    """Mixin: :attr:`client` is :meth:`_make_client`'s result, built once under ``_lock``.

    The subclass sets ``_client`` (``None``, or a client it was handed) and ``_lock`` in its
    ``__init__`` and implements :meth:`_make_client`.
    """

    _client: Any
    _lock: threading.Lock

    @property
    def client(self) -> Any:
        """The client, created on first use (double-checked: no lock once it exists)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        raise NotImplementedError
