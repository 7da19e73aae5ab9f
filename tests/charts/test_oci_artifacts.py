"""Argo CD's OCI sources of plain manifests (`repoURL: oci://...` without `chart`) through
`ChartSource.artifacts`: artifacts pushed through the distribution API to docker-registry,
resolved, unpacked and handed to the render stage."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from tests.charts.ociregistry import (
    ARGOCD_CONTENT,
    CONFIGMAP,
    TAR,
    TAR_GZIP,
    Registry,
    manifests_tree,
    push_artifact,
    tar_of,
    tar_with,
)
from tether.charts import (
    ChartArchiveError,
    ChartSource,
    ChartVersionNotFoundError,
    OciArtifactError,
)
from tether.render.api import render

ATTESTATION = "application/vnd.in-toto+json"


def counters(source: ChartSource) -> tuple[int, int, int, int]:
    oci = source.artifacts
    return (oci.tag_lists, oci.manifest_heads, oci.manifest_gets, oci.blob_downloads)


async def test_an_artifact_of_plain_manifests_is_unpacked_for_the_render_stage(
    open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    annotations = {"org.opencontainers.image.source": "https://git.example.com/app"}
    digest = push_artifact(
        open_oci,
        "manifests/app",
        "v1",
        [(TAR_GZIP, tar_of(manifests_tree()))],
        annotations=annotations,
    )
    url = open_oci.url("manifests/app")

    resolved = await source.artifacts.resolve(url, "v1", plain_http=True)
    assert (resolved.tag, resolved.revision, resolved.exact) == ("v1", digest, True)
    assert resolved.annotations == tuple(annotations.items())
    tree = await source.artifacts.materialize(resolved, tmp_path / "tree")

    assert tree == tmp_path / "tree" and (tree / "configmap.yaml").read_text() == CONFIGMAP
    directory = render(tree, ".")
    overlay = render(tree, "overlay")
    assert [o["metadata"]["name"] for o in directory.objects] == ["from-oci"]
    assert overlay.tool == "Kustomize"
    assert [o["metadata"]["name"] for o in overlay.objects] == ["prod-from-oci"]


async def test_a_plain_tar_and_argo_cds_content_type_are_accepted(
    open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    files = {"cm.yaml": CONFIGMAP.encode()}
    for tag, layer in (
        ("tar", (TAR, tar_of(files, gzipped=False))),
        ("argo", (ARGOCD_CONTENT, tar_of(files))),
    ):
        push_artifact(open_oci, "manifests/types", tag, [layer, (ATTESTATION, b"{}")])
        resolved = await source.artifacts.resolve(
            open_oci.url("manifests/types"), tag, plain_http=True
        )
        tree = await source.artifacts.materialize(resolved, tmp_path / tag)
        assert (tree / "cm.yaml").read_text() == CONFIGMAP


async def test_a_digest_selects_one_manifest_that_never_moves(
    open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    digest = push_artifact(
        open_oci, "manifests/pinned", "v1", [(TAR_GZIP, tar_of(manifests_tree()))]
    )
    url = open_oci.url("manifests/pinned")

    resolved = await source.artifacts.resolve(url, digest, plain_http=True)
    assert resolved.tag is None and resolved.revision == digest and resolved.version == digest
    before = counters(source)
    assert await source.artifacts.check_for_update(resolved) is None
    assert counters(source) == before
    with pytest.raises(ChartVersionNotFoundError, match="no manifest sha256:0000"):
        await source.artifacts.resolve(url, "sha256:" + "0" * 64, plain_http=True)


async def test_several_content_layers_are_refused_as_ambiguous(
    open_oci: Registry, source: ChartSource
) -> None:
    layers = [(TAR_GZIP, tar_of({"a.yaml": b"a: 1\n"})), (TAR_GZIP, tar_of({"b.yaml": b"b: 1\n"}))]
    push_artifact(open_oci, "manifests/split", "v1", layers)
    push_artifact(
        open_oci,
        "manifests/flux",
        "v1",
        [("application/vnd.cncf.flux.content.v1.tar+gzip", tar_of({"a.yaml": b"a: 1\n"}))],
    )

    with pytest.raises(OciArtifactError, match=r"2 content layers .*exactly one"):
        await source.artifacts.resolve(open_oci.url("manifests/split"), "v1", plain_http=True)
    with pytest.raises(OciArtifactError, match=r"flux\.content.*not accepted"):
        await source.artifacts.resolve(open_oci.url("manifests/flux"), "v1", plain_http=True)


async def test_a_layer_climbing_out_of_its_tree_is_refused(
    open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    escape = tarfile.TarInfo("manifests/../../escape.yaml")
    escape.size = 4
    push_artifact(open_oci, "manifests/evil", "v1", [(TAR_GZIP, tar_with([escape]))])
    resolved = await source.artifacts.resolve(open_oci.url("manifests/evil"), "v1", plain_http=True)

    with pytest.raises(ChartArchiveError, match=r"climbs out with '\.\.'"):
        await source.artifacts.materialize(resolved, tmp_path / "work" / "tree")
    assert list((tmp_path / "work").iterdir()) == []
    assert not list(tmp_path.rglob("escape.yaml"))


async def test_a_chart_without_chart_is_an_artifact_whose_root_is_the_chart(
    pushed: Path, open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    resolved = await source.artifacts.resolve(open_oci.url("charts/web"), "^1", plain_http=True)
    tree = await source.artifacts.materialize(resolved, tmp_path / "tree")

    assert resolved.version == "1.2.5" and (tree / "Chart.yaml").is_file()
    rendered = render(tree, ".", app_name="demo")
    assert rendered.tool == "Helm"
    assert [o["metadata"]["name"] for o in rendered.objects] == ["demo-web"]


async def test_a_moved_tag_and_a_newer_version_are_found_by_a_poll(
    open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    url = open_oci.url("manifests/moving")
    push_artifact(
        open_oci, "manifests/moving", "1.0.0", [(TAR_GZIP, tar_of({"a.yaml": b"a: 1\n"}))]
    )
    exact = await source.artifacts.resolve(url, "1.0.0", plain_http=True)
    ranged = await source.artifacts.resolve(url, "~1", plain_http=True)
    await source.artifacts.materialize(exact, tmp_path / "first")
    before = counters(source)

    assert await source.artifacts.check_for_update(exact) is None
    assert await source.artifacts.check_for_update(ranged) is None
    assert counters(source) == (before[0] + 1, before[1] + 2, before[2], before[3])

    moved = tar_of({"a.yaml": b"a: 2\n"})
    push_artifact(open_oci, "manifests/moving", "1.0.0", [(TAR_GZIP, moved)])
    push_artifact(open_oci, "manifests/moving", "1.1.0", [(TAR_GZIP, tar_of({"b.yaml": b"b\n"}))])
    update = await source.artifacts.check_for_update(exact)
    newer = await source.artifacts.check_for_update(ranged)

    assert (
        update is not None and update.layer.digest == "sha256:" + hashlib.sha256(moved).hexdigest()
    )
    assert newer is not None and newer.tag == "1.1.0"
    assert counters(source)[3] == before[3]
    tree = await source.artifacts.materialize(update, tmp_path / "second")
    assert (tree / "a.yaml").read_text() == "a: 2\n"
