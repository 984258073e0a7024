"""A local Secret Manager the real ``google-cloud-secret-manager`` client talks to over gRPC.

Google publishes no Secret Manager emulator and PyPI has no maintained one, so this package
implements the parts of ``google.cloud.secretmanager.v1.SecretManagerService`` the project
uses (secrets, versions, ``latest``, enable/disable/destroy, CRC32C checksums), persisted
under a data directory. Run it with ``python -m emulators.secret_manager --port N
--data-dir DIR``; clients reach it through ``SECRET_MANAGER_EMULATOR_HOST``.
"""

from __future__ import annotations

from emulators.secret_manager.server import SecretManagerEmulator, serve
from emulators.secret_manager.storage import SecretStorage

__all__ = ["SecretManagerEmulator", "SecretStorage", "serve"]
