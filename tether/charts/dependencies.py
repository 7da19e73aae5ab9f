"""A chart's remote dependencies, put into its `charts/` folder so `helm template` needs no
network (what `helm dependency build` does, within bounds).

A dependency already in `charts/` (a folder or a `<name>-*.tgz`, the rule Tether's renderer
uses) is left alone, and so is a `file://` one (it travels inside the chart, and the renderer
copies it into place). One from an `http(s)://` repository is resolved through the same index
and archive cache as the chart itself, at the version its `Chart.lock` pins when there is one,
else at the newest version its range allows. Dependencies from OCI registries and from
repository aliases (`@name`, `alias:name`, known only to a `helm repo add` elsewhere) cannot be
fetched: they are refused, naming the dependency. Counted and nested within `ChartLimits`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.charts.errors import ChartDependencyError, ChartError, ChartLimitError
from tether.charts.limits import ChartLimits
from tether.charts.models import ResolvedChart
from tether.render.helm import is_vendored
from tether.safeyaml import KubernetesLoader, YamlError, YamlLimits, load
from tether.source.urls import scrub_url

#: resolve (repository URL, chart name, version range) to a chart version
Resolve = Callable[[str, str, str], Awaitable[ResolvedChart]]
#: fetch a resolved chart and unpack it into the given (new) folder
Unpack = Callable[[ResolvedChart, Path], Awaitable[None]]


@dataclass(frozen=True)
class RemoteDependency:
    """A dependency to fetch: `version` is the range to resolve (or the locked version)."""

    name: str
    version: str
    repository: str


def read_chart_file(path: Path, limits: ChartLimits, what: str) -> Any:
    """A chart's YAML file (Chart.yaml, Chart.lock ...) within the metadata bounds; None when
    it does not exist."""
    try:
        with path.open("rb") as handle:
            text = handle.read(limits.max_metadata_bytes + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ChartError(f"{what}: cannot read {path.name}: {exc.strerror}") from None
    if len(text) > limits.max_metadata_bytes:
        raise ChartLimitError(
            f"{what}: {path.name} is larger than {limits.max_metadata_bytes} bytes"
        )
    try:
        return load(
            text, limits=YamlLimits(max_bytes=limits.max_metadata_bytes), loader=KubernetesLoader
        )
    except YamlError as exc:
        raise ChartDependencyError(f"{what}: {path.name} is not valid YAML: {exc}") from None


def chart_metadata(chart_dir: Path, limits: ChartLimits, what: str) -> dict[str, Any]:
    """The chart's Chart.yaml as a mapping."""
    meta = read_chart_file(chart_dir / "Chart.yaml", limits, what)
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ChartDependencyError(f"{what}: Chart.yaml is not a mapping with a chart name")
    return meta


def _declared(chart_dir: Path, meta: dict[str, Any], limits: ChartLimits, what: str) -> list[Any]:
    deps = meta.get("dependencies")
    if not deps:
        # apiVersion v1 charts declare them in requirements.yaml
        requirements = read_chart_file(chart_dir / "requirements.yaml", limits, what)
        deps = requirements.get("dependencies") if isinstance(requirements, dict) else None
    if deps is None:
        return []
    if not isinstance(deps, list):
        raise ChartDependencyError(f"{what}: `dependencies` of Chart.yaml is not a list")
    return deps


