"""Where archived file sets live: a local directory or a Cloud Storage prefix (ADR 0174).

Apart from :mod:`shared.history.archive` so that opening a store (the backtest worker
does on every run) imports neither pyarrow nor, for a local directory, Cloud Storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ArchiveError", "ArchiveStore", "GcsArchive", "LocalArchive", "open_archive"]


class ArchiveError(RuntimeError):
    """An archive could not be written or did not verify; the partition stays."""


class ArchiveStore(Protocol):
    """Where file sets go: a directory locally, a Cloud Storage prefix in the cloud."""

    @property
    def url(self) -> str: ...

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...


@dataclass(frozen=True)
class LocalArchive:
    """A directory (``kalshi-insights up`` puts it under the state directory)."""

    root: Path

    @property
    def url(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ArchiveError(f"archive name {name!r} leaves the archive directory")
        return path

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file

    def get(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self._path(name).exists()


class GcsArchive:
    """A Cloud Storage bucket and prefix (``gs://bucket/prefix``)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self._prefix = prefix.strip("/")
        self._name = bucket

    @property
    def url(self) -> str:
        return f"gs://{self._name}/{self._prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self._prefix else name

    def put(self, name: str, data: bytes) -> None:
        blob = self._bucket.blob(self._key(name))
        # Cloud Storage checks the upload against this checksum and refuses a corrupt one.
        blob.upload_from_string(data, checksum="crc32c")

    def get(self, name: str) -> bytes:
        return bytes(self._bucket.blob(self._key(name)).download_as_bytes(checksum="crc32c"))

    def exists(self, name: str) -> bool:
        return bool(self._bucket.blob(self._key(name)).exists())


def open_archive(url: str | None) -> ArchiveStore | None:
    """The store at ``url``: ``gs://bucket/prefix`` or a local directory; None if unset."""
    if not url:
        return None
    if url.startswith("gs://"):
        bucket, _, prefix = url[len("gs://") :].partition("/")
        return GcsArchive(bucket, prefix)
    if url.startswith("file://"):
        url = url[len("file://") :]
    return LocalArchive(Path(url))
