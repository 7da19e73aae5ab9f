"""A Sigstore trusted root: the certificate authorities (Fulcio), transparency logs (Rekor) and
certificate transparency logs a keyless signature is checked against.

The file is Sigstore's own ``trusted_root.json`` (media type
``application/vnd.dev.sigstore.trustedroot+json;version=0.1``, as cosign's ``--trusted-root``
reads it). Tether ships the public-good instance's (:func:`public_good`); an operator running
a Sigstore of their own, or holding a fresher copy, names another file. Each key and each
authority is trusted only within its ``validFor`` window.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from tether.sigstore.errors import SignatureError

MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.trustedroot+json"
#: a trusted root is a few KiB; anything much larger is not one
MAX_TRUSTED_ROOT_BYTES = 1 << 20
MAX_ENTRIES = 64


@dataclass(frozen=True)
class Window:
    """``validFor``: from ``start`` to ``end`` (None: still valid)."""

    start: datetime
    end: datetime | None

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment <= self.end)


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its chain, the issuing certificate first, the root last."""

    chain: tuple[x509.Certificate, ...]
    valid: Window


@dataclass(frozen=True)
class LogKey:
    """A (certificate) transparency log's key; ``log_id`` is the SHA-256 of its DER form."""

    url: str
    log_id: bytes
    key: PublicKeyTypes
    valid: Window


@dataclass(frozen=True)
class TrustedRoot:
    authorities: tuple[Authority, ...]
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]

    def tlog(self, log_id: bytes) -> LogKey | None:
        return next((log for log in self.tlogs if log.log_id == log_id), None)

    def ctlog(self, log_id: bytes) -> LogKey | None:
        return next((log for log in self.ctlogs if log.log_id == log_id), None)


def public_good() -> TrustedRoot:
    """The public-good Sigstore instance's trusted root, as shipped with Tether."""
    data = resources.files("tether.sigstore").joinpath("public_good_trusted_root.json")
    return parse_trusted_root(data.read_bytes(), "the public-good trusted root")


def load_trusted_root(path: Path) -> TrustedRoot:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TRUSTED_ROOT_BYTES + 1)
    except OSError as exc:
        raise SignatureError(f"trusted root {path}: {exc.strerror or exc}") from None
    return parse_trusted_root(data, f"trusted root {path}")


def parse_trusted_root(data: bytes, what: str) -> TrustedRoot:
    if len(data) > MAX_TRUSTED_ROOT_BYTES:
        raise SignatureError(f"{what}: larger than {MAX_TRUSTED_ROOT_BYTES} bytes")
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        media = str(doc.get("mediaType") or "")
        if not media.startswith(MEDIA_TYPE_PREFIX):
            raise ValueError(f"mediaType {media[:100]!r} is not {MEDIA_TYPE_PREFIX}")
        return TrustedRoot(
            authorities=tuple(_authority(a) for a in _entries(doc, "certificateAuthorities")),
            tlogs=tuple(_log(log) for log in _entries(doc, "tlogs")),
            ctlogs=tuple(_log(log) for log in _entries(doc, "ctlogs")),
        )
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError) as exc:
        reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise SignatureError(f"{what} is not a Sigstore trusted root: {reason}") from None


def _entries(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = doc.get(key) or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ValueError(f"{key} must be a list of at most {MAX_ENTRIES}")
    return entries


def _authority(entry: dict[str, Any]) -> Authority:
    raws = entry["certChain"]["certificates"]
    chain = tuple(x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in raws)
    if not chain:
        raise ValueError("a certificate authority without certificates")
    return Authority(chain, _window(entry.get("validFor")))


def _log(entry: dict[str, Any]) -> LogKey:
    key = entry["publicKey"]
    return LogKey(
        url=str(entry.get("baseUrl") or ""),
        log_id=base64.b64decode(entry["logId"]["keyId"]),
        key=load_der_public_key(base64.b64decode(key["rawBytes"])),
        valid=_window(key.get("validFor")),
    )


def _window(valid: Any) -> Window:
    valid = valid or {}
    start = _time(valid.get("start")) or datetime(1970, 1, 1, tzinfo=UTC)
    return Window(start, _time(valid.get("end")))


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
