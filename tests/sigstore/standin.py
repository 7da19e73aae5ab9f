"""A Sigstore of the tests' own: a Fulcio-like CA (root and intermediate), a CT log and a Rekor
log, signing as cosign does and described by a ``trusted_root.json`` Tether reads. Sigstore's
public-good services cannot be reached from here; this stands in for them and follows their
documented formats: Fulcio's certificates (code signing, SAN, OIDC issuer extensions, an
embedded RFC 6962 SCT over the precertificate), Rekor's ``hashedrekord`` entries and signed
entry timestamps, cosign's simple-signing payloads, annotations and ``.sig`` tags.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tether.images.testing import OCI_MANIFEST, RunningRegistry, put_manifest, upload_blobs
from tether.sigstore.cosign import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    PAYLOAD_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    signature_tag,
)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


def payload_of(digest: str, reference: str) -> bytes:
    """cosign's simple-signing payload of ``reference@digest``."""
    doc = {"critical": {"identity": {"docker-reference": reference},
                        "image": {"docker-manifest-digest": digest}, "type": PAYLOAD_TYPE},
           "optional": None}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class Signed:
    """One signature layer: the payload blob and the layer's annotations."""

    payload: bytes
    annotations: dict[str, str]


def sign_with_key(key: ec.EllipticCurvePrivateKey, digest: str, reference: str) -> Signed:
    """``cosign sign --key`` (no transparency log)."""
    payload = payload_of(digest, reference)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return Signed(payload, {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()})


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tether.test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])  # fmt: skip


def _utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _octets(raw: bytes) -> bytes:
    length = len(raw)
    head = bytes([length]) if length < 128 else bytes([0x82]) + length.to_bytes(2, "big")
    return b"\x04" + head + raw


