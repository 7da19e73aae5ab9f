"""Fulcio's short-lived signing certificates: the chain to a trusted authority, the code-signing
use, the identity (OIDC issuer and subject) they were issued to, and the certificate
transparency timestamp (SCT, RFC 6962) Fulcio embeds, checked against the trusted CT logs.
"""

from __future__ import annotations

import calendar
import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from tether.sigstore.errors import SignatureError
from tether.sigstore.trustroot import Authority, TrustedRoot

#: Fulcio's OIDC issuer extensions: the first a raw string, its successor a DER UTF8String
ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_UTF8_STRING = 0x0C


@dataclass(frozen=True)
class Identity:
    """Who a certificate was issued to: the OIDC issuer and the subjects (its SANs)."""

    issuer: str
    subjects: tuple[str, ...]

    def describe(self) -> str:
        return f"subject {', '.join(self.subjects) or '(none)'} from issuer {self.issuer}"


def verify_signature(key: PublicKeyTypes, signature: bytes, data: bytes) -> bool:
    """Does ``signature`` over ``data`` verify with ``key`` (SHA-256, as cosign signs)?"""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_chain(cert: x509.Certificate, root: TrustedRoot, moment: datetime) -> Authority:
    """The trusted authority that issued ``cert``, every certificate valid at ``moment`` (the
    time the transparency log recorded the signature), or a :class:`SignatureError`."""
    _check_leaf(cert, moment)
    for authority in root.authorities:
        if authority.valid.holds(moment) and _issued_by(cert, authority, moment):
            return authority
    raise SignatureError(
        f"certificate issued by '{cert.issuer.rfc4514_string()[:200]}' does not chain to a "
        "certificate authority of the trusted root valid at the time it was logged"
    )


def _check_leaf(cert: x509.Certificate, moment: datetime) -> None:
    if not _valid_at(cert, moment):
        raise SignatureError(
            f"certificate was not valid when the signature was logged ({moment:%Y-%m-%dT%H:%M:%SZ})"
        )
    try:
        uses = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        uses = None
    if uses is None or ExtendedKeyUsageOID.CODE_SIGNING not in uses:
        raise SignatureError("certificate is not for code signing")


def _issued_by(cert: x509.Certificate, authority: Authority, moment: datetime) -> bool:
    chain = [cert, *authority.chain]
    for child, parent in zip(chain, [*authority.chain, authority.chain[-1]], strict=True):
        if child is not cert and (not _is_ca(child) or not _valid_at(child, moment)):
            return False
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _valid_at(cert: x509.Certificate, moment: datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def identity_of(cert: x509.Certificate) -> Identity:
    """The OIDC issuer and the subject alternative names (emails, URIs, DNS names) of ``cert``."""
    issuer = ""
    for ext in cert.extensions:
        if ext.oid in (ISSUER_V1, ISSUER_V2) and isinstance(ext.value, x509.UnrecognizedExtension):
            raw = ext.value.value
            issuer = _utf8_string(raw) if ext.oid == ISSUER_V2 else raw.decode("utf-8", "replace")
            if ext.oid == ISSUER_V2:
                break
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        subjects: tuple[str, ...] = ()
    else:
        subjects = tuple(
            str(value)
            for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName)
            for value in names.get_values_for_type(kind)
        )
    return Identity(issuer, subjects)


def _utf8_string(raw: bytes) -> str:
    if len(raw) < 2 or raw[0] != _UTF8_STRING:
        return ""
    length, start = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    return raw[start : start + length].decode("utf-8", "replace")


def verify_sct(cert: x509.Certificate, issuer: x509.Certificate, root: TrustedRoot) -> None:
    """One of the SCTs embedded in ``cert`` is signed by a trusted CT log, over the
    precertificate (``cert`` without its SCTs) and its issuer's key (RFC 6962, 3.2)."""
    try:
        scts = cert.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        ).value
    except x509.ExtensionNotFound:
        raise SignatureError(
            "certificate carries no certificate transparency timestamp (SCT)"
        ) from None
    spki = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    issuer_hash = hashlib.sha256(spki).digest()
    tbs = cert.tbs_precertificate_bytes
    for sct in scts:
        log = root.ctlog(sct.log_id)
        stamped = sct.timestamp.replace(tzinfo=UTC)
        if log is None or not log.valid.holds(stamped):
            continue
        millis = calendar.timegm(stamped.timetuple()) * 1000 + stamped.microsecond // 1000
        extensions = sct.extension_bytes
        signed = b"".join((
            struct.pack(">BBQH", 0, 0, millis, 1),  # v1, certificate_timestamp, precert_entry
            issuer_hash,
            len(tbs).to_bytes(3, "big"), tbs,
            len(extensions).to_bytes(2, "big"), extensions,
        ))  # fmt: skip
        if verify_signature(log.key, sct.signature, signed):
            return
    raise SignatureError(
        "no certificate transparency timestamp (SCT) of the certificate verifies with a "
        "CT log of the trusted root"
    )
