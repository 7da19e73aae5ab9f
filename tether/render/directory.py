"""Directory applications: YAML and JSON manifests, and Jsonnet programs, as Argo CD reads them."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from tether.render.errors import RenderError, RenderLimitError, ToolFailedError
from tether.render.globs import glob_match
from tether.render.manifests import (
    collect_objects,
    load_json,
    parse_json_manifests,
    parse_yaml_manifests,
)
from tether.render.models import DIRECTORY, JSONNET, RenderContext, RenderResult, envsubst
from tether.render.tree import Workspace, resolve_inside

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json", ".jsonnet")
_WORKER = str(Path(__file__).with_name("_jsonnet_worker.py"))


def find_manifest_files(app_dir: Path, options: dict[str, Any]) -> list[tuple[str, Path]]:
    """(path relative to the app, path) of every file the directory options select, in Argo CD's
    walk order: names sorted, a folder's files where the folder sorts."""
    recurse = bool(options.get("recurse"))
    include = options.get("include") or ""
    exclude = options.get("exclude") or ""
    found: list[tuple[str, Path]] = []
    # (entry, path relative to the app) still to look at, next one last: a folder's entries
    # take its place, so the walk is recursive in order but not in Python's stack
    pending: list[tuple[os.DirEntry[str] | None, str]] = [(None, "")]
    while pending:
        entry, rel = pending.pop()
        if entry is None or entry.is_dir(follow_symlinks=False):
            if entry is not None and not recurse:
                continue
            with os.scandir(entry.path if entry is not None else app_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
            prefix = rel + "/" if rel else ""
            pending.extend((child, prefix + child.name) for child in reversed(entries))
            continue
        if not entry.name.endswith(MANIFEST_SUFFIXES) or not entry.is_file():
            continue
        if exclude and glob_match(exclude, rel):
            continue
        if include and not glob_match(include, rel):
            continue
        found.append((rel, Path(entry.path)))
    return found


def _jsonnet_request(
    ws: Workspace, files: list[Path], options: dict[str, Any], ctx: RenderContext
) -> dict[str, Any]:
    env = ctx.build_env()
    request: dict[str, Any] = {
        "root": str(ws.repo),
        "files": [str(f) for f in files],
        "ext_vars": {},
        "ext_codes": {},
        "tla_vars": {},
        "tla_codes": {},
        "jpaths": [],
        "max_file_bytes": ws.limits.max_file_bytes,
    }
    for field, plain, code in (
        ("extVars", "ext_vars", "ext_codes"),
        ("tlas", "tla_vars", "tla_codes"),
    ):
        for item in options.get(field) or []:
            if not isinstance(item, dict) or not item.get("name"):
                raise RenderError(f"directory.jsonnet.{field}: every entry needs a name")
            value = envsubst(str(item.get("value", "")), env)
            request[code if item.get("code") else plain][item["name"]] = value
    for lib in options.get("libs") or []:
        # library paths are relative to the repository root, as in Argo CD
        resolved = resolve_inside(ws.repo, ws.repo, str(lib), "jsonnet library path")
        request["jpaths"].append(str(resolved))
    return request


_LOCATION = re.compile(r"(?P<file>[^\s:]+\.(?:jsonnet|libsonnet)):(?P<line>\d+)")


def evaluate_jsonnet(
    ws: Workspace, files: list[Path], options: dict[str, Any], ctx: RenderContext
) -> list[Any]:
    """The value of each Jsonnet file, evaluated in one bounded child process."""
    request = _jsonnet_request(ws, files, options, ctx)
    try:
        run = ws.run(
            [sys.executable, "-I", _WORKER],
            what="jsonnet evaluation",
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(ws.scratch)},
            stdin=orjson.dumps(request),
        )
        answer = orjson.loads(run.stdout)
    except ToolFailedError as exc:
        # the worker answers every error itself; a crash says the most in its last line
        detail = _last_line(exc.message.removeprefix("jsonnet evaluation failed:"))
        raise ToolFailedError(f"jsonnet evaluation failed: {detail}") from None
    except orjson.JSONDecodeError:
        raise ToolFailedError(f"jsonnet evaluation failed: {_last_line(run.stderr)}") from None
    if "error" in answer:
        file = ws.relative(answer["error"]["file"]) if answer["error"]["file"] else None
        message = answer["error"]["message"].replace(str(ws.repo) + "/", "").strip()
        first = _LOCATION.search(message)
        line = int(first.group("line")) if first and first.group("file") == file else None
        raise RenderError(f"jsonnet error: {message}", file=file, line=line)
    return [
        load_json(text.encode(), ws.relative(path), ws.limits)
        for text, path in zip(answer["results"], files, strict=True)
    ]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no answer"


def render_directory(
    ws: Workspace, app_dir: Path, options: dict[str, Any], ctx: RenderContext
) -> RenderResult:
    """Objects of every manifest file selected in ``app_dir`` (copy), Jsonnet evaluated."""
    files = find_manifest_files(app_dir, options)
    total = 0
    for _, path in files:
        total += path.stat().st_size
        if total > ws.limits.max_output_bytes:
            raise RenderLimitError(
                f"manifests add up to more than {ws.limits.max_output_bytes} bytes "
                "(output size limit)",
                file=ws.relative(path),
            )
    jsonnet_files = [path for _, path in files if path.name.endswith(".jsonnet")]
    values: dict[Path, Any] = {}
    if jsonnet_files:
        evaluated = evaluate_jsonnet(ws, jsonnet_files, options.get("jsonnet") or {}, ctx)
        values = dict(zip(jsonnet_files, evaluated, strict=True))
    objects: list[dict[str, Any]] = []
    for _, path in files:
        file = ws.relative(path)
        if path in values:
            collect_objects(values[path], file, None, objects)
        elif path.name.endswith(".json"):
            objects.extend(parse_json_manifests(ws.read(path), file, ws.limits))
        else:
            objects.extend(parse_yaml_manifests(ws.read(path), file, ws.limits))
    return RenderResult(objects=objects, tool=JSONNET if jsonnet_files else DIRECTORY)
