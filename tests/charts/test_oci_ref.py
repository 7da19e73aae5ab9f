"""OCI repoURLs, tag selection, manifests and layers, without a registry."""

from __future__ import annotations

import base64
import json
import tarfile
from pathlib import Path

import pytest

from tests.charts.ociregistry import TAR, TAR_GZIP, tar_of, tar_with
from tests.charts.servers import chart_files, chart_tgz
from tether.charts import (
    DEFAULT_LIMITS,
    ChartArchiveError,
    ChartVersionNotFoundError,
    InvalidChartSourceError,
    OciArtifactError,
    OciLocation,
    is_oci_url,
    oci_flags_from_secret,
    parse_oci_url,
)
from tether.charts.layer import unpack_layer
from tether.charts.ocimanifest import (
    ARGOCD_CONTENT_LAYER,
    DEFAULT_LAYER_MEDIA_TYPES,
    HELM_CHART_LAYER,
    OCI_INDEX,
    OCI_MANIFEST,
    chart_layer,
    content_layer,
    parse_manifest,
)
from tether.charts.ociref import select_tag

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


# --- repoURLs -----------------------------------------------------------------------------------


def test_an_oci_url_names_a_repository_and_a_chart_is_its_last_component() -> None:
    assert parse_oci_url("oci://127.0.0.1:5000/charts/", "web") == OciLocation(
        "127.0.0.1:5000", "charts/web"
    )
    assert parse_oci_url("oci://registry/charts").reference == "registry/charts"
    assert parse_oci_url("oci://Ghcr.IO/org", "web").url == "oci://ghcr.io/org/web"


def test_the_older_form_without_a_scheme_needs_enable_oci() -> None:
    assert not is_oci_url("registry-1.docker.io/bitnamicharts")
    assert is_oci_url("registry-1.docker.io/bitnamicharts", enable_oci=True)
    assert not is_oci_url("https://charts.example.com", enable_oci=True)
    location = parse_oci_url("registry-1.docker.io/bitnamicharts", "nginx", enable_oci=True)
    assert location.reference == "registry-1.docker.io/bitnamicharts/nginx"
    with pytest.raises(InvalidChartSourceError, match="not an oci:// URL"):
        parse_oci_url("registry-1.docker.io/bitnamicharts", "nginx")


@pytest.mark.parametrize(
    ("url", "chart", "message"),
    [
        ("oci://user:s3cret@host/charts", "web", "user-info"),
        ("oci://host/charts:1.0.0", None, "the tag goes in targetRevision"),
        ("oci://host/Charts", None, "not a repository path component"),
        ("oci://host", None, "no repository"),
        ("oci:///charts", None, "no registry"),
        ("oci://host/charts", "Web", "cannot name an OCI repository"),
    ],
)
def test_urls_helm_would_refuse_are_refused(url: str, chart: str | None, message: str) -> None:
    with pytest.raises(InvalidChartSourceError, match=message) as caught:
        parse_oci_url(url, chart)
    assert "s3cret" not in str(caught.value)


def test_enable_oci_and_force_http_come_from_the_repository_secret() -> None:
    secret = {
        "data": {"enableOCI": base64.b64encode(b"true").decode()},
        "stringData": {"insecureOCIForceHttp": "True", "password": "x"},
    }
    flags = oci_flags_from_secret(secret)
    assert flags.enable_oci and flags.plain_http
    assert not oci_flags_from_secret({"stringData": {"type": "helm"}}).enable_oci
    assert not oci_flags_from_secret(None).plain_http


# --- tags ---------------------------------------------------------------------------------------

TAGS = ["1.0.0", "1.2.0", "1.2.5", "1.3.0-rc.1", "2.0.0", "2.1.0_build.7", "latest"]


@pytest.mark.parametrize(
    ("target", "tag"),
    [
        ("1.2.0", "1.2.0"),
        ("^1.2", "1.2.5"),
        ("~1.2.0", "1.2.5"),
        ("", "2.1.0_build.7"),
        ("*", "2.1.0_build.7"),
        ("2.1.0+build.7", "2.1.0_build.7"),
        ("2.1.0_build.7", "2.1.0_build.7"),
        (">=1.3.0-0 <2.0.0", "1.3.0-rc.1"),
        ("latest", "latest"),
    ],
)
def test_a_target_revision_selects_a_tag_as_helm_does(target: str, tag: str) -> None:
    assert select_tag(TAGS, target, "repo") == tag


def test_no_match_names_the_newest_versions_and_the_prerelease_rule() -> None:
    with pytest.raises(ChartVersionNotFoundError) as caught:
        select_tag(TAGS, "^3", "the OCI repository r/web")
    message = str(caught.value)
    assert "'^3'" in message and "2.1.0+build.7, 2.0.0" in message and "prerelease" in message
    with pytest.raises(ChartVersionNotFoundError, match="no tags"):
        select_tag([], "1.0.0", "r")
    with pytest.raises(InvalidChartSourceError, match="neither a tag"):
        select_tag(TAGS, "^^nope", "r")


