"""Applications whose source is a chart in a Helm repository, on the real stack: charts packaged
by the pinned helm, an index from `helm repo index`, served with basic auth on loopback; the
credentials come from an Argo CD repository Secret."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.servers import PASSWORD, USERNAME, ChartRepoServer, package, run_helm
from tests.controller.stack import CONTROL_NS, Env, status_of
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepoServer]:
    base = tmp_path_factory.mktemp("chart-apps")
    root = base / "charts"
    package({"web": ["1.0.0", "1.2.0", "1.2.5", "2.0.0"]}, root, base / "home")
    server = ChartRepoServer(root, username=USERNAME, password=PASSWORD)
    run_helm("repo", "index", str(root), "--url", server.url, home=base / "home")
    yield server
    server.close()


def publish(server: ChartRepoServer, version: str, base: Path) -> None:
    """Package another version of `web` into the repository and index it again, as a chart
    repository's CI does."""
    package({"web": [version]}, server.root, base / "home")
    run_helm("repo", "index", str(server.root), "--url", server.url, home=base / "home")


async def secret(env: Env, name: str, url: str, password: str) -> None:
    await env.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": CONTROL_NS,
                "labels": {"argocd.argoproj.io/secret-type": "repository"},
            },
            "stringData": {"type": "helm", "url": url, "username": USERNAME, "password": password},
        }
    )


async def chart_app(env: Env, name: str, url: str, target: str) -> None:
    await env.kube("create", "namespace", name)
    await env.application(
        name,
        url,
        name,
        **{
            "spec.source": {
                "repoURL": url,
                "chart": "web",
                "targetRevision": target,
                "helm": {"valuesObject": {"unused": True}},
            }
        },
    )


async def configmap_version(env: Env, name: str) -> str | None:
    live = await env.live("ConfigMap", f"{name}-web", name)
    return None if live is None else str((live.get("data") or {}).get("version"))


async def at(env: Env, name: str, version: str) -> dict[str, Any] | None:
    app = await env.app(name)
    status = app.get("status") or {}
    if status_of(app) != ("Synced", "Healthy") or status["sync"].get("revision") != version:
        return None
    return app if await configmap_version(env, name) == version else None


async def test_a_chart_range_deploys_the_newest_match_and_follows_new_releases(
    env: Env, repo: ChartRepoServer, tmp_path: Path
) -> None:
    name = f"chart-{uuid.uuid4().hex[:6]}"
    pinned = f"{name}-pinned"
    await secret(env, f"{name}-repo", repo.url, PASSWORD)
    await chart_app(env, name, repo.url, "^1.2")
    await chart_app(env, pinned, repo.url, "1.2.0")
    app = await eventually(lambda: at(env, name, "1.2.5"), 60, "the newest 1.x deployed")
    await eventually(lambda: at(env, pinned, "1.2.0"), 60, "the exact version deployed")
    (entry,) = app["status"]["history"]
    assert entry["revision"] == "1.2.5" and entry["source"]["chart"] == "web"
    assert "revisionMetadata" not in entry  # a chart version has no commit to describe

    publish(repo, "1.3.0", tmp_path)
    await env.controller.refresh(name, hard=True)
    app = await eventually(lambda: at(env, name, "1.3.0"), 60, "the new release deployed")
    assert [h["revision"] for h in app["status"]["history"]] == ["1.2.5", "1.3.0"]
    # 2.0.0 is out of range: never deployed; the pinned app stays where it is
    assert await configmap_version(env, name) == "1.3.0"
    await env.controller.refresh(pinned, hard=True)
    assert await at(env, pinned, "1.2.0")


async def test_an_unreachable_repository_is_a_clear_comparison_error(env: Env) -> None:
    name = f"chart-{uuid.uuid4().hex[:6]}"
    gone = ChartRepoServer(Path(__file__).parent)  # a port that answers no more
    url = gone.url
    gone.close()
    await chart_app(env, name, url, "1.0.0")
    message = await eventually(
        lambda: env.condition(name, "ComparisonError"), 60, "the failure reported"
    )
    assert url.split("//")[1] in message or "unreachable" in message.lower(), message
    assert await configmap_version(env, name) is None


async def test_a_wrong_password_is_a_clear_comparison_error_without_the_password(
    env: Env, repo: ChartRepoServer
) -> None:
    name = f"chart-{uuid.uuid4().hex[:6]}"
    # a server of its own: the Secret of the other test names the other URL
    other = ChartRepoServer(repo.root, username=USERNAME, password=PASSWORD)
    try:
        wrong = "not-the-password-" + uuid.uuid4().hex
        await secret(env, f"{name}-repo", other.url, wrong)
        await chart_app(env, name, other.url, "1.0.0")
        message = await eventually(
            lambda: env.condition(name, "ComparisonError"), 60, "the refusal reported"
        )
    finally:
        other.close()
    assert "401" in message or "credentials" in message.lower(), message
    assert wrong not in message and wrong not in yaml.safe_dump(await env.app(name))
    assert await configmap_version(env, name) is None


async def test_an_archive_that_does_not_match_its_digest_applies_nothing(
    env: Env, repo: ChartRepoServer, tmp_path: Path
) -> None:
    root = tmp_path / "charts"
    shutil.copytree(repo.root, root)
    tampered = ChartRepoServer(root)
    try:
        run_helm("repo", "index", str(root), "--url", tampered.url, home=tmp_path / "home")
        archive = root / "web-1.0.0.tgz"
        archive.write_bytes(archive.read_bytes() + b"\0")  # the index keeps the old digest
        name = f"chart-{uuid.uuid4().hex[:6]}"
        await chart_app(env, name, tampered.url, "1.0.0")
        message = await eventually(
            lambda: env.condition(name, "ComparisonError"), 60, "the refusal reported"
        )
    finally:
        tampered.close()
    assert "digest" in message, message
    assert await configmap_version(env, name) is None
