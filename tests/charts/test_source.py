"""ChartSource against real repositories on loopback: resolution, conditional refresh, archive
checks, credentials kept secret, dependencies placed so that helm renders them offline."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import RepoFactory
from tests.charts.servers import PASSWORD, USERNAME, Reply, chart_files, chart_tgz, run_helm
from tether.charts import (
    ChartArchiveError,
    ChartAuthError,
    ChartDigestError,
    ChartIndexError,
    ChartLimitError,
    ChartLimits,
    ChartSource,
    ChartVersionNotFoundError,
)
from tether.source.credentials import RepoCredentials

LOGIN = RepoCredentials(url="", username=USERNAME, password=PASSWORD, type="helm")


def helm_template(chart: Path, home: Path) -> list[dict[str, object]]:
    """What the pinned helm renders for the chart folder, without network."""
    out = run_helm("template", "rel", str(chart), home=home)
    return [doc for doc in yaml.safe_load_all(out) if doc]


async def test_an_exact_version_is_fetched_checked_and_unpacked(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo(username=USERNAME, password=PASSWORD)

    resolved = await source.resolve(repo.url, "web", "1.2.0", LOGIN)
    chart = await source.materialize_chart(resolved, tmp_path / "out", LOGIN)

    assert resolved.version == "1.2.0" and resolved.digest is not None
    assert chart.path == tmp_path / "out" / "web" and chart.digest == resolved.digest
    assert chart.warnings == () and chart.dependencies == ()
    objects = helm_template(chart.path, tmp_path / "home")
    assert [o["data"] for o in objects] == [{"chart": "web", "version": "1.2.0"}]  # type: ignore[index]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["web"]  # no staging left


@pytest.mark.parametrize(
    ("target", "expected"),
    [("^1.2", "1.2.5"), (">=1.0.0 <2.0.0", "1.2.5"), ("*", "2.0.0"), ("", "2.0.0"),
     (">=1.3.0-0 <2.0.0", "1.3.0-rc.1")],
)  # fmt: skip
async def test_ranges_resolve_against_the_served_index(
    chart_repo: RepoFactory, source: ChartSource, target: str, expected: str
) -> None:
    repo = chart_repo()

    assert (await source.resolve(repo.url, "web", target)).version == expected


async def test_a_refresh_where_nothing_moved_is_a_304_and_a_new_version_is_seen(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    first = await source.resolve(repo.url, "web", "^2.0")

    assert await source.refresh(repo.url) is False
    assert await source.check_for_update(first) is None
    last = repo.seen("/index.yaml")[-1]
    assert last.status == 304 and "if-none-match" in last.headers
    assert source.index_downloads == 1 and source.index_not_modified == 2

    package_into(repo.root, "web", "2.2.0", tmp_path)
    repo.index()
    update = await source.check_for_update(first)

    assert update is not None and update.version == "2.2.0" and update.differs_from(first)
    assert await source.refresh(repo.url) is False


def add_index_entry(root: Path, name: str, version: str, archive: bytes) -> None:
    index = yaml.safe_load((root / "index.yaml").read_text())
    index["entries"][name] = [
        {
            "name": name,
            "version": version,
            "digest": hashlib.sha256(archive).hexdigest(),
            "urls": [f"{name}-{version}.tgz"],
        }
    ]
    (root / "index.yaml").write_text(yaml.safe_dump(index))


def package_into(root: Path, name: str, version: str, scratch: Path) -> None:
    folder = scratch / f"src-{name}-{version}" / name
    for rel, text in chart_files(name, version).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    run_helm("package", str(folder), "-d", str(root), home=scratch / "home")


async def test_a_fresh_index_is_not_asked_for_and_a_stale_one_is_revalidated(
    chart_repo: RepoFactory, tmp_path: Path
) -> None:
    repo = chart_repo()
    now = [1000.0]
    source = ChartSource(tmp_path / "cache", ChartLimits(index_max_age=60), clock=lambda: now[0])
    try:
        await source.resolve(repo.url, "web", "1.0.0")
        await source.resolve(repo.url, "web", "^1")
        assert len(repo.seen("/index.yaml")) == 1
        now[0] += 61
        await source.resolve(repo.url, "web", "^1")
        assert [r.status for r in repo.seen("/index.yaml")] == [200, 304]
    finally:
        await source.aclose()


async def test_a_version_published_since_the_last_poll_is_found_at_once(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    await source.resolve(repo.url, "web", "*")
    package_into(repo.root, "web", "3.0.0", tmp_path)
    repo.index()

    assert (await source.resolve(repo.url, "web", "3.0.0")).version == "3.0.0"
    with pytest.raises(ChartVersionNotFoundError, match=r"'9\.9\.9'"):
        await source.resolve(repo.url, "web", "9.9.9")


async def test_concurrent_resolutions_share_one_download(
    chart_repo: RepoFactory, source: ChartSource
) -> None:
    repo = chart_repo()

    found = await asyncio.gather(*(source.resolve(repo.url, "web", "^1") for _ in range(8)))

    assert {r.version for r in found} == {"1.2.5"}
    assert len(repo.seen("/index.yaml")) == 1


async def test_an_archive_whose_digest_differs_from_the_index_is_refused(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    other = (repo.root / "web-1.0.0.tgz").read_bytes()
    repo.routes["/charts/web-1.2.0.tgz"] = lambda seen: Reply(200, other)
    resolved = await source.resolve(repo.url, "web", "1.2.0")

    with pytest.raises(ChartDigestError) as caught:
        await source.materialize(resolved, tmp_path / "out")

    assert hashlib.sha256(other).hexdigest() in str(caught.value)
    assert "refusing it" in str(caught.value)
    assert not (tmp_path / "out" / "web").exists()
    assert not list((tmp_path / "chart-cache").rglob("*.tgz"))


async def test_an_archive_without_digest_is_accepted_with_a_warning(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    index = repo.root / "index.yaml"
    index.write_text(
        "\n".join(line for line in index.read_text().splitlines() if "digest:" not in line)
    )
    resolved = await source.resolve(repo.url, "web", "2.0.0")

    chart = await source.materialize_chart(resolved, tmp_path / "out")

    assert resolved.digest is None
    expected = hashlib.sha256((repo.root / "web-2.0.0.tgz").read_bytes()).hexdigest()
    assert chart.digest == f"sha256:{expected}"
    assert len(chart.warnings) == 1 and "gives no digest" in chart.warnings[0]
    assert (chart.path / "Chart.yaml").is_file()


async def test_a_cached_archive_is_not_downloaded_again_unless_damaged(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    resolved = await source.resolve(repo.url, "web", "1.0.0")

    first = await source.fetch(resolved)
    await source.materialize(resolved, tmp_path / "a")
    assert source.archive_downloads == 1 and not first.cached and first.verified
    first.archive.write_bytes(b"damaged")
    await source.materialize(resolved, tmp_path / "b")

    assert source.archive_downloads == 2 and len(repo.seen("/web-1.0.0.tgz")) == 2
    assert (tmp_path / "b" / "web" / "Chart.yaml").is_file()


async def test_a_wrong_password_is_a_clear_error_without_the_password(
    chart_repo: RepoFactory, source: ChartSource
) -> None:
    repo = chart_repo(username=USERNAME, password=PASSWORD)
    wrong = RepoCredentials(url=repo.url, username=USERNAME, password="hunter2-wrong")

    with pytest.raises(ChartAuthError) as caught:
        await source.resolve(repo.url, "web", "*", wrong)
    with pytest.raises(ChartAuthError) as anonymous:
        await source.resolve(repo.url, "web", "*")

    text = f"{caught.value} {caught.value!r} {anonymous.value} {wrong!r}"
    assert "refused the credentials of user 'chart-reader' (401" in str(caught.value)
    assert "hunter2" not in text and "aHVudGVyM" not in text  # nor its base64 spelling
    assert "none is configured" in str(anonymous.value)
    assert "secret-type: repository" in str(anonymous.value)


async def test_an_index_past_the_size_limit_is_refused(
    chart_repo: RepoFactory, tmp_path: Path
) -> None:
    repo = chart_repo()
    source = ChartSource(tmp_path / "cache", ChartLimits(max_index_bytes=512))
    try:
        with pytest.raises(ChartLimitError, match="larger than 512 bytes"):
            await source.resolve(repo.url, "web", "*")
    finally:
        await source.aclose()


async def test_a_url_without_an_index_says_so(chart_repo: RepoFactory, source: ChartSource) -> None:
    repo = chart_repo()

    with pytest.raises(ChartIndexError, match=r"no index\.yaml .*404.*Helm repository"):
        await source.resolve(repo.url + "/nothing-here", "web", "*")


async def test_credentials_do_not_follow_a_redirect_to_another_host(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo(username=USERNAME, password=PASSWORD)
    mirror = chart_repo()
    location = f"{mirror.url}/web-1.2.5.tgz"
    repo.routes["/charts/web-1.2.5.tgz"] = lambda seen: Reply(302, headers={"Location": location})
    resolved = await source.resolve(repo.url, "web", "1.2.5", LOGIN)

    chart = await source.materialize_chart(resolved, tmp_path / "out", LOGIN)

    assert chart.digest == resolved.digest
    assert [("authorization" in r.headers) for r in repo.seen(".tgz")] == [True]
    assert [("authorization" in r.headers) for r in mirror.seen(".tgz")] == [False]


async def test_a_traversing_archive_from_a_repository_leaves_nothing_behind(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    evil = chart_tgz("evil", {"Chart.yaml": "name: evil\nversion: 1.0.0\n", "../../x": "boom"})
    (repo.root / "evil-1.0.0.tgz").write_bytes(evil)
    add_index_entry(repo.root, "evil", "1.0.0", evil)  # helm repo index would skip it
    resolved = await source.resolve(repo.url, "evil", "1.0.0")

    with pytest.raises(ChartArchiveError, match="climbs out"):
        await source.materialize(resolved, tmp_path / "out")

    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "x").exists()
