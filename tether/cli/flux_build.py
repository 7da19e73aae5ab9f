"""``tether flux build kustomization NAME --path DIR``: a Flux Kustomization's objects, built
from a local folder as ``flux build kustomization`` builds them, with the controller's code
(:func:`tether.flux.build.build`); ``tether flux diff kustomization`` compares that build with
the cluster (:mod:`tether.controller.flux.fluxdiff`), as ``flux diff kustomization``.

The Kustomization comes from ``--kustomization-file`` (no cluster needed) or from the cluster by
NAME. Its build options apply; ``--path`` replaces its source and ``spec.path``, so its
``sourceRef`` is not read. ``postBuild.substitute`` variables apply; ``substituteFrom`` reads
its ConfigMaps and Secrets from the cluster, and without one the build is refused naming the
source it could not read. SOPS files are not decrypted (as ``flux build``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import yaml

from tether.cli.flux import (
    KUSTOMIZATION,
    KUSTOMIZATION_WORDS,
    FluxError,
    KindGroup,
    Target,
    cluster_flags,
    get_object,
    run_on_cluster,
)
from tether.cli.options import EXISTING_DIR, EXISTING_FILE
from tether.cluster.client import ClusterClient
from tether.controller.flux.fluxdiff import DiffError, describe, diff_build
from tether.controller.flux.inputs import InputError
from tether.controller.flux.inputs import variables as fetch_variables
from tether.errors import TetherError
from tether.flux.build import BuildInput, build
from tether.flux.envsubst import SubstitutionError
from tether.flux.kustomizations import FluxBuildOptions, parse_build_options
from tether.flux.specs import KustomizationSpec, parse_kustomization
from tether.flux.substitute import collect_variables
from tether.render.manifests import parse_yaml_manifests
from tether.render.models import DEFAULT_LIMITS

_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"
#: spec fields a local build does not read: --path replaces the source, and what is applied
#: where and when is not the build's business (the controller refuses some of them by name)
_NOT_READ = ("sourceRef", "dependsOn", "kubeConfig", "healthCheckExprs", "healthChecks")


def _read_kustomization_file(path: Path, name: str) -> dict[str, Any]:
    """The Flux Kustomization named ``name`` in a YAML file (one of several documents, too)."""
    limit = DEFAULT_LIMITS.max_file_bytes
    try:
        if path.stat().st_size > limit:
            raise FluxError(f"{path}: larger than {limit} bytes; not a Kustomization")
        objects = parse_yaml_manifests(path.read_bytes(), str(path))
    except OSError as exc:
        raise FluxError(f"{path}: {exc.strerror or exc}") from None
    except TetherError as exc:
        raise FluxError(exc.message) from None
    found = [
        obj
        for obj in objects
        if obj.get("kind") == "Kustomization"
        and str(obj.get("apiVersion") or "").startswith(_KUSTOMIZE_GROUP)
    ]
    for obj in found:
        if (obj.get("metadata") or {}).get("name") == name:
            return obj
    names = ", ".join(str((obj.get("metadata") or {}).get("name")) for obj in found)
    raise FluxError(
        f"{path}: no Flux Kustomization named '{name}'" + (f" (found: {names})" if names else "")
    )


def _parse(obj: Mapping[str, Any], namespace: str) -> tuple[KustomizationSpec, FluxBuildOptions]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise FluxError(f"Kustomization '{namespace}/{_name(obj)}' has no spec")
    readable = {key: value for key, value in spec.items() if key not in _NOT_READ}
    readable["sourceRef"] = {"kind": "GitRepository", "name": "local"}
    try:
        return parse_kustomization(readable, namespace), parse_build_options(spec)
    except TetherError as exc:
        raise FluxError(exc.message) from None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _variables(
    spec: KustomizationSpec, namespace: str, target: Target, dry_run: bool
) -> dict[str, str] | None:
    """The postBuild variables: inline ones alone, or with substituteFrom's read from the
    cluster; a source that cannot be read without one refuses the build, naming it."""
    if not spec.post_build:
        return None
    if not spec.substitute_from:
        return collect_variables(dict(spec.substitute), [])
    first = spec.substitute_from[0]
    needs = f"postBuild.substituteFrom {first.kind} '{namespace}/{first.name}' needs the cluster"
    if dry_run:
        raise FluxError(f"{needs}; --dry-run reads none")

    async def fetch() -> dict[str, str] | None:
        async with ClusterClient.from_kubeconfig(target.kubeconfig, target.context) as client:
            return await fetch_variables(client, namespace, spec)

    try:
        return asyncio.run(fetch())
    except (InputError, SubstitutionError) as exc:  # read, and missing or unreadable
        raise FluxError(str(exc)) from None
    except TetherError as exc:  # no kubeconfig, no cluster, no access
        raise FluxError(f"{needs}: {exc.message}") from None


def source_root(directory: Path, given: Path | None) -> Path:
    """The folder the build may read: ``given``; else the Git work tree holding ``directory``;
    else the current folder when it holds ``directory``; else ``directory`` itself."""
    if given is not None:
        return given.resolve()
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    here = Path.cwd().resolve()
    return here if directory.is_relative_to(here) else directory


def build_objects(request: BuildInput, directory: Path, root: Path) -> list[dict[str, Any]]:
    """The objects ``request`` builds from ``directory``, reading files inside ``root`` only."""
    path = os.path.relpath(directory, root)
    if path.startswith(".."):
        raise FluxError(f"{directory} is not inside the repository root {root}")
    try:
        return build(root, replace(request, path="" if path == "." else path))
    except TetherError as exc:
        raise FluxError(exc.message) from None


def local_build_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """NAME, ``--path``, ``--kustomization-file`` and ``--repo-root``: what a local build of a
    Kustomization reads (``build`` and ``diff`` take the same)."""
    for option in reversed((
        click.argument("name"),
        click.option("--path", "directory", required=True, type=EXISTING_DIR,
                     help="Local folder to build (replaces the source and spec.path)."),
        click.option("--kustomization-file", type=EXISTING_FILE,
                     help="YAML file holding the Kustomization (default: read it from the "
                     "cluster by NAME)."),
        click.option("--repo-root", type=EXISTING_DIR,
                     help="Folder the build may read files from (default: the enclosing Git "
                     "work tree, else the current folder when it holds --path, else --path)."),
    )):  # fmt: skip
        command = option(command)
    return command


@click.group("build", cls=KindGroup, aliases=dict.fromkeys(KUSTOMIZATION_WORDS, "kustomization"))
def build_group() -> None:
    """Build a Flux object locally, as flux build does."""


@build_group.command("kustomization")
@local_build_options
@click.option("--dry-run", is_flag=True, help="Never contact the cluster (needs the file).")
@cluster_flags
def build_kustomization_command(
    target: Target,
    name: str,
    directory: Path,
    kustomization_file: Path | None,
    repo_root: Path | None,
    dry_run: bool,
) -> None:
    """Print the objects a Kustomization builds from a local folder, as a YAML stream.

    The build is the controller's: generated kustomization.yaml, the spec's targetNamespace,
    patches, images, components, commonMetadata, strict postBuild substitution, and the
    kustomize.toolkit.fluxcd.io/name and /namespace labels.
    """
    _, _, objects = _built(target, name, directory, kustomization_file, repo_root, dry_run)
    click.echo(
        yaml.dump_all(objects, Dumper=_DUMPER, explicit_start=True, sort_keys=False), nl=False
    )


def _built(
    target: Target,
    name: str,
    directory: Path,
    kustomization_file: Path | None,
    repo_root: Path | None,
    dry_run: bool,
) -> tuple[dict[str, Any], KustomizationSpec, list[dict[str, Any]]]:
    """The Kustomization (from the file or the cluster), its spec, and what it builds from the
    local ``directory``."""
    if kustomization_file is not None:
        obj = _read_kustomization_file(kustomization_file, name)
    elif dry_run:
        raise FluxError("dry-run mode requires a kustomization file")
    else:
        obj = run_on_cluster(
            target, lambda client: get_object(client, KUSTOMIZATION, name, target.namespace)
        )
    namespace = str((obj.get("metadata") or {}).get("namespace") or target.namespace)
    spec, options = _parse(obj, namespace)
    request = BuildInput(
        namespace=namespace,
        name=name,
        path="",
        options=options,
        variables=_variables(spec, namespace, target, dry_run),
        substitute_always=spec.substitute_always,
    )
    directory = directory.resolve()
    return obj, spec, build_objects(request, directory, source_root(directory, repo_root))


@click.group("diff", cls=KindGroup, aliases=dict.fromkeys(KUSTOMIZATION_WORDS, "kustomization"))
def diff_group() -> None:
    """Compare a Flux object built locally with the cluster, as flux diff does."""


@diff_group.command("kustomization")
@local_build_options
@cluster_flags
def diff_kustomization_command(
    target: Target,
    name: str,
    directory: Path,
    kustomization_file: Path | None,
    repo_root: Path | None,
) -> None:
    """Show what applying the local folder would change in the cluster: each object drifted
    (a unified diff of the server-side apply dry run, Secret values masked), created, or
    deleted (in the Kustomization's inventory, no longer built, with prune). Exit code 1 when
    anything would change, as flux diff."""
    obj, spec, objects = _built(target, name, directory, kustomization_file, repo_root, False)
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or target.namespace)

    async def compare(client: ClusterClient) -> list[dict[str, Any]]:
        try:
            diffs = await diff_build(client, objects, obj.get("status") or {}, namespace, name,
                                     prune=spec.prune)  # fmt: skip
        except DiffError as exc:
            raise FluxError(str(exc)) from None
        return describe(diffs)

    changes = run_on_cluster(target, compare)
    for change in changes:
        where = f"{change['namespace']}/" if change["namespace"] else ""
        click.echo(f"► {change['kind']}/{where}{change['name']} {change['action']}")
        if change.get("diff"):
            click.echo(change["diff"].rstrip("\n"))
    if changes:
        raise SystemExit(1)


_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
