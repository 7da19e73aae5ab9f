"""Chart archives on disk, addressed by their sha256 digest.

An archive is written once, atomically (a private temporary file renamed into place), under
`<root>/sha256/<first two hex digits>/<hex>.tgz`. It is checked against its name again whenever
it is read, so a damaged or altered file is dropped and downloaded anew rather than used.
Everything here blocks on the file system: call it from a worker thread.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tether.source.trust import _write_atomically as write_atomically

_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    """The sha256 digest of `data`, as hex."""
    return hashlib.sha256(data).hexdigest()


def _file_sha256_hex(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ChartStore:
    """The on-disk cache of chart archives under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root / "sha256"

    def path_of(self, hex_digest: str) -> Path:
        """Where the archive with this digest is (or would be) kept."""
        return self.root / hex_digest[:2] / f"{hex_digest}.tgz"

    def cached(self, hex_digest: str) -> Path | None:
        """The archive with this digest when it is stored and intact, else None (a damaged
        copy is removed)."""
        path = self.path_of(hex_digest)
        try:
            if _file_sha256_hex(path) == hex_digest:
                return path
        except FileNotFoundError:
            return None
        path.unlink(missing_ok=True)
        return None

    def put(self, data: bytes, hex_digest: str) -> Path:
        """Store `data`, whose digest the caller has checked to be `hex_digest`."""
        path = self.path_of(hex_digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
        return path
