"""The Git generators: one parameter set per directory matching ``directories`` (minus those
an ``exclude: true`` entry matches, and those starting with ``.``), or per object in the JSON or
YAML files matching ``files``; ``pathParamPrefix`` and ``values`` as Argo CD has them.

Directory patterns are Go's ``path.Match`` (``*`` within one segment); file patterns also take
``**`` across segments. The tree is the commit the caller resolved for ``repoURL``/``revision``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from tether import safeyaml
from tether.appsets.errors import MAX_PARAMS, AppSetError
from tether.appsets.generators.context import Context, GitTree
from tether.appsets.params import Params, flatten
from tether.appsets.render import fasttemplate, go_template, missing_key
from tether.globs import GlobSyntax, glob_match
from tether.gotemplate.sprig_data import normalize_name as normalized

#: Go's path.Match: ``*`` and ``?`` stay within one segment, ``[^a]`` negates
PATH_MATCH = GlobSyntax(separators="/", class_negators="^")
#: bytes of one parameter file at most
MAX_FILE_BYTES = 1 << 20

__all__ = ["git", "normalized"]


def _patterns(entries: Any, where: str) -> tuple[list[str], list[str]]:
    if not isinstance(entries, list) or not entries:
        raise AppSetError(f"{where} must list at least one path")
    include: list[str] = []
    exclude: list[str] = []
    for index, entry in enumerate(entries):
        path = entry.get("path") if isinstance(entry, Mapping) else None
        if not isinstance(path, str) or not path:
            raise AppSetError(f"{where}[{index}].path is required")
        (exclude if entry.get("exclude") is True else include).append(path.strip("/") or "*")
    return include, exclude


def _matches(patterns: list[str], path: str) -> bool:
    return any(glob_match(p, path, PATH_MATCH) for p in patterns)


def _entries(tree: GitTree) -> list[tuple[str, str]]:
    found = []
    for entry in tree.walk():
        path, kind = str(getattr(entry, "path", "")), str(getattr(entry, "kind", ""))
        if any(part.startswith(".") for part in path.split("/")):
            continue  # .git, .github and the like, as Argo CD
        found.append((path, kind))
    return found


def _path_params(directory: str, filename: str | None, go: bool, prefix: str) -> Params:
    segments = directory.split("/") if directory else []
    basename = posixpath.basename(directory)
    if go:
        values: dict[str, Any] = {
            "path": directory,
            "basename": basename,
            "basenameNormalized": normalized(basename),
            "segments": segments,
        }
        if filename is not None:
            values.update(filename=filename, filenameNormalized=normalized(filename))
        return {prefix: {"path": values}} if prefix else {"path": values}
    name = f"{prefix}.path" if prefix else "path"
    flat: Params = {
        name: directory,
        f"{name}.basename": basename,
        f"{name}.basenameNormalized": normalized(basename),
        **{f"{name}[{i}]": segment for i, segment in enumerate(segments)},
    }
    if filename is not None:
        flat.update({f"{name}.filename": filename,
                     f"{name}.filenameNormalized": normalized(filename)})  # fmt: skip
    return flat


def _directories(tree: GitTree, spec: Any, go: bool, prefix: str, where: str) -> list[Params]:
    include, exclude = _patterns(spec, f"{where}.directories")
    found = []
    for path, kind in _entries(tree):
        if kind == "dir" and _matches(include, path) and not _matches(exclude, path):
            found.append(_path_params(path, None, go, prefix))
            if len(found) > MAX_PARAMS:
                break
    return found


def _file_objects(tree: GitTree, path: str, where: str) -> list[Any]:
    data = tree.read_file(path)
    if len(data) > MAX_FILE_BYTES:
        raise AppSetError(f"{where}: {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        document = safeyaml.load(data)  # JSON is YAML
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise AppSetError(f"{where}: {path} is not JSON or YAML: {exc}") from None
    if document is None:
        return []
    items = document if isinstance(document, list) else [document]
    if not all(isinstance(item, Mapping) for item in items):
        raise AppSetError(f"{where}: {path} must hold an object or a list of objects")
    return items


def _files(tree: GitTree, spec: Any, go: bool, prefix: str, where: str) -> list[Params]:
    include, exclude = _patterns(spec, f"{where}.files")
    found: list[Params] = []
    for path, kind in _entries(tree):
        if kind != "file" or not _matches(include, path) or _matches(exclude, path):
            continue
        directory = posixpath.dirname(path)
        for item in _file_objects(tree, path, where):
            params = dict(item) if go else flatten(item)
            params.update(_path_params(directory, posixpath.basename(path), go, prefix))
            found.append(params)
        if len(found) > MAX_PARAMS:
            break
    return found


def git(spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str) -> list[Params]:
    repo = spec.get("repoURL")
    if not isinstance(repo, str) or not repo:
        raise AppSetError(f"{where}.repoURL is required")
    revision = str(spec.get("revision") or "HEAD")
    prefix = str(spec.get("pathParamPrefix") or "")
    directories, files = spec.get("directories"), spec.get("files")
    if bool(directories) == bool(files):
        raise AppSetError(f"{where}: give either directories or files")
    tree = ctx.tree(repo, revision)
    if directories:
        found = _directories(tree, directories, go, prefix, where)
    else:
        found = _files(tree, files, go, prefix, where)
    values = spec.get("values") or {}
    if not isinstance(values, Mapping):
        raise AppSetError(f"{where}.values must be an object")
    if values:
        missing = missing_key(())
        for params in found:
            if go:
                params["values"] = {
                    str(k): go_template(str(v), params, missing) for k, v in values.items()
                }
            else:
                params.update(
                    {f"values.{k}": fasttemplate(str(v), params) for k, v in values.items()}
                )
    return found