@dataclass
class StandInSigstore:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __post_init__(self) -> None:
        curve = ec.SECP384R1()
        self.root_key = ec.generate_private_key(curve)
        self.intermediate_key = ec.generate_private_key(curve)
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        start = self.now - timedelta(days=1)
        self.root = self._ca("stand-in root", self.root_key, self.root_key, None, start)
        self.intermediate = self._ca(
            "stand-in intermediate", self.intermediate_key, self.root_key, self.root, start
        )

    def _ca(
        self,
        common: str,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        parent: x509.Certificate | None,
        start: datetime,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(parent.subject if parent else _name(common))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
        )
        return builder.sign(signer, hashes.SHA384())

    def trusted_root(self) -> bytes:
        """This Sigstore's ``trusted_root.json``."""

        def log(url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            der = _der(key)
            return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": base64.b64encode(der).decode(),
                                  "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                  "validFor": {"start": "2020-01-01T00:00:00Z"}},
                    "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()}}  # fmt: skip

        chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                 for c in (self.intermediate, self.root)]  # fmt: skip
        doc = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.tether.test", self.rekor_key)],
            "certificateAuthorities": [{
                "subject": {"organization": "tether.test", "commonName": "stand-in"},
                "uri": "https://fulcio.tether.test",
                "certChain": {"certificates": [{"rawBytes": raw} for raw in chain]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}}],
            "ctlogs": [log("https://ctfe.tether.test", self.ct_key)],
            "timestampAuthorities": [],
        }  # fmt: skip
        return json.dumps(doc, indent=1).encode()

    def sign_keyless(
        self,
        digest: str,
        reference: str,
        *,
        subject: str = "https://github.com/tether-test/manifests/.github/workflows/release.yml@refs/tags/v1",
        issuer: str = GITHUB_ISSUER,
        integrated: datetime | None = None,
        with_sct: bool = True,
    ) -> Signed:
        """``cosign sign`` keyless: a Fulcio certificate for ``subject`` from ``issuer``, the
        signature logged in Rekor (at ``integrated``, default now), the bundle attached."""
        payload = payload_of(digest, reference)
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        cert = self.certificate(ephemeral, subject, issuer, with_sct=with_sct)
        signature = ephemeral.sign(payload, ec.ECDSA(hashes.SHA256()))
        cert_pem = cert.public_bytes(Encoding.PEM)
        bundle = self.log_entry(payload, signature, cert_pem, integrated or self.now)
        return Signed(payload, {
            SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
            CERTIFICATE_ANNOTATION: cert_pem.decode(),
            BUNDLE_ANNOTATION: json.dumps(bundle),
        })  # fmt: skip

    def certificate(
        self,
        key: ec.EllipticCurvePrivateKey,
        subject: str,
        issuer: str,
        *,
        with_sct: bool = True,
    ) -> x509.Certificate:
        san: x509.GeneralName = (
            x509.RFC822Name(subject) if "@" in subject and "://" not in subject
            else x509.UniformResourceIdentifier(subject)
        )  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - timedelta(minutes=1))
            .not_valid_after(self.now + timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectAlternativeName([san]), True)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, _utf8(issuer)), False)
        )
        if not with_sct:
            return builder.sign(self.intermediate_key, hashes.SHA384())
        precert = builder.sign(self.intermediate_key, hashes.SHA384())
        sct = self._sct(precert.tbs_certificate_bytes)
        tls_list = len(sct).to_bytes(2, "big") + sct
        tls_list = len(tls_list).to_bytes(2, "big") + tls_list
        builder = builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST, _octets(tls_list)), False
        )
        return builder.sign(self.intermediate_key, hashes.SHA384())

    def _sct(self, tbs: bytes) -> bytes:
        """An RFC 6962 SCT (v1, precert entry) of this CT log over ``tbs``."""
        millis = calendar.timegm(self.now.timetuple()) * 1000
        issuer_hash = hashlib.sha256(_der(self.intermediate_key)).digest()
        signed = b"".join((
            struct.pack(">BBQH", 0, 0, millis, 1), issuer_hash,
            len(tbs).to_bytes(3, "big"), tbs, b"\x00\x00",
        ))  # fmt: skip
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        log_id = hashlib.sha256(_der(self.ct_key)).digest()
        return b"".join((
            b"\x00", log_id, struct.pack(">Q", millis), b"\x00\x00",
            b"\x04\x03", len(signature).to_bytes(2, "big"), signature,
        ))  # fmt: skip

    def log_entry(
        self, payload: bytes, signature: bytes, cert_pem: bytes, integrated: datetime
    ) -> dict[str, Any]:
        """Rekor's bundle of a ``hashedrekord`` entry: the body and its signed timestamp."""
        body = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
            "signature": {"content": base64.b64encode(signature).decode(),
                          "publicKey": {"content": base64.b64encode(cert_pem).decode()}}}}  # fmt: skip
        entry = {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "integratedTime": int(integrated.timestamp()),
            "logID": hashlib.sha256(_der(self.rekor_key)).hexdigest(),
            "logIndex": 4242,
        }
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        stamp = self.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))
        return {"SignedEntryTimestamp": base64.b64encode(stamp).decode(), "Payload": entry}


def push_signatures(
    http: httpx.Client, registry: RunningRegistry, repository: str, digest: str, *signed: Signed
) -> str:
    """Attach signatures to ``repository@digest`` as cosign does: one manifest at the
    ``sha256-<hex>.sig`` tag, a simple-signing layer (with its annotations) per signature."""
    config = ("application/vnd.oci.image.config.v1+json", b"{}")
    blobs = upload_blobs(http, registry, repository,
                         [config, *((SIMPLE_SIGNING, s.payload) for s in signed)])  # fmt: skip
    layers = [
        {**blob, "annotations": s.annotations} for blob, s in zip(blobs[1:], signed, strict=True)
    ]
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": blobs[0], "layers": layers}
    return put_manifest(http, registry, repository, signature_tag(digest), manifest)
