"""Flux's image setters: find ``# {"$imagepolicy": ...}`` markers in YAML files and set the
values they mark, changing nothing else in the file.

A marker is the line comment of a scalar, as Flux's image-automation-controller reads it:
``image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}`` sets the whole image
reference, ``name:tag`` (``name:tag@digest`` when the policy reports a digest);
``"<namespace>:<policy>:tag"``, ``":name"`` and ``":digest"`` set only that part (Helm values'
``repository:``/``tag:``/``digest:``, a Kustomization's ``newName:``/``newTag:``/``digest:``).
Every leading ``#`` of the comment is dropped and the rest must be a JSON object whose values are
all strings (any whitespace JSON allows; other keys ignored). Files are those under the update
path named ``*.yaml`` or ``*.yml`` (case-sensitive, as Flux) whose text holds ``"$imagepolicy"``.

An edit replaces the characters of the scalar's value and nothing else: comments, key order,
indentation, blank lines, ``---`` separators, other documents, CRLF line endings, a UTF-8 byte
order mark and the trailing newline stay byte for byte. The value keeps its quoting (plain,
'single', "double"); a plain value YAML would read as something other than a string (``1.5``,
``true``) is written double-quoted, as Flux does. The edited text is parsed again and must give
the same YAML events with only the marked values changed.

Decisions where Flux is silent or lenient:

* Flux ignores what it cannot use; here every comment holding ``"$imagepolicy"`` that cannot be
  applied is a :class:`MarkerProblem` (bad JSON, an unknown ``:field``, a marked value that is a
  mapping, sequence, alias, empty or on several lines, a policy the automation does not have, a
  digest the policy does not report), and :func:`apply_plan` writes nothing while any exists.
* Only line comments are markers. A marker alone on its line is ignored: it is usually a
  commented-out field (Flux reads it only as the head comment of a sequence item).
* A file holding the token that is not UTF-8 or not YAML, is past the size limit, is a symlink
  or is not a regular file is skipped with a :class:`SkippedFile` note, as Flux notes files it
  cannot parse and goes on. Symlinks are never followed (a target inside the tree is updated
  where it lies); ``.git`` is not walked. A walk past :class:`SetterLimits` raises.
* A policy mapped to ``None`` exists but has no latest image yet: its markers are left alone.

Paths in results are relative to the tree's root, with ``/`` separators.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
)

from tether.images.errors import SetterError
from tether.safeyaml import MiB, YamlError, YamlLimits, bounded_events

MARKER_KEY = "$imagepolicy"
_TOKEN = f'"{MARKER_KEY}"'
_BOM = "\ufeff"
# the line breaks libyaml counts: its marks' line numbers must match ours
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@:+-]*")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()  # YAML 1.1, as PyYAML and Kubernetes's go-yaml read it
_SIGNATURE_FIELDS = ("value", "style", "tag", "anchor", "implicit", "flow_style")
_FILE_YAML_LIMITS = YamlLimits(max_bytes=1 * MiB)
_EXPECTED = 'expected {"$imagepolicy": "<namespace>:<policy>[:tag|:name|:digest]"}'


@dataclass(frozen=True)
class SetterLimits:
    """Bounds of one scan of a (possibly hostile) tree."""

    max_file_bytes: int = 1 * MiB
    max_entries: int = 10_000  # files and directories walked under the update path
    max_total_bytes: int = 256 * MiB
    max_dir_depth: int = 64
    max_marker_chars: int = 1024
    yaml: YamlLimits = _FILE_YAML_LIMITS  # of each file; its max_bytes >= max_file_bytes


DEFAULT_SETTER_LIMITS = SetterLimits()


class FieldKind(StrEnum):
    """Which part of the policy's latest image a marker sets."""

    IMAGE = "image"  # name:tag, or name:tag@digest
    NAME = "name"
    TAG = "tag"
    DIGEST = "digest"


