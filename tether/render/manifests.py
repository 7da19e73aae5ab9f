"""Turning YAML and JSON text into validated Kubernetes objects, with file and line in errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import yaml

from tether.render.errors import RenderError


def _yaml_error(exc: yaml.YAMLError, file: str, line_offset: int = 0) -> RenderError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    line = mark.line + 1 + line_offset if mark is not None else None
    return RenderError(f"invalid YAML: {problem}", file=file, line=line)


def iter_yaml_documents(
    text: str | bytes, file: str, line_offset: int = 0
) -> Iterator[tuple[Any, int]]:
    """Each document of a YAML stream with the 1-based line it starts on.

    Uses the C loader node by node so every document keeps its position for later errors.
    """
    loader = yaml.CSafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1 + line_offset
            yield loader.construct_document(node), line
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, line_offset) from None
    finally:
        loader.dispose()


def load_yaml_file_text(text: str | bytes, file: str) -> Any:
    """A single-document YAML file (kustomization, Chart.yaml, values) parsed, or a RenderError."""
    docs = [doc for doc, _ in iter_yaml_documents(text, file)]
    if not docs:
        return None
    return docs[0]


def describe(obj: Any) -> str:
    if isinstance(obj, list):
        return "a list"
    if obj is None:
        return "null"
    return f"a {type(obj).__name__} ({str(obj)[:40]!r})"


def validate_object(obj: Any, file: str, line: int | None) -> dict[str, Any]:
    """Check that ``obj`` is a Kubernetes object: a mapping with apiVersion, kind and a name."""
    if not isinstance(obj, dict):
        raise RenderError(
            f"document is not a Kubernetes object (a mapping), but {describe(obj)}",
            file=file,
            line=line,
        )
    for key in ("apiVersion", "kind"):
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            raise RenderError(f'object has no "{key}"', file=file, line=line)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise RenderError(f'{obj["kind"]} has no "metadata" mapping', file=file, line=line)
    name = metadata.get("name") or metadata.get("generateName")
    if not isinstance(name, str) or not name:
        raise RenderError(f'{obj["kind"]} has no "metadata.name"', file=file, line=line)
    return obj


def _is_list(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("kind"), str)
        and obj["kind"].endswith("List")
        and isinstance(obj.get("items"), list)
    )


def collect_objects(value: Any, file: str, line: int | None, out: list[dict[str, Any]]) -> None:
    """Append ``value`` to ``out`` as objects: ``kind: *List`` and JSON arrays are flattened,
    ``null`` (an empty document) is skipped."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            collect_objects(item, file, line, out)
        return
    if _is_list(value):
        for item in value["items"]:
            collect_objects(item, file, line, out)
        return
    out.append(validate_object(value, file, line))


def parse_yaml_manifests(text: str | bytes, file: str) -> list[dict[str, Any]]:
    """All objects of a multi-document YAML file."""
    out: list[dict[str, Any]] = []
    for doc, line in iter_yaml_documents(text, file):
        collect_objects(doc, file, line, out)
    return out


def parse_json_manifests(data: bytes, file: str) -> list[dict[str, Any]]:
    """The object, or the objects of an array, in a JSON file."""
    if not data.strip():
        return []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RenderError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    out: list[dict[str, Any]] = []
    collect_objects(value, file, None, out)
    return out


_SEPARATOR = re.compile(rb"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(rb"^# Source: (.+?)\s*$", re.MULTILINE)


def parse_tool_output(output: bytes, tool: str) -> list[dict[str, Any]]:
    """Objects from the YAML stream a tool printed.

    Helm marks each document with ``# Source: chart/templates/x.yaml``; errors then name that
    template rather than the anonymous stream.
    """
    if _SOURCE.search(output) is None:
        return parse_yaml_manifests(output, f"<{tool} output>")
    out: list[dict[str, Any]] = []
    starts = [0] + [m.end() for m in _SEPARATOR.finditer(output)]
    ends = [m.start() for m in _SEPARATOR.finditer(output)] + [len(output)]
    for start, end in zip(starts, ends, strict=True):
        chunk = output[start:end]
        source = _SOURCE.search(chunk)
        file = source.group(1).decode(errors="replace") if source else f"<{tool} output>"
        for doc, line in iter_yaml_documents(chunk, file):
            collect_objects(doc, f"{file} (rendered by {tool})", line, out)
    return out
