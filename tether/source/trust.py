"""Which repository servers git trusts: SSH known hosts and TLS certificate authorities.

Argo CD mounts two ConfigMaps as files for its repo-server: the SSH known hosts (one file) and
one PEM file per TLS server name. `RepoTrust` keeps the same two things as files git and ssh
read, written by Tether itself: every known-hosts line and every certificate is checked and
bounded before it is written, a bad entry is left out (and reported) without losing the good
ones, and files are replaced atomically so a git command running meanwhile reads either the
old or the new content, never half of it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tether.source.errors import TrustConfigError

KIB = 1024
MIB = 1024 * KIB

#: key types OpenSSH accepts in a known_hosts file (plain keys; certificates are trusted
#: through an `@cert-authority` line naming the CA's plain key)
SSH_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_MARKERS = ("@cert-authority", "@revoked")
# Host patterns: names, addresses, `[host]:port`, wildcards, negation, hashed `|1|salt|hash`.
_HOSTS = re.compile(r"[A-Za-z0-9.\-_*?!\[\]:,|=+/%]+")
# What a ConfigMap key may be (the API server's rule), which is also a safe file name.
_SERVER_NAME = re.compile(r"[-._a-zA-Z0-9]+")
#: where trusted host keys and CAs come from, when the caller does not say
DEFAULT_KNOWN_HOSTS_ORIGIN = "the known hosts file given to Tether"
DEFAULT_TLS_ORIGIN = "the TLS certificates given to Tether"
#: the argocd-tls-certs-cm key whose CAs apply to servers without an entry of their own
DEFAULT_CA_FALLBACK = "_default_ca_fallback_"


@dataclass(frozen=True)
class TrustLimits:
    """Bounds on the trust configuration; past them the configuration is refused whole and the
    last good one stays (`max_certs_per_server` is Argo CD's limit per stream)."""

    max_known_hosts_bytes: int = 1 * MIB
    max_known_hosts_entries: int = 10_000
    max_line_bytes: int = 16 * KIB
    max_servers: int = 1_000
    max_pem_bytes: int = 256 * KIB
    max_certs_per_server: int = 256


@dataclass(frozen=True)
class KnownHosts:
    """The valid lines of a known_hosts text (normalized, comments dropped) and why others were
    left out (``"line 3: ..."``)."""

    lines: tuple[str, ...]
    rejected: tuple[str, ...]

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def _key_blob_type(blob: bytes) -> str | None:
    """The key type an SSH public key blob names in its first field (RFC 4253 string)."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def known_hosts_line(line: str, limits: TrustLimits) -> str:
    """One known_hosts entry, normalized (`[marker] hosts keytype key`, comment dropped);
    raises `ValueError` saying what is wrong with it."""
    if len(line.encode()) > limits.max_line_bytes:
        raise ValueError(f"longer than {limits.max_line_bytes} bytes")
    if any(ord(c) < 32 and c != "\t" for c in line):
        raise ValueError("holds a control character")
    fields = line.split()
    marker = fields.pop(0) if fields and fields[0].startswith("@") else None
    if marker is not None and marker not in _MARKERS:
        raise ValueError(f"unknown marker {marker!r} (only {', '.join(_MARKERS)})")
    if len(fields) < 3:
        raise ValueError("needs a host, a key type and a key")
    hosts, key_type, key = fields[:3]
    if not _HOSTS.fullmatch(hosts):
        raise ValueError(f"host field {hosts[:80]!r} holds characters no host name has")
    if key_type not in SSH_KEY_TYPES:
        raise ValueError(f"unknown key type {key_type[:40]!r}")
    try:
        blob = base64.b64decode(key, validate=True)
    except binascii.Error:
        raise ValueError("the key is not valid base64") from None
    if _key_blob_type(blob) != key_type:
        raise ValueError(f"the key is not an {key_type} key")
    return " ".join(f for f in (marker, hosts, key_type, key) if f)


def parse_known_hosts(text: str, limits: TrustLimits | None = None) -> KnownHosts:
    """The entries of a known_hosts text; blank lines and `#` comments are skipped (as Argo CD
    does) and an invalid line is left out with its reason. Raises `TrustConfigError` when the
    text as a whole is over its limits."""
    limits = limits or TrustLimits()
    # a lone surrogate (text from a decoder that let one through) is counted, not a traceback;
    # its line is then rejected like any other junk
    size = len(text.encode(errors="surrogatepass"))
    if size > limits.max_known_hosts_bytes:
        raise TrustConfigError(
            f"{size} bytes of known hosts, more than the limit of {limits.max_known_hosts_bytes}"
        )
    lines: list[str] = []
    rejected: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            lines.append(known_hosts_line(stripped, limits))
        except ValueError as exc:
            rejected.append(f"line {number}: {exc}")
    if len(lines) > limits.max_known_hosts_entries:
        raise TrustConfigError(
            f"{len(lines)} known hosts entries, more than the limit of "
            f"{limits.max_known_hosts_entries}"
        )
    return KnownHosts(tuple(lines), tuple(rejected))


def parse_server_certificates(server: str, pem: str, limits: TrustLimits | None = None) -> bytes:
    """The certificates of one TLS server entry, checked and written out again as PEM.

    Raises `ValueError` when the server name is not a ConfigMap key, the text is too large,
    holds no certificate, an unreadable one, or too many."""
    limits = limits or TrustLimits()
    if not _SERVER_NAME.fullmatch(server) or server in (".", ".."):
        raise ValueError("is not a server name (letters, digits, '-', '_' and '.')")
    data = pem.encode()
    if len(data) > limits.max_pem_bytes:
        raise ValueError(f"has {len(data)} bytes, more than the limit of {limits.max_pem_bytes}")
    blocks = data.count(b"-----BEGIN CERTIFICATE-----")
    if blocks == 0:
        raise ValueError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    if blocks > limits.max_certs_per_server:
        raise ValueError(
            f"holds {blocks} certificates, more than the limit of {limits.max_certs_per_server}"
        )
    # cryptography loads only when a certificate is read (~40 ms of every start otherwise)
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"holds a certificate that cannot be read ({exc})") from None
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a part."""
    descriptor, scratch = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def url_host(url: str) -> str | None:
    """The host name of an http(s) URL, lowercase and without its port (Argo CD looks TLS
    certificates up by the name alone)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    return (parts.hostname or "").lower() or None


class RepoTrust:
    """The known-hosts file and the per-server CA files git uses, kept in `folder`.

    `known_hosts_origin` and `tls_origin` say where the operator configures each (a ConfigMap,
    a file), so that an untrusted host key or certificate names the place to fix it.
    """

    def __init__(
        self,
        folder: Path,
        limits: TrustLimits | None = None,
        known_hosts_origin: str = DEFAULT_KNOWN_HOSTS_ORIGIN,
        tls_origin: str = DEFAULT_TLS_ORIGIN,
    ) -> None:
        self.folder = folder
        self.limits = limits or TrustLimits()
        self.known_hosts_origin = known_hosts_origin
        self.tls_origin = tls_origin
        self.tls_dir = folder / "tls"
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        self.known_hosts_file = folder / "ssh_known_hosts"
        if not self.known_hosts_file.exists():
            _write_atomically(self.known_hosts_file, b"")
        self._servers: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        #: what the last updates left out or refused, for logs and errors
        self.known_hosts_problems: tuple[str, ...] = ()
        self.tls_problems: tuple[str, ...] = ()

    def set_known_hosts(self, text: str) -> KnownHosts:
        """Trust exactly the valid entries of `text`. Over the limits: `TrustConfigError`, and
        the previous file stays."""
        try:
            parsed = parse_known_hosts(text, self.limits)
        except TrustConfigError as exc:
            self.known_hosts_problems = (f"{exc.message}; the previous known hosts stay",)
            raise
        _write_atomically(self.known_hosts_file, parsed.text().encode())
        self.known_hosts_problems = parsed.rejected
        return parsed

    def set_tls_certificates(self, servers: Mapping[str, str]) -> tuple[str, ...]:
        """Trust, for each server name, the CAs of its PEM text (and nothing else for it); an
        invalid entry is left out. Returns the problems. Too many servers: `TrustConfigError`,
        and the previous files stay."""
        if len(servers) > self.limits.max_servers:
            message = (
                f"{len(servers)} TLS servers, more than the limit of {self.limits.max_servers}"
            )
            self.tls_problems = (f"{message}; the previous certificates stay",)
            raise TrustConfigError(message)
        problems: list[str] = []
        written: set[str] = set()
        for server, pem in sorted(servers.items()):
            try:
                data = parse_server_certificates(server, str(pem), self.limits)
            except ValueError as exc:
                problems.append(f"{server[:100]!r} {exc}")
                continue
            # host names are case-insensitive: one file per lowercase name
            name = server.lower()
            _write_atomically(self.tls_dir / name, data)
            written.add(name)
        with self._lock:
            self._servers = frozenset(written)
        for stale in self.tls_dir.iterdir():
            if stale.name not in written:
                stale.unlink(missing_ok=True)
        self.tls_problems = tuple(problems)
        return self.tls_problems

    def ca_file_for(self, url: str) -> Path | None:
        """The CA file for an http(s) repository URL: its host's entry, else the default
        fallback entry, else None (the system's CAs)."""
        host = url_host(url)
        if host is None:
            return None
        with self._lock:
            servers = self._servers
        for name in (host, DEFAULT_CA_FALLBACK):
            if name in servers:
                return self.tls_dir / name
        return None
