"""Desired state: one ref check per repository, commits already mirrored resolve offline.

A real git server (smart HTTP, Basic auth) serves the repositories; the mirror counts its
``ls-remote`` calls (``Mirror.ref_checks``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.source.conftest import PASSWORD, USER, Remote, make_remote
from tether.cluster.client import ClusterClient
from tether.cluster.tracking import Tracking
from tether.controller import models
from tether.controller.desired import DesiredState
from tether.names import TRACKING_ANNOTATION
from tether.render.cache import BoundedCache
from tether.source import RepoCredentials
from tether.source.errors import SourceError
from tether.source.gitserver import GitHTTPServer
from tether.source.tree import CommitTree

MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(tmp_path_factory.mktemp("served"), (USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def remote(git_server: GitHTTPServer, tmp_path: Path) -> Remote:
    repo = make_remote(git_server.root, tmp_path, git_server.url("{name}"))
    repo.commit_and_push("first", {"app/cm.yaml": MANIFEST.format(name="one")})
    return repo


def desired_state(client: ClusterClient, cache: Path) -> DesiredState:
    credentials = RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)
    return DesiredState(client, "argocd", cache, lambda url: credentials, tracking=Tracking())


def source_of(remote: Remote, revision: str = "main", path: str = "app") -> models.AppSource:
    raw = {"repoURL": remote.url, "targetRevision": revision, "path": path}
    return models.AppSource(remote.url, revision, path, raw=raw)


def ref_checks(state: DesiredState, remote: Remote) -> int:
    return state.mirrors.mirror(remote.url).ref_checks


async def test_new_apps_on_one_repository_cost_one_ref_check(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        source = source_of(remote)
        together = await asyncio.gather(
            *(state.resolve(f"app-{i}", source, None, None) for i in range(12))
        )
        one_by_one = [await state.resolve(f"late-{i}", source, None, None) for i in range(5)]
        commits = {r.commit for r in [*together, *one_by_one]}
        assert len(commits) == 1
        assert ref_checks(state, remote) == 1
    finally:
        await state.aclose()


async def test_a_new_app_after_the_refs_grew_old_checks_the_repository_again(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        source = source_of(remote)
        first = await state.resolve("app-a", source, None, None)
        moved = remote.commit_and_push("second", {"app/cm.yaml": MANIFEST.format(name="two")})
        state.poller.refs_max_age = 0.0
        second = await state.resolve("app-b", source, None, None)
        assert second.commit == moved != first.commit
        assert ref_checks(state, remote) == 2
    finally:
        await state.aclose()


async def test_a_new_app_on_a_missing_branch_from_the_shared_refs_says_so(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        await state.resolve("app-a", source_of(remote), None, None)
        with pytest.raises(SourceError, match="no-such-branch"):
            await state.resolve("app-b", source_of(remote, "no-such-branch"), None, None)
        assert ref_checks(state, remote) == 1
    finally:
        await state.aclose()


async def test_a_new_app_on_another_branch_resolves_from_the_shared_refs(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    main = remote.commit("main's")
    remote.push("HEAD:refs/heads/main")
    staging_head = remote.commit("staging's", {"app/cm.yaml": MANIFEST.format(name="staging")})
    remote.push("HEAD:refs/heads/staging")
    state = desired_state(client, tmp_path / "cache")
    try:
        assert (await state.resolve("app-a", source_of(remote), None, None)).commit == main
        staging = await state.resolve("app-b", source_of(remote, "staging"), None, None)
        assert staging.commit == staging_head
        assert ref_checks(state, remote) == 1
    finally:
        await state.aclose()


async def test_an_explicit_commit_in_the_mirror_resolves_without_ls_remote(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    old = remote.commit_and_push("old", {"app/cm.yaml": MANIFEST.format(name="old")})
    remote.commit_and_push("new", {"app/cm.yaml": MANIFEST.format(name="new")})
    state = desired_state(client, tmp_path / "cache")
    try:
        source = source_of(remote)
        current = await state.resolve("app", source, None, None)
        checks = ref_checks(state, remote)
        # the automated sync names the polled commit, a rollback an older one: both mirrored
        assert (await state.resolve("app", source, current.commit, None)).commit == current.commit
        assert (await state.resolve("app", source, old, None)).commit == old
        assert ref_checks(state, remote) == checks
    finally:
        await state.aclose()


async def test_an_explicit_commit_missing_from_the_mirror_is_looked_for_remotely(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        source = source_of(remote)
        await state.resolve("app", source, None, None)
        pushed = remote.commit_and_push("later", {"app/cm.yaml": MANIFEST.format(name="later")})
        checks = ref_checks(state, remote)
        assert (await state.resolve("app", source, pushed, None)).commit == pushed
        assert ref_checks(state, remote) == checks + 1
    finally:
        await state.aclose()


def application(remote: Remote, name: str, namespace: str = "team") -> models.Application:
    return models.parse_application(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": remote.url, "targetRevision": "main", "path": "app"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            },
        }
    )


async def test_desired_objects_are_held_once_and_shared(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        app = application(remote, "shop")
        commit = (await state.resolve(app.name, source_of(remote), None, None)).commit
        first = await state.render(app, client, commit)
        again = await state.render(app, client, commit)
        # one copy: the kept objects themselves, not a copy per comparison
        assert again.objects is first.objects
        [cm] = first.objects
        assert cm["metadata"]["namespace"] == "team"
        assert cm["metadata"]["annotations"][TRACKING_ANNOTATION] == ("shop:/ConfigMap:team/one")
        other = await state.render(application(remote, "shop-2", "other"), client, commit)
        assert other.objects[0]["metadata"]["namespace"] == "other"
        assert len(state.rendered) == 2
    finally:
        await state.aclose()


async def test_the_kept_renders_stay_within_their_bounds(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        commit = (await state.resolve("a0", source_of(remote), None, None)).commit
        state.rendered = BoundedCache(2, 10**6, state.rendered._size_of)
        for i in range(4):
            await state.render(application(remote, f"a{i}"), client, commit)
        assert len(state.rendered) == 2
        one = state.rendered.bytes // 2
        state.rendered = BoundedCache(100, one * 3 - 1, state.rendered._size_of)
        for i in range(4):
            await state.render(application(remote, f"a{i}"), client, commit)
        assert len(state.rendered) == 2
        assert state.rendered.bytes <= one * 3 - 1
        # an evicted app renders again, with the same objects
        again = await state.render(application(remote, "a0"), client, commit)
        assert again.objects[0]["metadata"]["name"] == "one"
    finally:
        await state.aclose()


async def test_the_export_is_sealed_and_rendered_in_place(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        commit = (await state.resolve("a", source_of(remote), None, None)).commit
        sealed = await state.export(remote.url, commit)
        assert await state.export(remote.url, commit) is sealed  # written once, shared
        assert oct((sealed.root / "app" / "cm.yaml").stat().st_mode & 0o777) == "0o444"
        assert sealed.escaping_link is None
        rendered = await state.render(application(remote, "a"), client, commit)
        assert rendered.objects[0]["data"] == {"k": "v"}
    finally:
        await state.aclose()


async def test_apps_asking_for_a_commit_at_once_wait_for_one_export(
    client: ClusterClient, remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    export = CommitTree.export

    def counted(tree: CommitTree, dest: Path, *args: Any, **kwargs: Any) -> None:
        written.append(dest)
        export(tree, dest, *args, **kwargs)

    monkeypatch.setattr(CommitTree, "export", counted)
    state = desired_state(client, tmp_path / "cache")
    try:
        commit = (await state.resolve("a", source_of(remote), None, None)).commit
        trees = await asyncio.gather(*(state.export(remote.url, commit) for _ in range(20)))
        assert len(written) == 1
        assert all(tree is trees[0] for tree in trees)
        assert sorted(p.name for p in written[0].parent.iterdir()) == [trees[0].root.name]
    finally:
        await state.aclose()


async def test_an_app_keeps_its_two_latest_renders_and_none_once_forgotten(
    client: ClusterClient, remote: Remote, tmp_path: Path
) -> None:
    state = desired_state(client, tmp_path / "cache")
    try:
        app = application(remote, "moving")
        commits = [(await state.resolve(app.name, source_of(remote), None, None)).commit]
        for n in range(2):
            commits.append(
                remote.commit_and_push(f"c{n}", {"app/cm.yaml": MANIFEST.format(name=f"c{n}")})
            )
        for commit in commits:
            await state.resolve(app.name, source_of(remote), commit, None)  # fetched
            await state.render(app, client, commit)
        assert (state.renders, len(state.rendered)) == (3, 2)
        await state.render(app, client, commits[-1])  # kept: no render
        await state.render(app, client, commits[1])  # kept too (the last synced one, say)
        assert state.renders == 3
        await state.render(app, client, commits[0])  # dropped: rendered again
        assert (state.renders, len(state.rendered)) == (4, 2)
        state.forget(app.name)
        assert (len(state.rendered), state.rendered.bytes) == (0, 0)
    finally:
        await state.aclose()
