"""Remote dependencies of a chart: fetched from their repository into `charts/`, so helm (and
Tether's renderer) render them without network; unfetchable ones named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import RepoFactory
from tests.charts.servers import PASSWORD, USERNAME, chart_files, chart_tgz, run_helm
from tether.charts import ChartDependencyError, ChartLimitError, ChartLimits, ChartSource
from tether.render.api import render
from tether.source.credentials import RepoCredentials


def publish_app(
    root: Path, dependencies: list[dict[str, str]], extra: dict[str, str] | None = None
) -> None:
    """An `app` chart declaring `dependencies` that are not in its charts/ (helm package would
    refuse to build it, other tools do not), indexed by helm."""
    files = {**chart_files("app", "1.0.0", dependencies), **(extra or {})}
    (root / "app-1.0.0.tgz").write_bytes(chart_tgz("app", files))


def config_maps(objects: list[dict[str, object]]) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}  # type: ignore[index]


async def test_a_dependency_from_a_repository_is_placed_and_rendered_offline(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    publish_app(repo.root, [{"name": "lib", "version": "^0.1", "repository": repo.url}])
    repo.index()
    resolved = await source.resolve(repo.url, "app", "1.0.0")

    chart = await source.materialize_chart(resolved, tmp_path / "out")

    assert [(d.name, d.version) for d in chart.dependencies] == [("lib", "0.1.3")]
    assert "version: 0.1.3" in (chart.path / "charts" / "lib" / "Chart.yaml").read_text()
    rendered = run_helm("template", "rel", str(chart.path), home=tmp_path / "home")
    assert config_maps(list(yaml.safe_load_all(rendered))) == {"rel-app", "rel-lib"}
    # and through Tether's own renderer (pinned helm, sealed, no network)
    result = render(tmp_path / "out", "app", {"helm": {}}, app_name="rel")
    assert config_maps(result.objects) == {"rel-app", "rel-lib"}


async def test_chart_lock_pins_the_dependency_and_credentials_go_to_its_repository(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo(username=USERNAME, password=PASSWORD)
    lock = f"dependencies:\n- name: lib\n  repository: {repo.url}\n  version: 0.1.0\n"
    publish_app(
        repo.root,
        [{"name": "lib", "version": "^0.1", "repository": repo.url + "/"}],
        {"Chart.lock": lock},
    )
    repo.index()
    login = RepoCredentials(url=repo.url, username=USERNAME, password=PASSWORD)
    resolved = await source.resolve(repo.url, "app", "1.0.0", login)

    chart = await source.materialize_chart(resolved, tmp_path / "out", login)

    assert [(d.name, d.version) for d in chart.dependencies] == [("lib", "0.1.0")]


@pytest.mark.parametrize(
    ("repository", "problem"),
    [
        ("oci://registry.example.com/charts", "OCI registries are not supported"),
        ("@stable", "alias from 'helm repo add'"),
        ("alias:stable", "alias from 'helm repo add'"),
        ("", "has no repository"),
        ("s3://bucket/charts", "not an http\\(s\\) URL"),
    ],
)
async def test_a_dependency_that_cannot_be_fetched_is_named(
    chart_repo: RepoFactory,
    source: ChartSource,
    tmp_path: Path,
    repository: str,
    problem: str,
) -> None:
    repo = chart_repo()
    publish_app(repo.root, [{"name": "lib", "version": "1.0.0", "repository": repository}])
    repo.index()
    resolved = await source.resolve(repo.url, "app", "1.0.0")

    with pytest.raises(
        ChartDependencyError, match=f"dependency 'lib' cannot be fetched: .*{problem}"
    ):
        await source.materialize(resolved, tmp_path / "out")

    assert list((tmp_path / "out").iterdir()) == []


async def test_a_dependency_version_that_does_not_exist_names_the_dependency(
    chart_repo: RepoFactory, source: ChartSource, tmp_path: Path
) -> None:
    repo = chart_repo()
    publish_app(repo.root, [{"name": "lib", "version": "^5", "repository": repo.url}])
    repo.index()
    resolved = await source.resolve(repo.url, "app", "1.0.0")

    with pytest.raises(ChartDependencyError, match=r"dependency 'lib' \(\^5 from .*no version"):
        await source.materialize(resolved, tmp_path / "out")


async def test_dependencies_past_the_depth_bound_are_refused(
    chart_repo: RepoFactory, tmp_path: Path
) -> None:
    repo = chart_repo()
    publish_app(repo.root, [{"name": "lib", "version": "*", "repository": repo.url}])
    repo.index()
    source = ChartSource(tmp_path / "cache", ChartLimits(max_dependency_depth=0))
    try:
        resolved = await source.resolve(repo.url, "app", "1.0.0")
        with pytest.raises(ChartLimitError, match="nest deeper than 0 levels"):
            await source.materialize(resolved, tmp_path / "out")
    finally:
        await source.aclose()
