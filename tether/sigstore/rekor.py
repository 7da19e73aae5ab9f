"""Rekor's promise that a signature is in the transparency log, checked offline.

cosign's ``bundle`` annotation holds the log entry and Rekor's signed entry timestamp (SET):
Rekor's signature over the canonical JSON of ``body``, ``integratedTime``, ``logID`` and
``logIndex``. The SET is checked with the trusted log's key; the entry (a ``hashedrekord``) must
name the same signature, the same certificate and the payload's SHA-256; ``integratedTime`` is
then the moment the short-lived certificate must have been valid at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from tether.sigstore.certs import verify_signature
from tether.sigstore.errors import SignatureError
from tether.sigstore.trustroot import TrustedRoot

MAX_BUNDLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class LogEntry:
    log_url: str
    log_index: int
    integrated: datetime
    body: dict[str, Any]


def verify_bundle(bundle: str, root: TrustedRoot) -> LogEntry:
    """The log entry of a cosign bundle whose SET a trusted log signed, or a SignatureError."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise SignatureError(f"transparency log bundle larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        doc = json.loads(bundle)
        payload = doc["Payload"]
        body_text, log_hex = str(payload["body"]), str(payload["logID"])
        integrated_time, log_index = int(payload["integratedTime"]), int(payload["logIndex"])
        log_id = bytes.fromhex(log_hex)
        set_signature = base64.b64decode(doc["SignedEntryTimestamp"], validate=True)
        body = json.loads(base64.b64decode(body_text, validate=True))
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise SignatureError("transparency log bundle is malformed") from None
    log = root.tlog(log_id)
    if log is None:
        raise SignatureError(f"transparency log {log_hex[:64]} is not in the trusted root")
    signed = {"body": body_text, "integratedTime": integrated_time, "logID": log_hex,
              "logIndex": log_index}  # fmt: skip
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    if not verify_signature(log.key, set_signature, canonical):
        raise SignatureError("transparency log's signed entry timestamp does not verify")
    integrated = datetime.fromtimestamp(integrated_time, UTC)
    if not log.valid.holds(integrated):
        raise SignatureError("transparency log's key was not valid when the entry was logged")
    if not isinstance(body, dict):
        raise SignatureError("transparency log entry is malformed")
    return LogEntry(log.url, log_index, integrated, body)


def check_entry(entry: LogEntry, signature: bytes, cert: x509.Certificate, payload: bytes) -> None:
    """The logged ``hashedrekord`` is of this signature, certificate and payload."""
    body = entry.body
    if body.get("kind") != "hashedrekord":
        raise SignatureError(f"transparency log entry of kind {str(body.get('kind'))[:40]!r} "
                             "is not a hashedrekord")  # fmt: skip
    try:
        spec = body["spec"]
        data_hash = spec["data"]["hash"]
        logged_signature = base64.b64decode(spec["signature"]["content"], validate=True)
        logged_cert = x509.load_pem_x509_certificate(
            base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
        )
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise SignatureError("transparency log entry is malformed") from None
    if data_hash.get("algorithm") != "sha256" or (
        data_hash.get("value") != hashlib.sha256(payload).hexdigest()
    ):
        raise SignatureError("transparency log entry is of another payload")
    if logged_signature != signature:
        raise SignatureError("transparency log entry is of another signature")
    if logged_cert != cert:
        raise SignatureError("transparency log entry is of another certificate")
