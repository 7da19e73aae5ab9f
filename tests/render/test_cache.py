"""Rendered manifests are cached by (repository, commit, path, options, tool versions)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import tether.render.api as render_api
from tether.render import RenderCache, RenderError, render
from tether.render.cache import BoundedCache

REPO = "https://git.example.com/podinfo.git"
SHA = "4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e"


class SpawnCounter:
    """Counts processes started through subprocess (Popen also backs subprocess.run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = subprocess.Popen

        def counting(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(subprocess, "Popen", counting)


def test_cache_hit_spawns_no_process_and_copies_nothing(
    corpora: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RenderCache()
    spawns = SpawnCounter(monkeypatch)
    first = render(corpora / "podinfo", "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    assert spawns.count >= 1
    spawned = spawns.count

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a cache hit must not copy the tree")

    monkeypatch.setattr(render_api, "Workspace", no_copy)
    second = render(corpora / "podinfo", "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    assert spawns.count == spawned
    assert second is first
    assert cache.hits == 1


def test_other_commit_path_or_options_miss_the_cache(corpora: Path) -> None:
    cache = RenderCache()
    root = corpora / "podinfo"
    render(root, "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    render(root, "kustomize", repo_url=REPO, revision="f" * 40, cache=cache)
    render(
        root,
        "kustomize",
        {"kustomize": {"namePrefix": "x-"}},
        repo_url=REPO,
        revision=SHA,
        cache=cache,
    )
    render(root, "charts/podinfo", repo_url=REPO, revision=SHA, cache=cache)
    render(root, "./kustomize/", repo_url=REPO, revision=SHA, cache=cache)  # same path, normalised
    assert (cache.misses, cache.hits, len(cache)) == (4, 1, 4)


def test_repo_url_and_revision_are_needed_for_caching(corpora: Path) -> None:
    cache = RenderCache()
    render(corpora / "podinfo", "kustomize", cache=cache)
    assert len(cache) == 0


def test_least_recently_used_entry_is_evicted(corpora: Path) -> None:
    cache = RenderCache(max_entries=2)
    root = corpora / "podinfo"
    for sha in ("a" * 40, "b" * 40):
        render(root, "kustomize", repo_url=REPO, revision=sha, cache=cache)
    render(root, "kustomize", repo_url=REPO, revision="a" * 40, cache=cache)  # a is now newest
    render(root, "kustomize", repo_url=REPO, revision="c" * 40, cache=cache)  # evicts b
    assert len(cache) == 2
    hits = cache.hits
    render(root, "kustomize", repo_url=REPO, revision="a" * 40, cache=cache)
    assert cache.hits == hits + 1
    render(root, "kustomize", repo_url=REPO, revision="b" * 40, cache=cache)
    assert cache.hits == hits + 1


def test_failed_render_is_not_cached(tmp_path: Path) -> None:
    cache = RenderCache()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "x.yaml").write_text("kind: [\n")
    for _ in range(2):
        with pytest.raises(RenderError):
            render(tmp_path, "app", repo_url=REPO, revision=SHA, cache=cache)
    assert len(cache) == 0


def test_copy_objects_gives_a_private_copy(corpora: Path) -> None:
    cache = RenderCache()
    result = render(corpora / "podinfo", "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    mine = result.copy_objects()
    mine[0]["metadata"]["name"] = "changed"
    again = render(corpora / "podinfo", "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    assert again.objects[0]["metadata"]["name"] == "podinfo"


def test_the_cache_is_bounded_by_bytes_too(corpora: Path) -> None:
    root = corpora / "podinfo"
    sized = RenderCache()
    render(root, "kustomize", repo_url=REPO, revision="a" * 40, cache=sized)
    one = sized.bytes
    assert one > 0
    cache = RenderCache(max_entries=100, max_bytes=2 * one + one // 2)
    for sha in ("a" * 40, "b" * 40, "c" * 40):
        render(root, "kustomize", repo_url=REPO, revision=sha, cache=cache)
    assert (len(cache), cache.bytes) == (2, 2 * one)
    assert revisions_in(cache) == {"b" * 40, "c" * 40}  # the oldest went first


def test_a_result_larger_than_the_whole_cache_is_not_kept(corpora: Path) -> None:
    cache = RenderCache(max_bytes=100)
    render(corpora / "podinfo", "kustomize", repo_url=REPO, revision=SHA, cache=cache)
    assert (len(cache), cache.bytes) == (0, 0)


def test_bounded_cache_replaces_and_discards_by_key() -> None:
    cache: BoundedCache[str, str] = BoundedCache(10, 10, len)
    cache.put("a", "xxxx")
    cache.put("a", "yy")
    assert (cache.get("a"), cache.bytes) == ("yy", 2)
    cache.discard("a")
    assert (len(cache), cache.bytes) == (0, 0)
    with pytest.raises(ValueError):
        BoundedCache(10, 0, len)


def revisions_in(cache: RenderCache) -> set[str]:
    return {key.revision for key in cache._entries}
