"""A multi-source Application on the real stack, as Argo CD's docs show it: a chart from a Helm
repository (packaged by the pinned helm, served on loopback) with its values from the team's Git
repository through a `ref` source; it redeploys when either source moves, records every
revision in its status and history, and rolls back across both."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.servers import ChartRepoServer, run_helm, write_chart
from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tether.demo.repo import commit_and_push, git
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEMPLATE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeter\n"
    "data:\n  greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n"
)


def package_greeter(root: Path, version: str, home: Path) -> None:
    chart = write_chart(
        root.parent / "src" / version / "greeter",
        {
            "Chart.yaml": f"apiVersion: v2\nname: greeter\nversion: {version}\n",
            "values.yaml": "greeting: hello from the chart\n",
            "templates/configmap.yaml": TEMPLATE,
        },
    )
    root.mkdir(parents=True, exist_ok=True)
    run_helm("package", str(chart), "-d", str(root), home=home)


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChartRepoServer, Path]]:
    base = tmp_path_factory.mktemp("multi-source")
    root = base / "charts"
    package_greeter(root, "1.0.0", base / "home")
    server = ChartRepoServer(root)
    run_helm("repo", "index", str(root), "--url", server.url, home=base / "home")
    yield server, base
    server.close()


def publish(server: ChartRepoServer, base: Path, version: str) -> None:
    package_greeter(server.root, version, base / "home")
    run_helm("repo", "index", str(server.root), "--url", server.url, home=base / "home")


async def configmap(env: Env, name: str) -> dict[str, str]:
    live = await env.live("ConfigMap", f"{name}-greeter", name)
    return dict((live or {}).get("data") or {})


async def deployed(env: Env, name: str, greeting: str, chart: str) -> dict[str, Any] | None:
    data = await configmap(env, name)
    if data.get("greeting") != greeting or data.get("chart") != chart:
        return None
    app = await env.app(name)
    return app if await synced_healthy(env, name) else None


async def test_a_chart_with_values_from_git_follows_both_sources_and_rolls_back(
    env: Env, charts: tuple[ChartRepoServer, Path]
) -> None:
    server, base = charts
    url, work = env.new_repo({"values/greeter.yaml": "greeting: hello from git\n"})
    first = git(["rev-parse", "HEAD"], work)
    name = f"multi-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    sources = [
        {
            "repoURL": server.url,
            "chart": "greeter",
            "targetRevision": "^1.0.0",
            "helm": {"valueFiles": ["$values/values/greeter.yaml"]},
        },
        {"repoURL": url, "targetRevision": "HEAD", "ref": "values"},
    ]
    await env.application(name, url, name, **{"spec.source": None, "spec.sources": sources})
    app = await eventually(
        lambda: deployed(env, name, "hello from git", "1.0.0"), 60, "the first deploy"
    )
    assert app["status"]["sync"]["revisions"] == ["1.0.0", first]
    assert [s.get("ref") for s in app["status"]["sync"]["comparedTo"]["sources"]] == [
        None,
        "values",
    ]

    # the values move in Git: redeployed with the same chart
    second = commit_and_push(work, "friendlier", {"values/greeter.yaml": "greeting: hi\n"})
    await env.controller.refresh(name, hard=True)
    await eventually(lambda: deployed(env, name, "hi", "1.0.0"), 60, "the new values")

    # a new chart is published: redeployed with the same values
    publish(server, base, "1.1.0")
    await env.controller.refresh(name, hard=True)
    app = await eventually(lambda: deployed(env, name, "hi", "1.1.0"), 60, "the new chart")
    history = app["status"]["history"]
    assert [h["revisions"] for h in history] == [
        ["1.0.0", first],
        ["1.0.0", second],
        ["1.1.0", second],
    ]
    assert all(len(h["sources"]) == 2 for h in history)

    # a rollback to the first entry takes both sources back (automated sync is off for it)
    await env.application(
        name, url, name, **{"spec.source": None, "spec.sources": sources, "spec.syncPolicy": None}
    )
    operation = {"sync": {"revisions": ["1.0.0", first]}, "initiatedBy": {"username": "alice"}}
    patch = json.dumps({"operation": operation})
    await env.kube("patch", "application", name, "-n", CONTROL_NS, "--type", "merge", "-p", patch)
    await eventually(
        lambda: _data_is(env, name, "hello from git", "1.0.0"), 60, "rolled back across both"
    )


async def _data_is(env: Env, name: str, greeting: str, chart: str) -> bool:
    data = await configmap(env, name)
    return data.get("greeting") == greeting and data.get("chart") == chart


async def test_a_value_file_naming_an_unknown_ref_is_a_clear_comparison_error(
    env: Env, charts: tuple[ChartRepoServer, Path]
) -> None:
    server, _base = charts
    url, _work = env.new_repo({"values/greeter.yaml": "greeting: x\n"})
    name = f"multi-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    sources = [
        {
            "repoURL": server.url,
            "chart": "greeter",
            "targetRevision": "1.0.0",
            "helm": {"valueFiles": ["$vals/values/greeter.yaml"]},
        },
        {"repoURL": url, "targetRevision": "HEAD", "ref": "values"},
    ]
    await env.application(name, url, name, **{"spec.source": None, "spec.sources": sources})
    message = await eventually(lambda: env.condition(name, "ComparisonError"), 60, "refused")
    assert "no source has ref 'vals' (refs: $values)" in message, message
    assert await configmap(env, name) == {}