class PolicyRef(NamedTuple):
    """An ImagePolicy by namespace and name (a plain ``(namespace, name)`` tuple works too)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"


@dataclass(frozen=True)
class LatestImage:
    """What a policy selected: ``name`` is the repository as the policy reports it."""

    name: str
    tag: str
    digest: str | None = None

    @property
    def ref(self) -> str:
        ref = f"{self.name}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref

    def value_for(self, kind: FieldKind) -> str | None:
        """The text a marker of ``kind`` sets (``None``: a digest the policy does not report)."""
        parts = {FieldKind.IMAGE: self.ref, FieldKind.NAME: self.name, FieldKind.TAG: self.tag}
        return parts.get(kind, self.digest or None)


@dataclass(frozen=True)
class Marker:
    """A setter marker found in a file, with the value it marks now."""

    path: str
    line: int  # 1-based
    policy: PolicyRef
    field: FieldKind
    value: str

    @property
    def setter(self) -> str:
        """The setter as the marker writes it: ``ns:policy`` or ``ns:policy:tag``..."""
        return str(self.policy) if self.field is FieldKind.IMAGE else f"{self.policy}:{self.field}"


@dataclass(frozen=True)
class MarkerProblem:
    """A comment holding ``"$imagepolicy"`` that cannot be applied, and why."""

    path: str
    line: int
    reason: str
    comment: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class SkippedFile:
    """A candidate file that was not scanned, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ImageEdit:
    """One value changed by an update: ``marker.value`` (the old value) becomes ``new``."""

    marker: Marker
    new: str


@dataclass(frozen=True)
class ScanResult:
    markers: tuple[Marker, ...]
    problems: tuple[MarkerProblem, ...]
    skipped: tuple[SkippedFile, ...]


@dataclass(frozen=True)
class UpdatePlan:
    """Every edit of an update, computed and checked; nothing is written until applied."""

    root: str
    edits: tuple[ImageEdit, ...]
    problems: tuple[MarkerProblem, ...]
    skipped: tuple[SkippedFile, ...]
    contents: Mapping[str, bytes] = field(repr=False)  # the new bytes of each file, by path
    originals: Mapping[str, bytes] = field(repr=False)  # their bytes when planned

    @property
    def files(self) -> tuple[str, ...]:
        """The files the plan rewrites, by path."""
        return tuple(sorted(self.contents))


# ---- walking the tree ------------------------------------------------------------------------


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _resolve_start(tree: str | os.PathLike[str], path: str) -> tuple[str, str]:
    root = os.path.realpath(tree)
    if not os.path.isdir(root):
        raise SetterError(f"the checked-out tree {os.fspath(tree)!r} is not a directory", path)
    if os.path.isabs(path):
        raise SetterError(f"update path {path!r} must be relative to the repository root", path)
    start = os.path.realpath(os.path.join(root, path or "."))
    if not _inside(root, start):
        raise SetterError(f"update path {path!r} leads out of the repository", path)
    if not os.path.exists(start):
        raise SetterError(f"update path {path!r} does not exist in the repository", path)
    return root, start


def _relative(root: str, full: str) -> str:
    return os.path.relpath(full, root).replace(os.sep, "/")


def _candidate_files(
    root: str, start: str, limits: SetterLimits, notes: list[SkippedFile]
) -> list[tuple[str, str]]:
    """(full path, relative path) of every YAML file under ``start``, sorted by path."""
    if not os.path.isdir(start):
        return [(start, _relative(root, start))] if _is_yaml(start) else []
    files: list[tuple[str, str]] = []
    stack, entries = [(start, 0)], 0
    while stack:
        directory, depth = stack.pop()
        try:
            with os.scandir(directory) as listing:
                items = list(listing)
        except OSError as exc:
            notes.append(SkippedFile(_relative(root, directory), f"unreadable: {exc.strerror}"))
            continue
        entries += len(items)
        rel_dir = _relative(root, directory)
        if entries > limits.max_entries or (items and depth >= limits.max_dir_depth):
            bound = f"{limits.max_entries} entries, {limits.max_dir_depth} directory levels"
            raise SetterError(f"the update path is too large ({bound} at most)", rel_dir)
        for entry in items:
            rel = _relative(root, entry.path)
            if entry.is_symlink():
                if _is_yaml(entry.name):
                    away = "" if _inside(root, os.path.realpath(entry.path)) else " out of the tree"
                    notes.append(SkippedFile(rel, f"symbolic link{away}: not followed"))
            elif entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    stack.append((entry.path, depth + 1))
            elif _is_yaml(entry.name):
                if entry.is_file(follow_symlinks=False):
                    files.append((entry.path, rel))
                else:
                    notes.append(SkippedFile(rel, "not a regular file"))
    return sorted(files, key=lambda item: item[1])


