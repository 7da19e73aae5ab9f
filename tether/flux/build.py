"""A Flux Kustomization's objects at one commit: what ``flux build kustomization`` prints.

The steps and their order are kustomize-controller's: a private copy of the source without what
Flux leaves out of artifacts (:mod:`tether.flux.sourceignore`), SOPS files
the kustomization reads decrypted, the folder prepared (:mod:`tether.flux.kustomizations`),
``kustomize build`` with Flux's load restrictor (files above the folder load, nothing outside
the source), then per object: SOPS values decrypted, ``postBuild`` variables substituted
(:mod:`tether.flux.substitute`), ``commonMetadata`` set, and Flux's ownership labels
(``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``) stamped. Runs in a thread: files,
a subprocess and YAML, no event loop. Every failure is one :class:`~tether.errors.TetherError`
with the file (and line) where known; nothing is returned in part.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.flux.kustomizations import FluxBuildOptions, apply_common_metadata, prepare
from tether.flux.sourceignore import SourceIgnore
from tether.flux.substitute import substitute
from tether.names import FLUX_KUSTOMIZATION_NAME_LABEL, FLUX_KUSTOMIZATION_NAMESPACE_LABEL
from tether.render.decryption import decrypt_secret_values, decrypt_sources
from tether.render.errors import RenderError
from tether.render.kustomize import (
    KUSTOMIZATION_NAMES,
    check_kustomization_tree,
    render_kustomize,
)
from tether.render.models import DEFAULT_LIMITS, KUSTOMIZE, RenderLimits
from tether.render.sealed import SealedTree, check_sealed
from tether.render.tree import Workspace, is_inside
from tether.secrets.sops import SopsKeys


@dataclass(frozen=True)
class BuildInput:
    """Everything one build reads besides the tree (plain data, fetched beforehand)."""

    #: the Kustomization's namespace and name (its objects are labelled with them)
    namespace: str
    name: str
    #: ``spec.path`` as :func:`tether.flux.specs.parse_kustomization` normalised it
    path: str
    options: FluxBuildOptions
    #: ``postBuild`` variables already collected (inline ones win); None: no postBuild
    variables: Mapping[str, str] | None = None
    #: ``postBuild.substituteStrategy: Always``
    substitute_always: bool = False
    #: the GitRepository's ``spec.ignore`` (beside Flux's defaults and ``.sourceignore`` files)
    ignore: str | None = None
    decryption: SopsKeys | None = None


def build(
    tree: SealedTree | Path, spec: BuildInput, limits: RenderLimits = DEFAULT_LIMITS
) -> list[dict[str, Any]]:
    """The objects ``spec`` builds from ``tree`` (see the module docstring)."""
    if isinstance(tree, SealedTree):
        check_sealed(tree, limits)
        tree = tree.root
    ignore = SourceIgnore.of_tree(tree, spec.ignore)
    only = self_contained(tree, spec)
    with Workspace(tree, limits, only=only) as ws:
        _leave_out(ws, ignore, only)
        folder = Path(os.path.realpath(ws.repo / spec.path)) if spec.path else ws.repo
        if not is_inside(str(ws.repo), str(folder)) or not folder.is_dir():
            raise RenderError(f"kustomization path not found: {spec.path or './'}")
        if spec.decryption is not None:
            decrypt_sources(ws, folder, KUSTOMIZE, {}, spec.decryption)
        prepare(ws, folder, spec.options)
        check_kustomization_tree(ws, folder)
        ws.seal()
        objects = render_kustomize(ws, folder, root_only=False).objects
    if spec.decryption is not None:
        decrypt_secret_values(objects, spec.decryption)
    if spec.variables is not None:
        objects = substitute(objects, spec.variables, always=spec.substitute_always)
    objects = apply_common_metadata(objects, spec.options)
    return [_owned(obj, spec) for obj in objects]


def _leave_out(ws: Workspace, ignore: SourceIgnore, only: str) -> None:
    """Remove from the copy what Flux leaves out of the artifact (the build never sees it)."""
    for path in list(ignore.excluded(ws.repo, only)):
        target = ws.repo / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def self_contained(tree: Path, spec: BuildInput) -> str:
    """The Kustomization's folder when the build can read nothing outside it — no ``..`` in
    any kustomization file below it nor in the spec's components, no link — so only that folder
    is copied (a monorepo of 1,000 folders is not copied 1,000 times); "" (the whole source)
    otherwise, or when the folder is the root."""
    if not spec.path or any(".." in c for c in spec.options.components):
        return ""
    folder = tree / spec.path
    if folder.is_symlink() or not folder.is_dir():
        return ""  # the build says what is wrong with it
    for top, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            if os.path.islink(os.path.join(top, name)):
                return ""
        for name in files:
            if name in KUSTOMIZATION_NAMES:
                with open(os.path.join(top, name), "rb") as file:
                    if b".." in file.read():
                        return ""
    return spec.path


def _owned(obj: dict[str, Any], spec: BuildInput) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        FLUX_KUSTOMIZATION_NAME_LABEL: spec.name,
        FLUX_KUSTOMIZATION_NAMESPACE_LABEL: spec.namespace,
    }
    return {**obj, "metadata": metadata}
