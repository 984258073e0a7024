"""The gRPC service: ``google.cloud.secretmanager.v1.SecretManagerService`` over storage.

Handlers are registered with :func:`grpc.method_handlers_generic_handler` using the
proto-plus types' own ``serialize``/``deserialize`` from
``google.cloud.secretmanager_v1.types``, so no generated stubs are needed and the wire
format is exactly what the real client sends. Errors use the status codes Secret Manager
uses: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (disabled or destroyed version) and
INVALID_ARGUMENT (malformed names, checksum mismatch). CRC32C comes from ``google-crc32c``.
Not implemented: IAM, rotation, replication status, etags, list filters and UpdateSecret.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import google_crc32c
import grpc  # type: ignore[import-untyped]
from google.cloud.secretmanager_v1 import types
from google.protobuf import empty_pb2

from emulators.secret_manager.storage import SecretRecord, SecretStorage, VersionRecord, valid_id

__all__ = ["SERVICE_NAME", "SecretManagerEmulator", "serve"]

SERVICE_NAME = "google.cloud.secretmanager.v1.SecretManagerService"

_PROJECT = re.compile(r"^projects/([^/]+)$")
_SECRET = re.compile(r"^projects/([^/]+)/secrets/([^/]+)$")
_VERSION = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")
_PAGE_SIZE = 25_000


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable")  # context.abort raises


def _timestamp(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


class SecretManagerEmulator:
    """The servicer: one method per RPC, each taking a proto-plus request."""

    def __init__(self, storage: SecretStorage) -> None:
        self.storage = storage

    # -- name parsing -------------------------------------------------------------------

    @staticmethod
    def _parse(pattern: re.Pattern[str], name: str, context: grpc.ServicerContext) -> list[str]:
        match = pattern.match(name)
        if not match or not all(valid_id(part) for part in match.groups()):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed resource name {name!r}")
        return list(match.groups())

    def _secret(self, name: str, context: grpc.ServicerContext) -> SecretRecord:
        project, secret_id = self._parse(_SECRET, name, context)
        record = self.storage.secrets.get((project, secret_id))
        if record is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return record

    def _version(
        self, name: str, context: grpc.ServicerContext
    ) -> tuple[SecretRecord, VersionRecord]:
        project, secret_id, version = self._parse(_VERSION, name, context)
        record = self._secret(f"projects/{project}/secrets/{secret_id}", context)
        if version == "latest":
            if not record.versions:
                _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret [{name}] has no versions.")
            return record, record.versions[-1]
        if not version.isdigit() or int(version) < 1:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed version {version!r}")
        for candidate in record.versions:
            if candidate.number == int(version):
                return record, candidate
        _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")

    @staticmethod
    def _secret_message(record: SecretRecord) -> types.Secret:
        secret: types.Secret = types.Secret.deserialize(record.secret)
        return secret

    @staticmethod
    def _version_message(record: SecretRecord, version: VersionRecord) -> types.SecretVersion:
        message = types.SecretVersion(
            name=f"projects/{record.project}/secrets/{record.secret_id}/versions/{version.number}",
            state=getattr(types.SecretVersion.State, version.state),
            create_time=_timestamp(version.create_time),
            client_specified_payload_checksum=True,
        )
        if version.destroy_time is not None:
            message.destroy_time = _timestamp(version.destroy_time)
        return message

    # -- secrets --------------------------------------------------------------------------

    def create_secret(
        self, request: types.CreateSecretRequest, context: grpc.ServicerContext
    ) -> types.Secret:
        (project,) = self._parse(_PROJECT, request.parent, context)
        if not valid_id(request.secret_id):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "secret_id is malformed")
        with self.storage.lock:
            if (project, request.secret_id) in self.storage.secrets:
                _abort(
                    context,
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"Secret [projects/{project}/secrets/{request.secret_id}] already exists.",
                )
            secret = types.Secret(request.secret)
            secret.name = f"projects/{project}/secrets/{request.secret_id}"
            secret.create_time = _timestamp(time.time())
            record = SecretRecord(project, request.secret_id, types.Secret.serialize(secret))
            self.storage.save(record)
            self.storage.secrets[(project, request.secret_id)] = record
        return secret

    def get_secret(
        self, request: types.GetSecretRequest, context: grpc.ServicerContext
    ) -> types.Secret:
        with self.storage.lock:
            return self._secret_message(self._secret(request.name, context))

    def list_secrets(
        self, request: types.ListSecretsRequest, context: grpc.ServicerContext
    ) -> types.ListSecretsResponse:
        (project,) = self._parse(_PROJECT, request.parent, context)
        with self.storage.lock:
            records = sorted(
                (r for (p, _), r in self.storage.secrets.items() if p == project),
                key=lambda r: r.secret_id,
            )
            secrets = [self._secret_message(r) for r in records]
        page, token = self._page(secrets, request.page_size, request.page_token, context)
        return types.ListSecretsResponse(
            secrets=page, next_page_token=token, total_size=len(secrets)
        )

    def delete_secret(
        self, request: types.DeleteSecretRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.storage.lock:
            record = self._secret(request.name, context)
            self.storage.delete(record.project, record.secret_id)
        return empty_pb2.Empty()

    # -- versions -------------------------------------------------------------------------

    def add_secret_version(
        self, request: types.AddSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        data = bytes(request.payload.data)
        checksum = google_crc32c.value(data)
        if "data_crc32c" in request.payload and request.payload.data_crc32c != checksum:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "data_crc32c does not match data")
        with self.storage.lock:
            record = self._secret(request.parent, context)
            number = record.versions[-1].number + 1 if record.versions else 1
            version = VersionRecord(number, "ENABLED", data, checksum, time.time())
            record.versions.append(version)
            try:
                self.storage.save(record)
            except BaseException:
                record.versions.pop()
                raise
            return self._version_message(record, version)

    def access_secret_version(
        self, request: types.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.AccessSecretVersionResponse:
        with self.storage.lock:
            record, version = self._version(request.name, context)
            message = self._version_message(record, version)
        if version.state != "ENABLED":
            _abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{message.name}] is in {version.state} state.",
            )
        return types.AccessSecretVersionResponse(
            name=message.name,
            payload=types.SecretPayload(data=version.data, data_crc32c=version.crc32c),
        )

    def get_secret_version(
        self, request: types.GetSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        with self.storage.lock:
            return self._version_message(*self._version(request.name, context))

    def list_secret_versions(
        self, request: types.ListSecretVersionsRequest, context: grpc.ServicerContext
    ) -> types.ListSecretVersionsResponse:
        with self.storage.lock:
            record = self._secret(request.parent, context)
            # Newest first, as Secret Manager lists them.
            versions = [self._version_message(record, v) for v in reversed(record.versions)]
        page, token = self._page(versions, request.page_size, request.page_token, context)
        return types.ListSecretVersionsResponse(
            versions=page, next_page_token=token, total_size=len(versions)
        )

    def _set_state(
        self, name: str, state: str, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        with self.storage.lock:
            record, version = self._version(name, context)
            if version.state == "DESTROYED":
                _abort(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{name}] is destroyed.",
                )
            previous = (version.state, version.data, version.destroy_time)
            version.state = state
            if state == "DESTROYED":
                version.data = b""
                version.destroy_time = time.time()
            try:
                self.storage.save(record)
            except BaseException:
                version.state, version.data, version.destroy_time = previous
                raise
            return self._version_message(record, version)

    def disable_secret_version(
        self, request: types.DisableSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        return self._set_state(request.name, "DISABLED", context)

    def enable_secret_version(
        self, request: types.EnableSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        return self._set_state(request.name, "ENABLED", context)

    def destroy_secret_version(
        self, request: types.DestroySecretVersionRequest, context: grpc.ServicerContext
    ) -> types.SecretVersion:
        return self._set_state(request.name, "DESTROYED", context)

    @staticmethod
    def _page(
        items: list[Any], page_size: int, page_token: str, context: grpc.ServicerContext
    ) -> tuple[list[Any], str]:
        """Offset paging; the token is the offset of the next page."""
        if page_token and not page_token.isdigit():
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "invalid page_token")
        start = int(page_token or 0)
        size = page_size if page_size > 0 else _PAGE_SIZE
        end = start + size
        return items[start:end], (str(end) if end < len(items) else "")

    # -- wiring ---------------------------------------------------------------------------

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(
            method: Callable[[Any, grpc.ServicerContext], Any],
            request_type: Any,
            response_serializer: Callable[[Any], bytes],
        ) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                method,
                request_deserializer=request_type.deserialize,
                response_serializer=response_serializer,
            )

        secret = types.Secret.serialize
        version = types.SecretVersion.serialize
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "CreateSecret": unary(self.create_secret, types.CreateSecretRequest, secret),
                "GetSecret": unary(self.get_secret, types.GetSecretRequest, secret),
                "ListSecrets": unary(
                    self.list_secrets,
                    types.ListSecretsRequest,
                    types.ListSecretsResponse.serialize,
                ),
                "DeleteSecret": unary(
                    self.delete_secret,
                    types.DeleteSecretRequest,
                    empty_pb2.Empty.SerializeToString,
                ),
                "AddSecretVersion": unary(
                    self.add_secret_version, types.AddSecretVersionRequest, version
                ),
                "AccessSecretVersion": unary(
                    self.access_secret_version,
                    types.AccessSecretVersionRequest,
                    types.AccessSecretVersionResponse.serialize,
                ),
                "GetSecretVersion": unary(
                    self.get_secret_version, types.GetSecretVersionRequest, version
                ),
                "ListSecretVersions": unary(
                    self.list_secret_versions,
                    types.ListSecretVersionsRequest,
                    types.ListSecretVersionsResponse.serialize,
                ),
                "DisableSecretVersion": unary(
                    self.disable_secret_version, types.DisableSecretVersionRequest, version
                ),
                "EnableSecretVersion": unary(
                    self.enable_secret_version, types.EnableSecretVersionRequest, version
                ),
                "DestroySecretVersion": unary(
                    self.destroy_secret_version, types.DestroySecretVersionRequest, version
                ),
            },
        )


def serve(data_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0) -> grpc.Server:
    """Start the emulator on ``host:port`` (0 picks a free port: ``server.port``)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((SecretManagerEmulator(SecretStorage(data_dir)).handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    server.port = bound
    return server