def _read_regular(full: str, limit: int) -> bytes | str:
    """The file's bytes, or why they were not read (never through a symlink)."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
        data = b""
        while len(data) <= limit and (chunk := os.read(fd, limit + 1 - len(data))):
            data += chunk
        if len(data) > limit:
            return f"larger than {limit} bytes (setter file size limit): not scanned"
        return data
    finally:
        os.close(fd)


# ---- one file: events, comments, markers -----------------------------------------------------


@dataclass
class _Target:
    """Where a marked value lies in the text."""

    marker: Marker
    start: int
    end: int
    style: str
    in_flow: bool
    ordinal: int  # of its event in the stream


@dataclass
class _Walk:
    """What one pass over a file's events learns."""

    spans: list[tuple[int, int]] = field(default_factory=list)  # every scalar, in order
    # marker line -> (end index, ordinal, event, is a mapping key, inside a flow collection)
    line_events: dict[int, list[tuple[int, int, Any, bool, bool]]] = field(default_factory=dict)
    signature: list[tuple[Any, ...]] = field(default_factory=list)


def _signature(event: Any) -> tuple[Any, ...]:
    """What an event says, without where: (type, value, style, tag, anchor, implicit, flow)."""
    return (type(event), *(getattr(event, name, None) for name in _SIGNATURE_FIELDS))


def _walk_events(text: str, lines: set[int], limits: YamlLimits) -> _Walk:
    """One pass over the events: scalar spans, the events that end on marker lines."""
    walk = _Walk()
    frames: list[list[bool]] = []  # [is a mapping, waits for a key, is flow]
    for ordinal, event in enumerate(bounded_events(text, limits=limits)):
        walk.signature.append(_signature(event))
        kind = type(event)
        is_key = bool(frames) and frames[-1][0] and frames[-1][1]
        if kind is DocumentStartEvent:
            frames = []
        elif kind is ScalarEvent:
            walk.spans.append((event.start_mark.index, event.end_mark.index))
        elif issubclass(kind, CollectionStartEvent):
            frames.append([kind is MappingStartEvent, True, bool(event.flow_style)])
        elif issubclass(kind, CollectionEndEvent):
            frames.pop()
        complete = kind is ScalarEvent or kind is AliasEvent or issubclass(kind, CollectionEndEvent)
        if complete and frames and frames[-1][0]:
            frames[-1][1] = not frames[-1][1]
        line = event.end_mark.line
        if line in lines:
            in_flow = any(frame[2] for frame in frames)
            entry = (event.end_mark.index, ordinal, event, is_key, in_flow)
            walk.line_events.setdefault(line, []).append(entry)
    return walk


def _comment_start(text: str, begin: int, end: int, walk: _Walk, starts: list[int]) -> int | None:
    """Where the line's comment begins: a ``#`` first or after a blank, outside any scalar."""
    position = text.find("#", begin, end)
    while position != -1:
        scalar = bisect.bisect_right(starts, position) - 1
        in_scalar = scalar >= 0 and walk.spans[scalar][1] > position
        if (position == begin or text[position - 1] in " \t") and not in_scalar:
            return position
        position = text.find("#", position + 1, end)
    return None


def _parse_marker(comment: str, limit: int) -> tuple[PolicyRef, FieldKind] | str:
    """The policy and field a marker names, or what is wrong with it."""
    if len(comment) > limit:
        return f"marker comment is longer than {limit} characters"
    try:
        data = json.loads(comment.lstrip("#"))
    except (ValueError, RecursionError):
        return f"marker is not valid JSON; {_EXPECTED}"
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return f"marker is not a JSON object of strings; {_EXPECTED}"
    setter = data.get(MARKER_KEY, "")
    parts = setter.split(":")
    if len(parts) not in (2, 3):
        return f"marker value {setter!r} is not <namespace>:<policy>[:tag|:name|:digest]"
    if len(parts) == 3 and parts[2] not in ("tag", "name", "digest"):
        return f"marker field {parts[2]!r} is not one of tag, name, digest"
    if not _NAMESPACE.fullmatch(parts[0]) or not _NAME.fullmatch(parts[1]):
        return f"marker {setter!r} does not name a policy as <namespace>:<name>"
    kind = FieldKind(parts[2]) if len(parts) == 3 else FieldKind.IMAGE
    return PolicyRef(parts[0], parts[1]), kind


