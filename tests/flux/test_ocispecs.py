"""OCIRepository specs read with Flux's precedence and defaults."""

from __future__ import annotations

import re

import pytest

from tether.charts.errors import OciArtifactError
from tether.charts.models import OciLayer
from tether.charts.ocimanifest import OciManifest, selected_layer
from tether.fields import InvalidSpecError
from tether.flux.ocispecs import oci_revision, parse_oci_repository
from tether.flux.specs import Unsupported

DIGEST = "sha256:" + "a" * 64


def test_ref_precedence_and_defaults() -> None:
    base = {"url": "oci://ghcr.io/org/app", "interval": "5m"}
    spec = parse_oci_repository(base)
    assert (spec.reference, spec.reference_kind, spec.operation) == ("latest", "tag", "extract")
    both = parse_oci_repository({**base, "ref": {"tag": "v1", "semver": "1.x", "digest": DIGEST}})
    assert (both.reference, both.reference_kind) == (DIGEST, "digest")
    semver = parse_oci_repository({**base, "ref": {"tag": "v1", "semver": "1.x"}})
    assert (semver.reference, semver.reference_kind) == ("1.x", "semver")
    copy = parse_oci_repository({**base, "layerSelector": {"mediaType": "x", "operation": "copy"}})
    assert (copy.media_type, copy.operation) == ("x", "copy")


@pytest.mark.parametrize(
    ("extra", "error", "text"),
    [
        ({"url": "https://x"}, InvalidSpecError, "not an oci:// URL"),
        ({"ref": {"digest": "sha256:12"}}, InvalidSpecError, "sha256:<64 hex>"),
        ({"layerSelector": {"operation": "move"}}, InvalidSpecError, "extract or copy"),
        ({"verify": {"provider": "notation"}}, Unsupported, "spec.verify.provider: notation"),
        ({"verify": {"provider": "gpg"}}, InvalidSpecError, "is not cosign or notation"),
        (
            {"verify": {"matchOIDCIdentity": [{"issuer": ".*"}]}},
            InvalidSpecError,
            "spec.verify.matchOIDCIdentity[0].subject is required",
        ),
        (
            {"verify": {"matchOIDCIdentity": [{"issuer": ".*", "subject": "a(?=b)"}]}},
            InvalidSpecError,
            "spec.verify.matchOIDCIdentity[0]: subject 'a(?=b)'",
        ),
        (
            {"verify": {"matchOIDCIdentity": [{"issuer": "a", "subject": "b"}] * 33}},
            InvalidSpecError,
            "at most 32",
        ),
        ({"provider": "aws"}, Unsupported, "spec.provider"),
        ({"ref": {"semver": "1.x", "semverFilter": ".*-rc"}}, Unsupported, "semverFilter"),
    ],
)
def test_refusals_name_the_field(extra: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        parse_oci_repository({"url": "oci://ghcr.io/org/app", "interval": "5m", **extra})


def test_verify_keyless_or_with_keys() -> None:
    base = {"url": "oci://ghcr.io/org/app", "interval": "5m"}
    assert parse_oci_repository(base).verify is None
    keyless = parse_oci_repository({**base, "verify": {"provider": "cosign"}}).verify
    assert keyless is not None and keyless.secret_ref is None and keyless.identities == ()
    assert keyless.described == "cosign keyless"
    matched = parse_oci_repository({**base, "verify": {"matchOIDCIdentity": [
        {"issuer": "^https://token.actions.githubusercontent.com$", "subject": "^https://github.com/org/"}]}}).verify  # fmt: skip
    assert matched is not None and matched.provider == "cosign" and len(matched.identities) == 1
    assert matched.patterns[0][1] == "^https://github.com/org/"
    keys = parse_oci_repository({**base, "verify": {"secretRef": {"name": "cosign-pub"}}}).verify
    assert keys is not None and keys.secret_ref == "cosign-pub" and keys.described == "cosign"


def test_revision_and_layer_selection() -> None:
    assert oci_revision("v1", DIGEST) == f"v1@{DIGEST}"
    assert oci_revision(None, DIGEST) == DIGEST
    layers = (OciLayer("application/vnd.a", DIGEST, 1), OciLayer("application/vnd.b", DIGEST, 2))
    manifest = OciManifest("m", "c", layers)
    assert selected_layer(None, manifest, "x").media_type == "application/vnd.a"
    assert selected_layer("application/vnd.b", manifest, "x").size == 2
    with pytest.raises(OciArtifactError, match="no layer of the media type"):
        selected_layer("application/vnd.c", manifest, "x")
