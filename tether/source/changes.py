"""Change detection for monorepos: which paths an application's render reads, and whether a
commit touched any of them, so that a commit to one application does not re-render the others.

The read set of an application at `P` is `P` itself plus, for Kustomize, everything its
kustomization references, followed recursively through bases and components, including `../`
references that stay inside the repository; for Helm, the value files and local (`file://`)
chart dependencies. The answer errs towards "changed": an unreadable kustomization makes the
whole application directory count, and the render itself reports the error.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any, Protocol

import yaml

from tether import safeyaml
from tether.source.errors import PathNotFoundError
from tether.source.tree import clean_repo_path

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Kustomization fields that hold a path or a list of paths, each relative to the kustomization.
_PATH_LIST_FIELDS = (
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "patchesStrategicMerge",
    "transformers",
    "generators",
    "validators",
)


class TreeReader(Protocol):
    """What change detection needs from a tree (`CommitTree` provides it)."""

    def kind(self, path: str) -> str | None:
        """file, dir, symlink or submodule; None when nothing is at `path`."""
        ...

    def read_file(self, path: str) -> bytes:
        """The content of the file at `path`."""
        ...


def _is_remote(reference: str) -> bool:
    return (
        "://" in reference
        or reference.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/"))
        or "?ref=" in reference
        or "\n" in reference
    )


def _join(base: str, reference: str) -> str | None:
    """`reference` relative to directory `base`, or None when it is remote or leaves the repo."""
    reference = reference.strip()
    if not reference or _is_remote(reference) or reference.startswith("/"):
        return None
    try:
        return clean_repo_path(posixpath.join(base, reference))
    except PathNotFoundError:
        return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _kustomization_references(document: dict[str, Any]) -> list[str]:
    """Every local path a kustomization names, as written (relative to its folder)."""
    found: list[str] = []
    for field in _PATH_LIST_FIELDS:
        found += _strings(document.get(field))
    for field in ("patches", "patchesJson6902", "replacements"):
        for item in document.get(field) or []:
            if isinstance(item, dict):
                found += _strings(item.get("path"))
            elif isinstance(item, str):
                found.append(item)
    for field in ("configMapGenerator", "secretGenerator"):
        for generator in document.get(field) or []:
            if not isinstance(generator, dict):
                continue
            for source in _strings(generator.get("files")):
                # "key=path" names the key the file's content lands under.
                found.append(source.split("=", 1)[1] if "=" in source else source)
            found += _strings(generator.get("envs"))
            found += _strings(generator.get("env"))
    for chart in document.get("helmCharts") or []:
        if isinstance(chart, dict):
            found += _strings(chart.get("valuesFile"))
            found += _strings(chart.get("additionalValuesFiles"))
    globals_ = document.get("helmGlobals")
    if isinstance(globals_, dict):
        found += _strings(globals_.get("chartHome"))
    openapi = document.get("openapi")
    if isinstance(openapi, dict):
        found += _strings(openapi.get("path"))
    return found


def _load_yaml(tree: TreeReader, path: str) -> dict[str, Any] | None:
    # The bounded loader: repository YAML may be nested 50,000 deep (PyYAML's C composer would
    # overflow its stack) or be a billion laughs. A file over the size limit raises
    # FileTooLargeError, which makes the poller count the application as changed.
    try:
        document = safeyaml.load(tree.read_file(path))
    except (PathNotFoundError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _kustomization_file(tree: TreeReader, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        candidate = f"{directory}/{name}" if directory else name
        if tree.kind(candidate) == "file":
            return candidate
    return None


def _add_kustomize_paths(tree: TreeReader, directory: str, found: set[str]) -> None:
    # A work list, not recursion: a chain of bases thousands long is legal input.
    pending = [directory]
    while pending:
        current = pending.pop()
        kustomization = _kustomization_file(tree, current)
        document = _load_yaml(tree, kustomization) if kustomization is not None else None
        for reference in _kustomization_references(document or {}):
            path = _join(current, reference)
            if path is None or path in found:
                continue
            found.add(path)
            if tree.kind(path) == "dir":
                pending.append(path)


def _add_helm_paths(
    tree: TreeReader, directory: str, value_files: Iterable[str], found: set[str]
) -> None:
    for value_file in value_files:
        # `$ref/...` value files come from another source of a multi-source application.
        if value_file.startswith("$"):
            continue
        path = _join(directory, value_file)
        if path is not None:
            found.add(path)
    pending = [directory]
    while pending:
        current = pending.pop()
        chart = _load_yaml(tree, f"{current}/Chart.yaml" if current else "Chart.yaml")
        dependencies = (chart or {}).get("dependencies")
        for dependency in dependencies if isinstance(dependencies, list) else []:
            repository = dependency.get("repository") if isinstance(dependency, dict) else None
            if isinstance(repository, str) and repository.startswith("file://"):
                path = _join(current, repository[len("file://") :])
                if path is not None and path not in found:
                    found.add(path)
                    pending.append(path)


def read_paths(
    tree: TreeReader,
    app_path: str,
    value_files: Iterable[str] = (),
    extra_paths: Iterable[str] = (),
) -> frozenset[str]:
    """The repository paths (files or folders) the render of the application at `app_path` reads.

    `value_files` are the Helm valueFiles (relative to `app_path`); `extra_paths` are further
    paths relative to `app_path`, as in Argo CD's `manifest-generate-paths` annotation (a path
    starting with `/` is taken from the repository root).
    """
    root = clean_repo_path(app_path)
    found = {root}
    _add_kustomize_paths(tree, root, found)
    _add_helm_paths(tree, root, value_files, found)
    for extra in extra_paths:
        path = _join("", extra.lstrip("/")) if extra.startswith("/") else _join(root, extra)
        if path is not None:
            found.add(path)
    return frozenset(found)


def touches(changed_paths: Iterable[str], read: Iterable[str]) -> bool:
    """True when a changed path is one of the read paths or lies under one of them."""
    exact = frozenset(read)
    if "" in exact:  # an application at the repository root reads everything
        return any(True for _ in changed_paths)
    prefixes = tuple(f"{path}/" for path in exact)
    return any(path in exact or path.startswith(prefixes) for path in changed_paths)