def _value_span(text: str, event: Any) -> tuple[int, int] | None:
    """The value's characters within a one-line scalar (after its anchor and tag)."""
    position, end = event.start_mark.index, event.end_mark.index
    for _ in range((event.anchor is not None) + (event.tag is not None)):
        while position < end and text[position] not in " \t":
            position += 1
        while position < end and text[position] in " \t":
            position += 1
    raw, style = text[position:end], event.style or ""
    plain_ok = style == "" and raw and raw == event.value
    quoted_ok = style in ("'", '"') and len(raw) >= 2 and raw[0] == style == raw[-1]
    return (position, end) if plain_ok or quoted_ok else None


def _pick_target(walk: _Walk, text: str, line: int, comment: int) -> Any:
    """The marked scalar as (event, value span, ordinal, in flow), or what is wrong."""
    found = [item for item in walk.line_events.get(line, ()) if item[0] <= comment]
    if not found:
        return "no value to set"
    _, ordinal, event, is_key, in_flow = max(found, key=lambda item: item[:2])
    kind = type(event)
    if kind is AliasEvent:
        return "the marked value is an alias; mark the anchored value instead"
    if kind is not ScalarEvent:
        collection = issubclass(kind, (CollectionStartEvent, CollectionEndEvent))
        return "the marked value is a mapping or a sequence" if collection else "no value to set"
    if is_key:
        return "the marked key's value is not on the marker's line"
    if event.start_mark.line != line:
        return "the marked value spans several lines"
    if event.start_mark.index == event.end_mark.index:
        return "the marked field has no value to set"
    span = _value_span(text, event)
    if span is None:
        return "the marked value is not a plain or quoted one-line scalar"
    return event, span, ordinal, in_flow


def _scan_text(
    rel: str, text: str, limits: SetterLimits
) -> tuple[list[_Target], list[MarkerProblem], _Walk]:
    """Every marker of one file's text (raises :class:`YamlError` when it is not YAML)."""
    starts = [0, *(match.end() for match in _BREAK.finditer(text))]
    by_line: dict[int, list[int]] = {}
    position = text.find(_TOKEN)
    while position != -1:
        by_line.setdefault(bisect.bisect_right(starts, position) - 1, []).append(position)
        position = text.find(_TOKEN, position + 1)
    walk = _walk_events(text, set(by_line), limits.yaml)
    span_starts = [start for start, _ in walk.spans]
    targets: list[_Target] = []
    problems: list[MarkerProblem] = []
    for line, positions in sorted(by_line.items()):
        begin = starts[line]
        end = _BREAK.search(text, begin)
        end_index = end.start() if end else len(text)
        comment = _comment_start(text, begin, end_index, walk, span_starts)
        if comment is None or positions[-1] < comment:
            continue  # the token is inside a value (an inline patch, a description)
        if not text[begin:comment].strip():
            continue  # a marker alone on its line: a commented-out field
        body = text[comment:end_index].strip()
        parsed = _parse_marker(body, limits.max_marker_chars)
        picked = parsed if isinstance(parsed, str) else _pick_target(walk, text, line, comment)
        if isinstance(picked, str) or isinstance(parsed, str):
            reason = picked if isinstance(picked, str) else str(parsed)
            problems.append(MarkerProblem(rel, line + 1, reason, body[: limits.max_marker_chars]))
            continue
        event, (value_start, value_end), ordinal, in_flow = picked
        marker = Marker(rel, line + 1, parsed[0], parsed[1], event.value)
        style = event.style or ""
        targets.append(_Target(marker, value_start, value_end, style, in_flow, ordinal))
    return targets, problems, walk


# ---- scanning a tree -------------------------------------------------------------------------


