"""The local cluster's certificates: its CA, the server certificate, and client certificates.

A client certificate signed by the CA authenticates as kube-apiserver's x509 authenticator reads
it: the subject's CN is the user, each O entry a group.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "tether-local-ca"
#: how long a client certificate the helpers issue stays valid
CLIENT_CERT_DAYS = 365


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the cluster keys are ECDSA keys")
    return key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def generate_ca() -> tuple[bytes, bytes]:
    """A fresh CA certificate and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), private_pem(key)


def _signed(
    ca_pem: bytes,
    ca_key_pem: bytes,
    subject: x509.Name,
    usage: Any,
    days: int,
    extra: list[x509.ExtensionType] | None = None,
) -> tuple[bytes, bytes]:
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    ca_key = load_private_key(ca_key_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(_key_usage(cert_sign=False), critical=True)
    )
    for extension in extra or []:
        builder = builder.add_extension(extension, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), private_pem(key)


def issue_server_cert(ca_pem: bytes, ca_key_pem: bytes) -> tuple[bytes, bytes]:
    """The API server's certificate for 127.0.0.1, localhost and kubernetes.default.svc."""
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    return _signed(ca_pem, ca_key_pem, subject, ExtendedKeyUsageOID.SERVER_AUTH, 3650, [names])


def issue_client_cert(
    ca_pem: bytes,
    ca_key_pem: bytes,
    user: str,
    groups: tuple[str, ...] | list[str] = (),
    days: int = CLIENT_CERT_DAYS,
) -> tuple[bytes, bytes]:
    """A client certificate (and key) that authenticates as ``user`` in ``groups``."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    subject = x509.Name(attributes)
    return _signed(ca_pem, ca_key_pem, subject, ExtendedKeyUsageOID.CLIENT_AUTH, days)


def peer_identity(peer: dict[str, Any] | None) -> tuple[str, tuple[str, ...]] | None:
    """(CN, O entries) of a verified peer certificate as ``SSLSocket.getpeercert()`` gives it."""
    if not peer:
        return None
    common_name = ""
    groups: list[str] = []
    for rdn in peer.get("subject") or ():
        for attribute, value in rdn:
            if attribute == "commonName":
                common_name = value
            elif attribute == "organizationName":
                groups.append(value)
    return (common_name, tuple(groups)) if common_name else None
