"""The render stage's entry point: a path of a repository tree -> Kubernetes objects."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from tether.render.cache import RenderCache, RenderKey
from tether.render.decryption import decrypt_secret_values, decrypt_sources
from tether.render.directory import find_manifest_files, render_directory
from tether.render.errors import RenderError, ToolFailedError
from tether.render.helm import needs_vendoring, prepare_helm, render_helm
from tether.render.kustomize import find_kustomization, prepare_kustomize, render_kustomize
from tether.render.models import (
    DEFAULT_LIMITS,
    DIRECTORY,
    HELM,
    KUSTOMIZE,
    RenderContext,
    RenderLimits,
    RenderResult,
)
from tether.render.sandbox import can_protect_tree
from tether.render.sealed import SealedTree, check_sealed
from tether.render.tooling import helm_version, jsonnet_version, kustomize_version
from tether.render.tree import Workspace, is_inside
from tether.secrets.sops import SopsKeys

# the parts of an Application's spec.source a render depends on
_OPTION_KEYS = ("directory", "kustomize", "helm", "plugin", "chart")


def detect_tool(app_dir: Path, source: dict[str, Any] | None = None) -> str:
    """Which tool renders ``app_dir``: Argo CD's rules.

    An explicit option block (``kustomize``, ``helm``, ``directory``) decides; otherwise
    ``Chart.yaml`` means Helm, a kustomization file Kustomize, anything else a directory (whose
    ``*.jsonnet`` files are evaluated, reported as Jsonnet).
    """
    source = source or {}
    explicit = [
        name
        for key, name in (
            ("kustomize", KUSTOMIZE),
            ("helm", HELM),
            ("directory", DIRECTORY),
            ("plugin", "Plugin"),
        )
        if source.get(key)
    ]
    if len(explicit) > 1:
        raise RenderError(f"multiple application sources defined: {', '.join(explicit)}")
    if explicit == ["Plugin"]:
        raise RenderError(
            "config management plugins are not supported: Tether runs no code from a repository"
        )
    if explicit:
        return explicit[0]
    if (app_dir / "Chart.yaml").is_file():
        return HELM
    if find_kustomization(app_dir) is not None:
        return KUSTOMIZE
    return DIRECTORY


#: how long the tool versions of a cache key are reused before the binaries are looked at again
#: (finding and stating them cost ~4 % of the controller's event loop at a cold start)
TOOL_RECHECK_SECONDS = 1.0
_tool_versions: tuple[float, tuple[str, ...]] | None = None


def tool_versions() -> tuple[str, ...]:
    """Versions of every rendering tool, for cache keys; a missing tool counts as a version.
    A tool replaced on disk is seen within :data:`TOOL_RECHECK_SECONDS`."""
    global _tool_versions
    now = time.monotonic()
    kept = _tool_versions
    if kept is not None and 0 <= now - kept[0] < TOOL_RECHECK_SECONDS:
        return kept[1]
    versions: list[str] = []
    for ask in (kustomize_version, helm_version, jsonnet_version):
        try:
            versions.append(ask())
        except ToolFailedError:
            versions.append("unavailable")
    found = tuple(versions)
    _tool_versions = (now, found)
    return found


def render_key(
    path: str,
    source: dict[str, Any],
    context: RenderContext,
    limits: RenderLimits,
    decryption: SopsKeys | None = None,
) -> RenderKey:
    """The cache key of a render (without the tree: the commit stands for it)."""
    relevant = {key: source[key] for key in _OPTION_KEYS if key in source}
    parts: list[Any] = [
        relevant,
        context.app_name,
        context.namespace,
        context.kube_version,
        context.api_versions,
        context.project,
    ]
    if decryption is not None:
        # SOPS: decrypted output differs by key set; the fingerprint names the set, not the keys
        parts.append({"sops": decryption.fingerprint()})
    try:
        options = hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).digest()
    except TypeError as exc:
        raise RenderError(f"source options are not plain data: {exc}") from None
    return RenderKey(
        repo_url=context.repo_url,
        revision=context.revision,
        path=_normalise(path),
        options=options,
        limits=limits,
        tools=tool_versions(),
    )


def _normalise(path: str) -> str:
    cleaned = os.path.normpath(path.strip() or ".").replace(os.sep, "/")
    return cleaned.lstrip("/") or "."


def render(
    tree_root: Path | str | SealedTree,
    path: str = ".",
    source: dict[str, Any] | None = None,
    *,
    app_name: str = "",
    namespace: str = "",
    repo_url: str = "",
    revision: str = "",
    kube_version: str = "",
    api_versions: Sequence[str] = (),
    project: str = "default",
    limits: RenderLimits = DEFAULT_LIMITS,
    cache: RenderCache | None = None,
    decryption: SopsKeys | None = None,
    value_refs: Mapping[str, Path | SealedTree] | None = None,
) -> RenderResult:
    """Render ``path`` of the repository tree at ``tree_root`` into Kubernetes objects.

    A :class:`SealedTree` (a shared export, made read-only by :func:`seal_tree`) is read in
    place when the render writes nothing into it (tools see it through a read-only mount);
    any other tree, and renders that edit files, work on a private copy.

    ``source`` is an Argo CD Application's ``spec.source`` (its ``directory``, ``kustomize``,
    ``helm`` options are used). ``app_name`` is Helm's default release name, ``namespace`` the
    destination namespace; ``kube_version``/``api_versions`` describe the target cluster. With a
    ``cache`` and both ``repo_url`` and ``revision`` (a commit SHA), a repeated render is answered
    from the cache without touching the tree or starting a process.

    With ``decryption`` (age identities), SOPS-encrypted files the app reads are decrypted
    first and their MACs verified (see :mod:`tether.render.decryption`); the decrypted result is
    cached under the key set's fingerprint.

    ``value_refs`` (multi-source apps): the trees of the app's ``ref`` sources by name, which
    Helm value files name as ``$name/path``. The cache key does not see them: a caller caching
    such renders puts the revisions of every source into ``revision``.

    Raises :class:`RenderError` (file and line in the message where known); never returns part
    of an output.
    """
    source = source or {}
    context = RenderContext(
        app_name=app_name,
        namespace=namespace,
        kube_version=kube_version,
        api_versions=tuple(api_versions),
        repo_url=repo_url,
        revision=revision,
        path=_normalise(path),
        project=project,
        value_refs=tuple(
            (name, str(tree.root if isinstance(tree, SealedTree) else tree))
            for name, tree in sorted((value_refs or {}).items())
        ),
    )
    key: RenderKey | None = None
    if cache is not None and repo_url and revision:
        key = render_key(path, source, context, limits, decryption)
        hit = cache.get(key)
        if hit is not None:
            return hit
    tree = tree_root if isinstance(tree_root, SealedTree) else Path(tree_root)
    result = _render_uncached(tree, context.path, source, context, limits, decryption)
    if key is not None and cache is not None:
        cache.put(key, result)
    return result


def _render_uncached(
    tree: Path | SealedTree,
    path: str,
    source: dict[str, Any],
    context: RenderContext,
    limits: RenderLimits,
    decryption: SopsKeys | None = None,
) -> RenderResult:
    if source.get("chart"):
        raise RenderError(
            "charts from Helm repositories (spec.source.chart) are fetched by the controller, "
            "not rendered from a local tree: point the source at the chart's folder instead"
        )
    if isinstance(tree, SealedTree):
        check_sealed(tree, limits)
        with Workspace(tree.root, limits, in_place=True) as ws:
            app_dir, tool = _locate(ws, path, source)
            if _in_place_possible(ws, app_dir, tool, source, decryption):
                return _render_in(ws, app_dir, tool, source, context, decryption)
        tree = tree.root
    with Workspace(tree, limits) as ws:
        app_dir, tool = _locate(ws, path, source)
        return _render_in(ws, app_dir, tool, source, context, decryption)


def _locate(ws: Workspace, path: str, source: dict[str, Any]) -> tuple[Path, str]:
    """The app's folder in the workspace's tree, and the tool that renders it."""
    app_dir = Path(os.path.realpath(ws.repo / path))
    if not is_inside(str(ws.repo), str(app_dir)):
        raise RenderError(f"path {path!r} resolves outside the repository")
    if not app_dir.is_dir():
        raise RenderError(f"path {path!r} is not a directory in the repository")
    return app_dir, detect_tool(app_dir, source)


def _in_place_possible(
    ws: Workspace,
    app_dir: Path,
    tool: str,
    source: dict[str, Any],
    decryption: SopsKeys | None,
) -> bool:
    """Whether a sealed tree can be rendered where it is: nothing the preparation does writes
    into it, and any tool that runs gets it read-only."""
    if decryption is not None and tool != HELM:
        return False  # SOPS files are decrypted into the tree
    if tool == KUSTOMIZE and source.get("kustomize"):
        # the Application's options edit the kustomization: laid over it for this render only
        kfile = find_kustomization(app_dir)
        return kfile is not None and ws.can_overlay(kfile)
    if tool == HELM and needs_vendoring(ws, app_dir):
        return False  # local dependencies are copied into charts/
    if can_protect_tree(network=tool == KUSTOMIZE and ws.limits.allow_remote_bases):
        return True
    # no read-only mount here: only a directory without Jsonnet runs no tool at all
    options = dict(source.get("directory") or {})
    return tool == DIRECTORY and not any(
        p.name.endswith(".jsonnet") for _, p in find_manifest_files(app_dir, options)
    )


def _render_in(
    ws: Workspace,
    app_dir: Path,
    tool: str,
    source: dict[str, Any],
    context: RenderContext,
    decryption: SopsKeys | None,
) -> RenderResult:
    """Prepare (a copy only), seal and render ``app_dir`` with ``tool``."""
    if decryption is not None and tool != HELM:
        options = dict(source.get("kustomize" if tool == KUSTOMIZE else "directory") or {})
        decrypt_sources(ws, app_dir, tool, options, decryption)
    if tool == KUSTOMIZE:
        warnings = prepare_kustomize(ws, app_dir, dict(source.get("kustomize") or {}), context)
        ws.seal()
        result = render_kustomize(ws, app_dir)
    elif tool == HELM:
        args, warnings = prepare_helm(ws, app_dir, dict(source.get("helm") or {}), context)
        ws.seal()
        result = render_helm(ws, app_dir, args)
    else:
        ws.seal()
        warnings = []
        result = render_directory(ws, app_dir, dict(source.get("directory") or {}), context)
    if decryption is not None:
        decrypt_secret_values(result.objects, decryption)
    if warnings:
        return RenderResult(result.objects, result.tool, [*warnings, *result.warnings])
    return result