@dataclass
class _File:
    rel: str
    data: bytes
    bom: str
    text: str
    targets: list[_Target]
    walk: _Walk


def _scan_tree(
    root: str,
    start: str,
    limits: SetterLimits,
    problems: list[MarkerProblem],
    notes: list[SkippedFile],
) -> Iterator[_File]:
    total = 0
    for full, rel in _candidate_files(root, start, limits, notes):
        data = _read_regular(full, limits.max_file_bytes)
        if isinstance(data, str):
            notes.append(SkippedFile(rel, data))
            continue
        total += len(data)
        if total > limits.max_total_bytes:
            bound = f"{limits.max_total_bytes} bytes (setter total size limit)"
            raise SetterError(f"the YAML files under the update path exceed {bound}", rel)
        if _TOKEN.encode() not in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            notes.append(SkippedFile(rel, "not UTF-8 text: not scanned"))
            continue
        bom = _BOM if text.startswith(_BOM) else ""
        text = text[len(bom) :]
        try:
            targets, found, walk = _scan_text(rel, text, limits)
        except YamlError as exc:
            notes.append(SkippedFile(rel, f"not valid YAML ({exc}): not scanned"))
            continue
        problems.extend(found)
        yield _File(rel, data, bom, text, targets, walk)


def scan_markers(
    tree: str | os.PathLike[str], path: str = "", *, limits: SetterLimits = DEFAULT_SETTER_LIMITS
) -> ScanResult:
    """Every setter marker under ``path`` (relative to the tree's root), editing nothing.

    Problems that need no policy (a malformed marker, a marker on a mapping) are reported;
    whether the named policies exist is for :func:`plan_updates`.
    """
    problems: list[MarkerProblem] = []
    notes: list[SkippedFile] = []
    root, start = _resolve_start(tree, path)
    scanned = list(_scan_tree(root, start, limits, problems, notes))
    markers = tuple(target.marker for file in scanned for target in file.targets)
    return ScanResult(markers, tuple(problems), tuple(notes))


# ---- planning and applying -------------------------------------------------------------------


def _render(value: str, style: str, in_flow: bool) -> str:
    """``value`` written in ``style`` (plain, ' or "), so that YAML reads it back as a string."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    plain = (
        style == ""
        and _PLAIN_SAFE.fullmatch(value) is not None
        and not value.endswith(":")
        and not (in_flow and ":" in value)
        and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG
    )
    return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _new_value(
    marker: Marker, latest: Mapping[tuple[str, str], LatestImage | None]
) -> str | MarkerProblem | None:
    """The value a marker sets; ``None`` when its policy has no latest image yet."""
    policy = marker.policy
    if policy not in latest:
        reason = f"marker names image policy {policy}, which is not one of the automation's"
        return MarkerProblem(marker.path, marker.line, reason, marker.setter)
    image = latest[policy]
    value = None if image is None else image.value_for(marker.field)
    if image is not None and value is None:
        reason = (f"marker sets the digest of {policy}, which reports none "
                  "(set the policy's spec.digestReflectionPolicy)")  # fmt: skip
        return MarkerProblem(marker.path, marker.line, reason, marker.setter)
    if value is not None and (not value.isprintable() or any(c.isspace() for c in value)):
        reason = f"image policy {policy} reports an invalid {marker.field}: {value[:100]!r}"
        return MarkerProblem(marker.path, marker.line, reason, marker.setter)
    return value


def _same_but_edits(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]],
                    changed: dict[int, str]) -> bool:  # fmt: skip
    """Whether two event streams differ only in the edited values (and their quoting)."""
    if len(after) != len(before):
        return False
    for ordinal, (old, new) in enumerate(zip(before, after, strict=True)):
        if ordinal not in changed and old != new:
            return False
        if ordinal in changed and (new[0] is not ScalarEvent or new[1] != changed[ordinal]
                                   or new[3:5] != old[3:5]):  # fmt: skip
            return False
    return True


def _plan_file(
    scanned: _File,
    latest: Mapping[tuple[str, str], LatestImage | None],
    limits: SetterLimits,
    problems: list[MarkerProblem],
) -> tuple[list[ImageEdit], bytes | None]:
    """A file's edits and its new bytes (``None``: nothing to change, or a problem)."""
    edits: list[ImageEdit] = []
    pieces: list[str] = []
    changed: dict[int, str] = {}
    last, text = 0, scanned.text
    for target in scanned.targets:
        value = _new_value(target.marker, latest)
        if isinstance(value, MarkerProblem):
            problems.append(value)
        elif value is not None and value != target.marker.value:
            pieces += [text[last : target.start], _render(value, target.style, target.in_flow)]
            last = target.end
            changed[target.ordinal] = value
            edits.append(ImageEdit(target.marker, value))
    if not edits:
        return [], None
    new_text = "".join([*pieces, text[last:]])
    try:
        after = [_signature(event) for event in bounded_events(new_text, limits=limits.yaml)]
    except YamlError:
        after = []
    if not _same_but_edits(scanned.walk.signature, after, changed):
        reason = "setting the marked values would change more of the file; left as it is"
        problems.append(MarkerProblem(scanned.rel, edits[0].marker.line, reason, ""))
        return [], None
    return edits, (scanned.bom + new_text).encode("utf-8")


