"""A typed, validated view of Flux's ``OCIRepository`` (``source.toolkit.fluxcd.io/v1``) spec,
and its artifact revision.

``ref``: ``digest`` wins over ``semver`` over ``tag``; none: the tag ``latest``, as Flux.
``layerSelector``: the first layer of ``mediaType`` (none: the first layer), ``extract``ed as a
tree (default) or ``copy``'d as it is (a Helm chart archive, for a HelmRelease's ``chartRef``).
``verify``: cosign signatures, with the public keys of ``secretRef`` or keyless (Sigstore),
optionally only of the identities ``matchOIDCIdentity`` lists; ``notation`` is refused.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

from tether.fields import FieldReader, InvalidSpecError
from tether.flux.specs import Unsupported, required_duration, required_string
from tether.sigstore.errors import SignatureError
from tether.sigstore.identity import IdentityMatch, identity_match

DEFAULT_TAG = "latest"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


#: entries of ``matchOIDCIdentity``
MAX_IDENTITIES = 32


@dataclass(frozen=True)
class VerifySpec:
    """``verify``: the provider (cosign), the Secret of public keys (None: keyless) and the
    identities a keyless signature's certificate must have been issued to (none: any)."""

    provider: str
    secret_ref: str | None
    identities: tuple[IdentityMatch, ...] = dataclasses.field(compare=False)
    #: the patterns as written (what equality compares)
    patterns: tuple[tuple[str, str], ...]

    @property
    def described(self) -> str:
        """The provider as Flux names it in messages: ``cosign`` or ``cosign keyless``."""
        return self.provider if self.secret_ref else f"{self.provider} keyless"


@dataclass(frozen=True)
class OCIRepositorySpec:
    url: str
    #: what the registry is asked for: a digest, a semver range or a tag
    reference: str
    reference_kind: Literal["digest", "semver", "tag"]
    media_type: str | None
    operation: Literal["extract", "copy"]
    secret_ref: str | None
    insecure: bool
    interval: float
    timeout: float
    suspend: bool
    ignore: str | None
    verify: VerifySpec | None = None


def parse_oci_repository(spec: Any) -> OCIRepositorySpec:
    reader = FieldReader(spec, "spec")
    url = required_string(reader, "url")
    if not url.startswith("oci://") or len(url) <= len("oci://"):
        raise InvalidSpecError(f"spec.url: {url[:200]!r} is not an oci:// URL")
    for field, what in (
        ("certSecretRef", "TLS client certificates"),
        ("proxySecretRef", "proxies"),
        ("serviceAccountName", "registry credentials from a service account"),
    ):
        if reader.obj.get(field):
            raise Unsupported(f"spec.{field}: {what} are not supported by Tether yet")
    provider = reader.string("provider", "generic") or "generic"
    if provider != "generic":
        raise Unsupported(f"spec.provider: {provider} is not supported by Tether yet")
    reference, kind = _reference(reader.child("ref"))
    selector = reader.child("layerSelector")
    operation = (selector.string("operation") if selector is not None else None) or "extract"
    if operation not in ("extract", "copy"):
        raise InvalidSpecError(
            f"spec.layerSelector.operation: {operation!r} is not extract or copy"
        )
    secret = reader.child("secretRef")
    return OCIRepositorySpec(
        url=url.rstrip("/"),
        reference=reference,
        reference_kind=kind,
        media_type=(selector.string("mediaType") if selector is not None else None) or None,
        operation=operation,  # type: ignore[arg-type]
        secret_ref=required_string(secret, "name") if secret is not None else None,
        insecure=reader.boolean("insecure"),
        interval=required_duration(reader, "interval"),
        timeout=reader.duration("timeout", 60.0) or 60.0,
        suspend=reader.boolean("suspend"),
        ignore=reader.string("ignore"),
        verify=parse_verify(reader.child("verify")),
    )


def parse_verify(verify: FieldReader | None) -> VerifySpec | None:
    """``verify`` of an OCIRepository (``spec.verify``) or a HelmRelease's chart template
    (``spec.chart.spec.verify``): the same shape in Flux."""
    if verify is None:
        return None
    provider = verify.string("provider", "cosign") or "cosign"
    if provider == "notation":
        raise Unsupported(f"{verify.at('provider')}: notation is not supported by Tether yet")
    if provider != "cosign":
        raise InvalidSpecError(
            f"{verify.at('provider')}: {provider[:60]!r} is not cosign or notation"
        )
    secret = verify.child("secretRef")
    matches = verify.obj.get("matchOIDCIdentity") or []
    if not isinstance(matches, list) or len(matches) > MAX_IDENTITIES:
        raise InvalidSpecError(
            f"{verify.at('matchOIDCIdentity')} must be a list of at most {MAX_IDENTITIES}"
        )
    patterns, identities = [], []
    for index, item in enumerate(matches):
        entry = FieldReader(item, f"{verify.at('matchOIDCIdentity')}[{index}]")
        pair = (required_string(entry, "issuer"), required_string(entry, "subject"))
        try:
            identities.append(identity_match(*pair))
        except SignatureError as exc:
            raise InvalidSpecError(f"{entry.path}: {exc.message}") from None
        patterns.append(pair)
    return VerifySpec(
        provider=provider,
        secret_ref=required_string(secret, "name") if secret is not None else None,
        identities=tuple(identities),
        patterns=tuple(patterns),
    )


def verify_document(verify: VerifySpec) -> dict[str, Any]:
    """``verify`` written out again (what a generated HelmChart carries)."""
    doc: dict[str, Any] = {"provider": verify.provider}
    if verify.secret_ref:
        doc["secretRef"] = {"name": verify.secret_ref}
    if verify.patterns:
        doc["matchOIDCIdentity"] = [{"issuer": i, "subject": s} for i, s in verify.patterns]
    return doc


def _reference(ref: FieldReader | None) -> tuple[str, Literal["digest", "semver", "tag"]]:
    if ref is None:
        return DEFAULT_TAG, "tag"
    if ref.obj.get("semverFilter"):
        raise Unsupported("spec.ref.semverFilter: is not supported by Tether yet")
    digest = ref.string("digest")
    if digest:
        if not _DIGEST.match(digest):
            raise InvalidSpecError(f"spec.ref.digest: {digest[:100]!r} is not sha256:<64 hex>")
        return digest, "digest"
    semver = ref.string("semver")
    if semver:
        return semver, "semver"
    return ref.string("tag") or DEFAULT_TAG, "tag"


def oci_revision(tag: str | None, digest: str) -> str:
    """Flux's revision of an OCI artifact: ``<tag>@sha256:<manifest digest>``, or the digest."""
    return f"{tag}@{digest}" if tag else digest
