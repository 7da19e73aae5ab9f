"""Helm charts from OCI registries through `ChartSource`: charts pushed with the pinned
`helm push` to Debian's docker-registry on loopback, resolved, checked, unpacked and rendered."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.charts.ociregistry import (
    PASSWORD,
    Registry,
    helm_push,
    login,
    package_chart,
    push_artifact,
)
from tests.charts.servers import run_helm
from tests.images.conftest import FakeServer, Reply, Seen, TLSRegistry, TokenRegistry
from tether.charts import (
    ChartAuthError,
    ChartDigestError,
    ChartLimitError,
    ChartRepositoryUnreachableError,
    ChartSource,
    ChartVersionNotFoundError,
    ResolvedChart,
)
from tether.charts.ocimanifest import HELM_CHART_LAYER
from tether.images.registry import RegistryLimits
from tether.source.credentials import RepoCredentials

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


def oci_of(resolved: ResolvedChart) -> str:
    assert resolved.artifact is not None
    return resolved.artifact.tag or ""


async def test_a_chart_at_an_exact_tag_is_materialized_and_renders_with_helm(
    pushed: Path, open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    resolved = await source.resolve(open_oci.url("charts"), "web", "1.2.0", plain_http=True)

    assert resolved.artifact is not None and resolved.artifact.exact
    assert (resolved.version, resolved.revision, oci_of(resolved)) == ("1.2.0", "1.2.0", "1.2.0")
    assert resolved.digest == resolved.artifact.layer.digest
    assert resolved.artifact.revision.startswith("sha256:")
    assert source.artifacts.tag_lists == 0

    chart = await source.materialize(resolved, tmp_path / "out")
    assert chart == tmp_path / "out" / "web"
    rendered = run_helm("template", "demo", str(chart), home=pushed)
    assert "name: demo-web" in rendered and 'version: "1.2.0"' in rendered

    again = await source.materialize_chart(resolved, tmp_path / "again")
    assert again.digest == resolved.digest and source.artifacts.blob_downloads == 1


async def test_a_semver_range_selects_the_newest_release_tag(
    pushed: Path, open_oci: Registry, source: ChartSource
) -> None:
    url = open_oci.url("charts")
    newest_1_2 = await source.resolve(url, "web", "^1.2", plain_http=True)
    newest = await source.resolve(url, "web", "*", plain_http=True)
    prerelease = await source.resolve(url, "web", ">=2.1.0-0", plain_http=True)

    assert newest_1_2.version == "1.2.5" and not newest_1_2.artifact.exact  # type: ignore[union-attr]
    assert newest.version == "2.0.0" and prerelease.version == "2.1.0-beta.1"
    with pytest.raises(ChartVersionNotFoundError, match=r"'\^9'.*newest: 2\.0\.0, 1\.2\.5"):
        await source.resolve(url, "web", "^9", plain_http=True)


async def test_a_plus_in_a_version_is_an_underscore_in_its_tag(
    pushed: Path, open_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    url = open_oci.url("charts")
    exact = await source.resolve(url, "stamped", "3.1.0+build.7", plain_http=True)
    ranged = await source.resolve(url, "stamped", "^3", plain_http=True)

    assert oci_of(exact) == oci_of(ranged) == "3.1.0_build.7"
    assert exact.version == ranged.version == "3.1.0+build.7"
    chart = await source.materialize(exact, tmp_path)
    assert "version: 3.1.0+build.7" in (chart / "Chart.yaml").read_text()


async def test_the_older_form_with_enable_oci_names_the_same_chart(
    pushed: Path, open_oci: Registry, source: ChartSource
) -> None:
    resolved = await source.resolve(
        f"{open_oci.host}/charts", "web", "1.0.0", plain_http=True, enable_oci=True
    )
    assert resolved.version == "1.0.0"


async def test_a_blob_altered_in_the_registry_is_refused_by_its_digest(
    open_oci: Registry, source: ChartSource, helm_home: Path, tmp_path: Path
) -> None:
    archive = package_chart(tmp_path, "tampered", "1.0.0")
    helm_push(open_oci, archive, "tamper", helm_home)
    resolved = await source.resolve(open_oci.url("tamper"), "tampered", "1.0.0", plain_http=True)
    blob = open_oci.blob_file(resolved.digest)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))

    with pytest.raises(ChartDigestError, match="altered") as caught:
        await source.materialize(resolved, tmp_path / "out")
    assert resolved.digest.removeprefix("sha256:") in str(caught.value)
    assert not (tmp_path / "out" / "tampered").exists()


async def test_a_wrong_password_is_refused_clearly_and_never_shown(
    pushed: Path, basic_oci: Registry, source: ChartSource, tmp_path: Path
) -> None:
    url = basic_oci.url("private")
    wrong = login("not-the-password")
    with pytest.raises(ChartAuthError, match="refused the login of user 'scanner'") as caught:
        await source.resolve(url, "web", "1.0.0", wrong, plain_http=True)
    text = f"{caught.value} {caught.value!r} {wrong!r}"
    assert "not-the-password" not in text
    assert base64.b64encode(b"scanner:not-the-password").decode() not in text

    with pytest.raises(ChartAuthError, match=r"none is configured \(add a repository Secret"):
        await source.resolve(url, "web", "1.0.0", plain_http=True)

    resolved = await source.resolve(url, "web", "1.0.0", login(), plain_http=True)
    chart = await source.materialize(resolved, tmp_path, login())
    assert (chart / "Chart.yaml").is_file()


async def test_a_moved_tag_is_noticed_by_a_head_and_nothing_is_downloaded_until_then(
    open_oci: Registry, source: ChartSource, helm_home: Path, tmp_path: Path
) -> None:
    url = open_oci.url("moving")
    helm_push(open_oci, package_chart(tmp_path / "a", "web", "1.2.0"), "moving", helm_home)
    first = await source.resolve(url, "web", "1.2.0", plain_http=True)
    await source.materialize(first, tmp_path / "first")
    oci = source.artifacts
    before = (oci.tag_lists, oci.manifest_heads, oci.manifest_gets, oci.blob_downloads)

    assert await source.check_for_update(first) is None
    assert (oci.tag_lists, oci.manifest_heads, oci.manifest_gets, oci.blob_downloads) == (
        before[0],
        before[1] + 1,
        before[2],
        before[3],
    )

    extra = {"templates/extra.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: moved\n"}
    moved = package_chart(tmp_path / "b", "web", "1.2.0", extra)
    helm_push(open_oci, moved, "moving", helm_home)
    update = await source.check_for_update(first)

    assert update is not None and update.version == "1.2.0" and update.differs_from(first)
    assert update.artifact is not None and update.artifact.digest != first.artifact.digest  # type: ignore[union-attr]
    assert oci.blob_downloads == before[3] and oci.manifest_gets == before[2] + 1
    chart = await source.materialize(update, tmp_path / "second")
    assert (chart / "templates" / "extra.yaml").is_file()
    assert await source.check_for_update(update) is None


async def test_a_range_picks_up_a_newer_version_pushed_since(
    packaged: Path, open_oci: Registry, source: ChartSource, helm_home: Path
) -> None:
    url = open_oci.url("ranged")
    helm_push(open_oci, packaged / "web-1.0.0.tgz", "ranged", helm_home)
    first = await source.resolve(url, "web", "^1", plain_http=True)
    lists = source.artifacts.tag_lists
    assert await source.check_for_update(first) is None
    assert source.artifacts.tag_lists == lists + 1

    helm_push(open_oci, packaged / "web-1.2.5.tgz", "ranged", helm_home)
    update = await source.check_for_update(first)
    assert update is not None and update.version == "1.2.5"


async def test_a_manifest_past_its_bound_is_refused(
    pushed: Path, open_oci: Registry, tmp_path: Path
) -> None:
    source = ChartSource(tmp_path, registry_limits=RegistryLimits(max_manifest_bytes=256))
    try:
        with pytest.raises(ChartLimitError, match="over 256 bytes"):
            await source.resolve(open_oci.url("charts"), "web", "1.0.0", plain_http=True)
    finally:
        await source.aclose()


async def test_a_token_registry_gets_the_login_through_its_token_service(
    packaged: Path, token_registry: TokenRegistry, source: ChartSource, tmp_path: Path
) -> None:
    tokens = token_registry.tokens
    registry = Registry(token_registry.registry, tmp_path, tokens.push_header("tokens/web"))
    push_artifact(
        registry,
        "tokens/web",
        "1.0.0",
        [(HELM_CHART_LAYER, (packaged / "web-1.0.0.tgz").read_bytes())],
        config=(HELM_CONFIG, json.dumps({"name": "web", "version": "1.0.0"}).encode()),
    )
    url = registry.url("tokens")
    issued = tokens.issued

    resolved = await source.resolve(url, "web", "1.0.0", login(), plain_http=True)
    chart = await source.materialize(resolved, tmp_path / "out", login())
    assert (chart / "Chart.yaml").is_file() and tokens.issued > issued

    with pytest.raises(ChartAuthError, match="refused the token") as caught:
        await source.resolve(url, "web", "1.0.0", plain_http=True)
    with pytest.raises(ChartAuthError, match="token service") as caught:
        await source.resolve(url, "web", "1.0.0", login("wrong"), plain_http=True)
    assert "wrong" not in str(caught.value).replace("wrong username", "")
    assert PASSWORD not in str(caught.value)


async def test_a_registry_with_a_private_ca_is_trusted_through_its_ca_or_insecure(
    packaged: Path, tls_registry: TLSRegistry, source: ChartSource, helm_home: Path
) -> None:
    running = tls_registry.registry
    run_helm(
        "push",
        str(packaged / "web-1.0.0.tgz"),
        f"oci://{running.host}/secure",
        "--ca-file",
        str(tls_registry.ca_file),
        home=helm_home,
    )
    url = f"oci://{running.host}/secure"

    trusted = await source.resolve(url, "web", "1.0.0", ca_pem=tls_registry.ca_pem)
    assert trusted.version == "1.0.0"
    insecure = RepoCredentials(url=url, type="oci", insecure=True)
    assert (await source.resolve(url, "web", "1.0.0", insecure)).digest == trusted.digest
    with pytest.raises(ChartRepositoryUnreachableError, match="argocd-tls-certs-cm"):
        await source.resolve(url, "web", "1.0.0")


# --- a blob served elsewhere ----------------------------------------------------------------


def serve_chart(registry: FakeServer, storage: FakeServer, chart: bytes) -> None:
    """A registry wanting Basic auth whose blob redirects to `storage` (another origin)."""
    digest = "sha256:" + hashlib.sha256(chart).hexdigest()
    config = {"mediaType": HELM_CONFIG, "digest": "sha256:" + "0" * 64, "size": 2}
    layer = {"mediaType": HELM_CHART_LAYER, "digest": digest, "size": len(chart)}
    body = json.dumps({"schemaVersion": 2, "config": config, "layers": [layer]}).encode()
    expected = "Basic " + base64.b64encode(f"scanner:{PASSWORD}".encode()).decode()

    def guarded(reply: Reply) -> Callable[[Seen], Reply]:
        def route(seen: Seen) -> Reply:
            if seen.headers.get("authorization") != expected:
                return Reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
            return reply

        return route

    manifest_headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    registry.routes["/v2/charts/web/manifests/1.0.0"] = guarded(Reply(200, body, manifest_headers))
    location = storage.url(f"/storage/{digest}")
    registry.routes[f"/v2/charts/web/blobs/{digest}"] = guarded(
        Reply(307, b"", {"Location": location})
    )
    storage.routes[f"/storage/{digest}"] = lambda seen: Reply(200, chart)


async def test_a_redirected_blob_is_fetched_without_the_registry_login(
    packaged: Path,
    fake_registry: FakeServer,
    other_server: FakeServer,
    source: ChartSource,
    tmp_path: Path,
) -> None:
    serve_chart(fake_registry, other_server, (packaged / "web-1.0.0.tgz").read_bytes())
    url = f"oci://{fake_registry.host}/charts"

    resolved = await source.resolve(url, "web", "1.0.0", login(), plain_http=True)
    chart = await source.materialize(resolved, tmp_path, login())

    assert (chart / "Chart.yaml").is_file()
    (stored,) = [r for r in other_server.requests if r.path.startswith("/storage/")]
    assert "authorization" not in stored.headers
    blob_requests = [r for r in fake_registry.requests if "/blobs/" in r.path]
    assert blob_requests[-1].headers.get("authorization", "").startswith("Basic ")
