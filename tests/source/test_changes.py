"""Change detection in a monorepo: a commit re-renders only the applications whose files it touched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.source.conftest import Remote
from tether.source import AppSource, MirrorCache, RepoCredentials, SourcePoller, read_paths
from tether.source import poller as poller_module
from tether.source.changes import TreeReader

MONOREPO = {
    "apps/a/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "apps/a/base/deployment.yaml": "kind: Deployment\n",
    "apps/a/overlays/staging/kustomization.yaml": (
        "resources:\n- ../../base\n- https://github.com/org/remote//base?ref=v1\n"
        "components:\n- ../../../../components/monitoring\n"
        "patches:\n- path: replicas.yaml\n"
        "configMapGenerator:\n- name: cfg\n  files:\n  - app.properties=../../config/app.properties\n"
    ),
    "apps/a/overlays/staging/replicas.yaml": "replicas: 1\n",
    "apps/a/overlays/production/kustomization.yaml": (
        "bases:\n- ../../base\npatchesStrategicMerge:\n- replicas.yaml\n"
        "secretGenerator:\n- name: s\n  envs:\n  - ../../../../outside/../shared/prod.env\n"
    ),
    "apps/a/overlays/production/replicas.yaml": "replicas: 3\n",
    "apps/a/config/app.properties": "x=1\n",
    "components/monitoring/kustomization.yaml": (
        "kind: Component\nresources:\n- ../../../../../etc\n"
    ),
    "components/monitoring/sm.yaml": "kind: ServiceMonitor\n",
    "shared/prod.env": "A=1\n",
    "apps/b/kustomization.yaml": "resources:\n- cm.yaml\n",
    "apps/b/cm.yaml": "kind: ConfigMap\n",
    "charts/web/Chart.yaml": (
        "name: web\ndependencies:\n- name: lib\n  repository: file://../lib\n"
    ),
    "charts/lib/Chart.yaml": "name: lib\n",
    "values/web-prod.yaml": "replicas: 2\n",
}

APPS = [
    AppSource("a-staging", "", "main", "apps/a/overlays/staging"),
    AppSource("a-production", "", "main", "apps/a/overlays/production"),
    AppSource("b", "", "main", "apps/b"),
    AppSource("web", "", "main", "charts/web", value_files=("../../values/web-prod.yaml",)),
]


def _poller(remote: Remote, cache: MirrorCache, credentials: RepoCredentials) -> SourcePoller:
    remote.commit_and_push("monorepo", MONOREPO)
    poller = SourcePoller(cache, lambda url: credentials)
    for app in APPS:
        poller.register(AppSource(app.name, remote.url, app.revision, app.path, app.value_files))
    assert poller.poll().changed == sorted(app.name for app in APPS)
    return poller


def test_read_paths_follow_kustomize_references_inside_the_repository(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    sha = remote.commit_and_push("monorepo", MONOREPO)
    mirror = cache.mirror(remote.url, credentials)
    mirror.fetch()
    tree = mirror.tree(sha)

    staging = read_paths(tree, "apps/a/overlays/staging")
    production = read_paths(tree, "apps/a/overlays/production")

    assert staging == {
        "apps/a/overlays/staging",
        "apps/a/base",
        "apps/a/base/deployment.yaml",
        "components/monitoring",
        "apps/a/overlays/staging/replicas.yaml",
        "apps/a/config/app.properties",
    }
    assert {"apps/a/base", "shared/prod.env"} <= production
    assert not any(path.startswith("etc") for path in staging)


def test_commit_to_base_marks_both_overlays_and_no_other_app(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push("bump image", {"apps/a/base/deployment.yaml": "kind: Deployment #2\n"})

    result = poller.poll()

    assert result.fetches == 1
    assert result.changed == ["a-production", "a-staging"]


def test_commit_to_one_overlay_marks_only_that_overlay(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push("scale", {"apps/a/overlays/production/replicas.yaml": "replicas: 5\n"})

    assert poller.poll().changed == ["a-production"]


def test_commit_to_a_shared_component_or_env_file_marks_its_users(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push("monitor", {"components/monitoring/sm.yaml": "kind: ServiceMonitor #\n"})
    assert poller.poll().changed == ["a-staging"]
    remote.commit_and_push("env", {"shared/prod.env": "A=2\n"})
    assert poller.poll().changed == ["a-production"]


def test_helm_value_file_and_local_dependency_changes_mark_the_chart(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push("values", {"values/web-prod.yaml": "replicas: 4\n"})
    assert poller.poll().changed == ["web"]
    remote.commit_and_push("lib", {"charts/lib/Chart.yaml": "name: lib\nversion: 2\n"})
    assert poller.poll().changed == ["web"]


def test_commit_outside_every_app_marks_none(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push("docs", {"docs/readme.md": "hi\n"})

    result = poller.poll()

    assert result.changed == []
    assert all(app.commit == result.apps["b"].commit for app in result.apps.values())


def test_commit_touching_two_apps_marks_exactly_those(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = _poller(remote, cache, credentials)
    remote.commit_and_push(
        "a and b",
        {"apps/a/base/deployment.yaml": "gone\n", "apps/b/kustomization.yaml": "resources: []\n"},
    )

    assert poller.poll().changed == ["a-production", "a-staging", "b"]


def test_a_commits_read_paths_are_worked_out_once_per_app(
    remote: Remote,
    cache: MirrorCache,
    credentials: RepoCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    poller = _poller(remote, cache, credentials)
    worked_out: list[tuple[str, str]] = []

    def counting(tree: TreeReader, app_path: str, *args: Any) -> frozenset[str]:
        worked_out.append((tree.commit, app_path))  # type: ignore[attr-defined]
        return read_paths(tree, app_path, *args)

    monkeypatch.setattr(poller_module, "read_paths", counting)
    first = remote.commit_and_push("scale", {"apps/a/overlays/production/replicas.yaml": "r: 5\n"})
    assert poller.poll().changed == ["a-production"]
    assert len(worked_out) == 2 * len(APPS)  # each app at the old and at the new commit
    worked_out.clear()
    second = remote.commit_and_push("env", {"shared/prod.env": "A=2\n"})
    assert poller.poll().changed == ["a-production"]
    # the commit the apps were at was worked out by the poll before: only the new one now
    assert sorted(worked_out) == sorted((second, app.path) for app in APPS)
    assert first != second