def _locked(chart_dir: Path, limits: ChartLimits, what: str) -> dict[tuple[str, str], str]:
    """(name, repository) -> version pinned by Chart.lock (or requirements.lock)."""
    lock = read_chart_file(chart_dir / "Chart.lock", limits, what)
    if lock is None:
        lock = read_chart_file(chart_dir / "requirements.lock", limits, what)
    pinned: dict[tuple[str, str], str] = {}
    entries = lock.get("dependencies") if isinstance(lock, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") and entry.get("version"):
            key = (str(entry["name"]), str(entry.get("repository") or "").rstrip("/"))
            pinned[key] = str(entry["version"])
    return pinned


def _refusal(name: str, repository: str) -> str | None:
    """Why a dependency from `repository` cannot be fetched, None when it can."""
    scheme = repository.split("://", 1)[0].lower() if "://" in repository else ""
    if not repository:
        return "it has no repository and is not in charts/"
    if repository.startswith("@") or repository.startswith("alias:"):
        return (
            f"its repository {repository!r} is an alias from 'helm repo add', which Tether "
            "does not know; write the repository's URL instead"
        )
    if scheme == "oci":
        return "charts from OCI registries are not supported yet"
    if scheme not in ("http", "https"):
        return f"its repository {scrub_url(repository)[:200]!r} is not an http(s) URL"
    return None


def remote_dependencies(chart_dir: Path, limits: ChartLimits, what: str) -> list[RemoteDependency]:
    """The dependencies of the chart in `chart_dir` to fetch (not vendored, not `file://`).

    Raises `ChartDependencyError` naming a dependency that cannot be fetched.
    """
    meta = chart_metadata(chart_dir, limits, what)
    declared = _declared(chart_dir, meta, limits, what)
    if not declared:
        return []
    pinned = _locked(chart_dir, limits, what)
    charts_dir = chart_dir / "charts"
    wanted: dict[str, RemoteDependency] = {}
    for dep in declared:
        if not isinstance(dep, dict) or not dep.get("name"):
            raise ChartDependencyError(f"{what}: a dependency in Chart.yaml has no name")
        name = str(dep["name"])
        repository = str(dep.get("repository") or "").strip()
        if name in wanted or repository.startswith("file://") or is_vendored(charts_dir, name):
            continue
        refusal = _refusal(name, repository)
        if refusal is not None:
            raise ChartDependencyError(
                f"{what}: dependency {name!r} cannot be fetched: {refusal}. Vendor it into "
                "charts/ ('helm dependency build') before packaging the chart"
            )
        version = pinned.get((name, repository.rstrip("/"))) or str(dep.get("version") or "")
        wanted[name] = RemoteDependency(name, version, repository)
    return list(wanted.values())


@dataclass
class _Budget:
    left: int


async def place_dependencies(
    chart_dir: Path,
    limits: ChartLimits,
    resolve: Resolve,
    unpack: Unpack,
    what: str,
) -> tuple[ResolvedChart, ...]:
    """Fetch the chart's remote dependencies (and theirs ...) into `charts/`; returns what was
    placed. Raises `ChartDependencyError` naming the dependency, `ChartLimitError` past the
    count or depth bound."""
    return tuple(
        await _place(chart_dir, limits, resolve, unpack, what, 0, _Budget(limits.max_dependencies))
    )


async def _place(
    chart_dir: Path,
    limits: ChartLimits,
    resolve: Resolve,
    unpack: Unpack,
    what: str,
    depth: int,
    budget: _Budget,
) -> list[ResolvedChart]:
    missing = await asyncio.to_thread(remote_dependencies, chart_dir, limits, what)
    if missing and depth >= limits.max_dependency_depth:
        raise ChartLimitError(
            f"{what}: dependencies nest deeper than {limits.max_dependency_depth} levels"
        )
    placed: list[ResolvedChart] = []
    for dep in missing:
        budget.left -= 1
        if budget.left < 0:
            raise ChartLimitError(
                f"{what}: more than {limits.max_dependencies} dependencies to fetch"
            )
        where = f"{what}: dependency {dep.name!r} ({dep.version or '*'} from {scrub_url(dep.repository)})"
        target = chart_dir / "charts" / dep.name
        try:
            resolved = await resolve(dep.repository, dep.name, dep.version)
            await unpack(resolved, target)
        except ChartDependencyError:
            raise
        except ChartError as exc:
            raise ChartDependencyError(f"{where}: {exc.message}") from exc
        placed.append(resolved)
        inner = f"{what} > {dep.name} {resolved.version}"
        placed += await _place(target, limits, resolve, unpack, inner, depth + 1, budget)
    return placed