# --- manifests ----------------------------------------------------------------------------------


def manifest(*layers: tuple[str, str], media_type: str = OCI_MANIFEST) -> bytes:
    descriptor = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": DIGEST, "size": 2}
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor,
            "layers": [{"mediaType": m, "digest": d, "size": 10} for m, d in layers],
            "annotations": {"org.opencontainers.image.version": "1.0.0", "other": "dropped"},
        }
    ).encode()


def test_the_one_content_layer_is_chosen_and_other_layers_are_skipped() -> None:
    parsed = parse_manifest(
        manifest((TAR_GZIP, DIGEST), ("application/vnd.in-toto+json", OTHER)), "", "art"
    )
    assert content_layer(parsed, DEFAULT_LAYER_MEDIA_TYPES, "art").digest == DIGEST
    assert parsed.annotations == (("org.opencontainers.image.version", "1.0.0"),)


def test_several_content_layers_are_refused_as_ambiguous() -> None:
    parsed = parse_manifest(manifest((TAR_GZIP, DIGEST), (TAR, OTHER)), "", "art")
    with pytest.raises(OciArtifactError, match=r"2 content layers.*exactly one"):
        content_layer(parsed, DEFAULT_LAYER_MEDIA_TYPES, "art")


def test_a_content_layer_of_a_type_not_accepted_is_refused() -> None:
    parsed = parse_manifest(manifest(("application/x-custom.tar", DIGEST)), "", "art")
    with pytest.raises(OciArtifactError, match=r"'application/x-custom\.tar'.*not accepted"):
        content_layer(parsed, DEFAULT_LAYER_MEDIA_TYPES, "art")
    assert content_layer(parsed, ["application/x-custom.tar"], "art").digest == DIGEST


def test_an_artifact_without_a_chart_layer_is_not_a_chart() -> None:
    parsed = parse_manifest(manifest((ARGOCD_CONTENT_LAYER, DIGEST)), "", "art")
    with pytest.raises(OciArtifactError, match="no Helm chart layer"):
        chart_layer(parsed, "art")
    chart = parse_manifest(manifest((HELM_CHART_LAYER, DIGEST)), "", "art")
    assert chart_layer(chart, "art").media_type == HELM_CHART_LAYER


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (json.dumps({"schemaVersion": 2, "manifests": []}).encode(), "image index"),
        (manifest(media_type=OCI_INDEX), "image index"),
        (manifest((TAR, "sha512:" + "a" * 128)), "sha256 digests only"),
        (manifest(*[(TAR, DIGEST)] * 11), "11 layers"),
    ],
)
def test_what_is_not_one_manifest_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(OciArtifactError, match=message):
        parse_manifest(body, "", "art")


# --- layers -------------------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path


def test_a_layer_is_unpacked_as_it_is_and_a_chart_layer_without_its_folder(
    tmp_path: Path,
) -> None:
    tree = {"./a.yaml": b"a: 1\n", "./sub/b.yaml": b"b: 2\n"}
    for media_type, gzipped in ((TAR_GZIP, True), (TAR, False)):
        target = tmp_path / media_type.rsplit(".", 1)[-1]
        unpack_layer(
            write(tmp_path, tar_of(tree, gzipped)), target, media_type, DEFAULT_LIMITS, "x"
        )
        assert (target / "sub/b.yaml").read_text() == "b: 2\n"
    chart = chart_tgz("web", chart_files("web", "1.0.0"))
    unpack_layer(write(tmp_path, chart), tmp_path / "chart", HELM_CHART_LAYER, DEFAULT_LIMITS, "x")
    assert (tmp_path / "chart/Chart.yaml").is_file()


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../escape.yaml", tarfile.REGTYPE, "climbs out"),
        ("ok/../../escape.yaml", tarfile.REGTYPE, "climbs out"),
        ("/etc/escape.yaml", tarfile.REGTYPE, "absolute path"),
        ("link.yaml", tarfile.SYMTYPE, "a link"),
        ("hard.yaml", tarfile.LNKTYPE, "a link"),
        ("fifo", tarfile.FIFOTYPE, "special file"),
    ],
)
def test_an_unsafe_layer_is_refused_and_nothing_is_left(
    tmp_path: Path, name: str, kind: bytes, message: str
) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    member.size = 4 if kind == tarfile.REGTYPE else 0
    blob = write(tmp_path, tar_with([member]))
    with pytest.raises(ChartArchiveError, match=message):
        unpack_layer(blob, tmp_path / "tree", TAR_GZIP, DEFAULT_LIMITS, "x")
    assert not (tmp_path / "tree").exists() and not (tmp_path.parent / "escape.yaml").exists()