def plan_updates(
    tree: str | os.PathLike[str],
    path: str,
    latest: Mapping[tuple[str, str], LatestImage | None],
    *,
    limits: SetterLimits = DEFAULT_SETTER_LIMITS,
) -> UpdatePlan:
    """Every edit that setting the markers under ``path`` to ``latest`` makes, written nowhere.

    ``latest`` maps each policy of the automation, ``(namespace, name)``, to its latest image
    (``None``: the policy has none yet, its markers stay). A marker naming another policy is a
    problem of the plan, as is every marker :func:`scan_markers` cannot use.
    """
    problems: list[MarkerProblem] = []
    notes: list[SkippedFile] = []
    edits: list[ImageEdit] = []
    contents: dict[str, bytes] = {}
    originals: dict[str, bytes] = {}
    root, start = _resolve_start(tree, path)
    for scanned in _scan_tree(root, start, limits, problems, notes):
        file_edits, content = _plan_file(scanned, latest, limits, problems)
        if content is not None:
            edits += file_edits
            contents[scanned.rel] = content
            originals[scanned.rel] = scanned.data
    return UpdatePlan(root, tuple(edits), tuple(problems), tuple(notes), contents, originals)


def apply_plan(plan: UpdatePlan) -> UpdatePlan:
    """Write a plan's files, all or none: refused (:class:`SetterError`) while the plan has
    problems, or when a file changed since it was planned."""
    if plan.problems:
        shown = "; ".join(str(problem) for problem in plan.problems[:5])
        more = f" (and {len(plan.problems) - 5} more)" if len(plan.problems) > 5 else ""
        message = f"image markers cannot be applied, nothing was written: {shown}{more}"
        raise SetterError(message, plan.problems[0].path)
    written: list[tuple[str, str]] = []  # (temporary file, destination)
    try:
        for rel, content in sorted(plan.contents.items()):
            destination = os.path.join(plan.root, rel)
            if _read_regular(destination, len(plan.originals[rel])) != plan.originals[rel]:
                raise SetterError(f"{rel} changed since the update was planned", rel)
            mode = stat.S_IMODE(os.stat(destination, follow_symlinks=False).st_mode)
            fd, temporary = tempfile.mkstemp(dir=os.path.dirname(destination), prefix=".tether-")
            written.append((temporary, destination))
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.chmod(temporary, mode)
    except BaseException as exc:
        for temporary, _ in written:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(exc, OSError):
            raise SetterError(f"writing the update failed: {exc}", exc.filename or "") from None
        raise
    for temporary, destination in written:
        os.replace(temporary, destination)
    return plan


def apply_updates(
    tree: str | os.PathLike[str],
    path: str,
    latest: Mapping[tuple[str, str], LatestImage | None],
    *,
    limits: SetterLimits = DEFAULT_SETTER_LIMITS,
) -> UpdatePlan:
    """Set every marker under ``path`` to ``latest``, rewriting the files that change; returns
    the plan it wrote. All or nothing: any :class:`MarkerProblem` raises :class:`SetterError`
    before a byte is written."""
    return apply_plan(plan_updates(tree, path, latest, limits=limits))
