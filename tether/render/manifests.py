"""Turning YAML and JSON text into validated Kubernetes objects, with file and line in errors.

YAML goes through :mod:`tether.safeyaml` (bounded, and read as Kubernetes reads it); JSON
through orjson, then the same depth and size bounds.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

import orjson

from tether.render.errors import RenderError, RenderLimitError
from tether.render.models import DEFAULT_LIMITS, RenderLimits
from tether.safeyaml import (
    KubernetesLoader,
    YamlError,
    YamlLimitError,
    YamlLimits,
    check_nesting,
    describe_value,
    iter_documents,
)


def _yaml_limits(limits: RenderLimits) -> YamlLimits:
    # sizes were checked before reading; this bound only backs that check up
    return limits.yaml(max(limits.max_file_bytes, limits.max_output_bytes))


def yaml_render_error(exc: YamlError, file: str, line_offset: int = 0) -> RenderError:
    """The RenderError for a YAML problem in ``file``: a limit error for a bound passed."""
    line = exc.line + line_offset if exc.line is not None else None
    if isinstance(exc, YamlLimitError):
        return RenderLimitError(exc.problem, file=file, line=line)
    return RenderError(f"invalid YAML: {exc.problem}", file=file, line=line)


def iter_yaml_documents(
    text: str | bytes, file: str, line_offset: int = 0, limits: RenderLimits = DEFAULT_LIMITS
) -> Iterator[tuple[Any, int]]:
    """Each document of a YAML stream with the 1-based line it starts on."""
    try:
        for doc, line in iter_documents(text, limits=_yaml_limits(limits), loader=KubernetesLoader):
            yield doc, line + line_offset
    except YamlError as exc:
        raise yaml_render_error(exc, file, line_offset) from None


def load_yaml_file_text(text: str | bytes, file: str, limits: RenderLimits = DEFAULT_LIMITS) -> Any:
    """A single-document YAML file (kustomization, Chart.yaml, values) parsed, or a RenderError."""
    for doc, _ in iter_yaml_documents(text, file, limits=limits):
        return doc
    return None


def validate_object(obj: Any, file: str, line: int | None) -> dict[str, Any]:
    """Check that ``obj`` is a Kubernetes object: a mapping with apiVersion, kind and a name."""
    if not isinstance(obj, dict):
        raise RenderError(
            f"document is not a Kubernetes object (a mapping), but {describe_value(obj)}",
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
    # a work list rather than recursion: lists of lists nest as deep as the depth limit allows
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None:
            continue
        if isinstance(item, list):
            pending.extend(reversed(item))
        elif _is_list(item):
            pending.extend(reversed(item["items"]))
        else:
            out.append(validate_object(item, file, line))


def parse_yaml_manifests(
    text: str | bytes, file: str, limits: RenderLimits = DEFAULT_LIMITS
) -> list[dict[str, Any]]:
    """All objects of a multi-document YAML file."""
    out: list[dict[str, Any]] = []
    for doc, line in iter_yaml_documents(text, file, limits=limits):
        collect_objects(doc, file, line, out)
    return out


def load_json(data: bytes, file: str, limits: RenderLimits = DEFAULT_LIMITS) -> Any:
    """A JSON value within the render's size, depth and node bounds, or a RenderError."""
    yaml_limits = _yaml_limits(limits)
    if len(data) > yaml_limits.max_bytes:
        raise RenderLimitError(f"JSON is larger than {yaml_limits.max_bytes} bytes", file=file)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.msg == "depth limit exceeded":
            # orjson stops by itself past 1,024 levels; report the render's own, lower bound
            raise RenderLimitError(
                f"nested deeper than {limits.max_yaml_depth} levels (depth limit)", file=file
            ) from None
        raise RenderError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    try:
        check_nesting(value, yaml_limits)
    except YamlLimitError as exc:
        raise RenderLimitError(exc.problem, file=file) from None
    return value


def parse_json_manifests(
    data: bytes, file: str, limits: RenderLimits = DEFAULT_LIMITS
) -> list[dict[str, Any]]:
    """The object, or the objects of an array, in a JSON file."""
    if not data.strip():
        return []
    out: list[dict[str, Any]] = []
    collect_objects(load_json(data, file, limits), file, None, out)
    return out


_SEPARATOR = re.compile(rb"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(rb"^# Source: (.+?)\s*$", re.MULTILINE)


class _Sources:
    """Which template a line of helm's output comes from: the ``# Source:`` comment above it,
    unless a ``---`` separator lies between them."""

    def __init__(self, output: bytes) -> None:
        marks: list[tuple[int, int, str | None]] = []
        for match in _SEPARATOR.finditer(output):
            marks.append((match.start(), 0, None))
        for match in _SOURCE.finditer(output):
            marks.append((match.start(), 1, match.group(1).decode(errors="replace")))
        marks.sort()
        self.lines: list[int] = []
        self.names: list[str | None] = []
        line, position = 1, 0
        for start, _, name in marks:
            line += output.count(b"\n", position, start)
            position = start
            self.lines.append(line)
            self.names.append(name)

    def at(self, line: int | None) -> tuple[str | None, int]:
        """(template, line of its ``# Source:`` comment) for an output line, or (None, 0)."""
        if line is None:
            return None, 0
        index = bisect.bisect_left(self.lines, line) - 1
        if index < 0 or self.names[index] is None:
            return None, 0
        return self.names[index], self.lines[index]


def parse_tool_output(
    output: bytes, tool: str, limits: RenderLimits = DEFAULT_LIMITS
) -> list[dict[str, Any]]:
    """Objects from the YAML stream a tool printed.

    Helm marks each document with ``# Source: chart/templates/x.yaml``; errors then name that
    template, with lines counted from that comment, rather than the anonymous stream.
    """
    anonymous = f"<{tool} output>"
    if _SOURCE.search(output) is None:
        return parse_yaml_manifests(output, anonymous, limits)
    sources = _Sources(output)
    out: list[dict[str, Any]] = []

    def where(line: int | None) -> tuple[str, int]:
        template, offset = sources.at(line)
        return (f"{template} (rendered by {tool})", offset) if template else (anonymous, 0)

    try:
        for doc, line in iter_documents(
            output, limits=_yaml_limits(limits), loader=KubernetesLoader
        ):
            file, offset = where(line)
            collect_objects(doc, file, line - offset, out)
    except YamlError as exc:
        file, offset = where(exc.line)
        raise yaml_render_error(exc, file, -offset) from None
    return out
