"""Writing an Application's new image tags where its Image Updater annotations say, changing
nothing else: :func:`plan_app_updates` gives the same :class:`~tether.images.setters.UpdatePlan`
the Flux setters give, for :func:`~tether.images.setters.apply_plan` to write and
:func:`~tether.images.automation.run_update` (``planner=``) to commit.

``kustomization``: in the kustomization file (``kustomization.yaml``, ``kustomization.yml`` or
``Kustomization``, as kustomize looks for them) of the target directory, the ``images:`` entry
whose ``name`` is the image's ``kustomize.image-name`` (default: the image as written in
``image-list``) gets ``newTag`` (``digest`` with the digest strategy), and ``newName`` the image
when ``kustomize.image-name`` names another. Image Updater replaces the whole entry, as
``kustomize edit set image`` does; here only those values change, and:

* an entry that pins a ``digest`` (which kustomize prefers to ``newTag``) is a problem unless
  the strategy is digest, as is one whose ``newName`` is another repository than the image;
* a missing entry (or ``images:``) is a problem: add it once, Tether keeps it current.

``helmvalues``: the keys ``helm.image-name`` and ``helm.image-tag`` (default ``image.name``,
``image.tag``) get the image as written and the tag (``tag@digest`` with the digest strategy),
or ``helm.image-spec`` the whole ``image:tag``. A key is looked up as Image Updater does: the
dotted text as one key of the top mapping first, then as a path (``a.b[0].c``). A name that
already names the image's repository (``nginx`` for ``docker.io/library/nginx``) is kept.

A key missing from an existing block mapping (a kustomization entry's ``newTag``, the ``tag``
of ``image:``) is added as a line after the mapping's last entry, at its indentation, when that
entry is a one-line scalar; any other missing place (a flow mapping, a missing parent) is a
problem saying what to add by hand once. Values keep their quoting, as with the setters; the
edited text is parsed again and must give the same YAML events with only those values changed
or added. Files are read without following symlinks and must be one YAML document.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from tether.images.dockerconfig import DIGEST_PATTERN, TAG_PATTERN, parse_repository
from tether.images.errors import ImageError, SetterError
from tether.images.imageupdater import ImageConfig, Strategy, TargetKind, UpdaterConfig
from tether.images.setters import (
    _BOM,
    _BREAK,
    DEFAULT_SETTER_LIMITS,
    FieldKind,
    ImageEdit,
    LatestImage,
    Marker,
    MarkerProblem,
    SetterLimits,
    UpdatePlan,
    _read_regular,
    _render,
    _signature,
    _value_span,
)
from tether.safeyaml import YamlError, bounded_events

_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_INDEXED = re.compile(r"(.+)\[([0-9]+)\]")


@dataclass
class _Node:
    """A node of the parsed file, with the event that starts it and its ordinal."""

    kind: str  # scalar, alias, mapping or sequence
    event: Any
    ordinal: int
    in_flow: bool  # inside a flow collection, or one itself
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)

    @property
    def line(self) -> int:  # 0-based
        return int(self.event.start_mark.line)

    def text(self) -> str | None:
        return str(self.event.value) if self.kind == "scalar" else None

    def get(self, key: str) -> list[tuple[_Node, _Node]]:
        return [(k, v) for k, v in self.pairs if k.kind == "scalar" and k.event.value == key]


@dataclass
class _Doc:
    rel: str
    data: bytes
    bom: str
    text: str
    roots: list[_Node]
    signature: list[tuple[Any, ...]]


@dataclass(frozen=True)
class _Change:
    """One value set: ``text`` replaces ``text[start:end]``; ``key`` set means a pair is added
    after the value of event ``ordinal`` (else that event's value is replaced)."""

    start: int
    end: int
    text: str
    ordinal: int
    key: str | None
    value: str
    line: int  # 1-based: of the value, or of the line added after the last entry
    kind: FieldKind
    old: str


def _attach(stack: list[list[Any]], roots: list[_Node], node: _Node) -> None:
    if not stack:
        roots.append(node)
        return
    frame = stack[-1]
    parent: _Node = frame[0]
    if parent.kind == "sequence":
        parent.items.append(node)
    elif frame[1] is None:
        frame[1] = node
    else:
        parent.pairs.append((frame[1], node))
        frame[1] = None


def _parse(text: str, limits: SetterLimits) -> tuple[list[_Node], list[tuple[Any, ...]]]:
    """The documents' root nodes and the stream's event signatures (raises YamlError)."""
    roots: list[_Node] = []
    signature: list[tuple[Any, ...]] = []
    stack: list[list[Any]] = []  # [collection node, its pending key]
    for ordinal, event in enumerate(bounded_events(text, limits=limits.yaml)):
        signature.append(_signature(event))
        kind = type(event)
        in_flow = bool(stack) and stack[-1][0].in_flow
        if kind is ScalarEvent or kind is AliasEvent:
            node = _Node("scalar" if kind is ScalarEvent else "alias", event, ordinal, in_flow)
            _attach(stack, roots, node)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            name = "mapping" if kind is MappingStartEvent else "sequence"
            node = _Node(name, event, ordinal, in_flow or bool(event.flow_style))
            _attach(stack, roots, node)
            stack.append([node, None])
        elif issubclass(kind, CollectionEndEvent):
            stack.pop()
    return roots, signature


# ---- one value: replaced, or added to a block mapping ---------------------------------------


def _replace(doc: _Doc, node: _Node, value: str, kind: FieldKind) -> _Change | str:
    """Set a scalar's value, keeping its quoting; or why it cannot be."""
    if node.kind == "alias":
        return "the value is an alias; set the anchored value instead"
    if node.kind != "scalar":
        return "the value is a mapping or a sequence, not a scalar"
    event = node.event
    if event.style in ("|", ">") or event.start_mark.line != event.end_mark.line:
        return "the value spans several lines"
    span = _value_span(doc.text, event)
    if span is None:
        return "the value is empty: write a placeholder (such as 0.0.0) once"
    rendered = _render(value, event.style or "", node.in_flow)
    return _Change(
        span[0], span[1], rendered, node.ordinal, None, value, node.line + 1, kind, event.value
    )


def _add(doc: _Doc, mapping: _Node, key: str, value: str, kind: FieldKind) -> _Change | str:
    """Add ``key: value`` as a line after a block mapping's last entry; or why it cannot be."""
    if mapping.in_flow or not mapping.pairs:
        return "it is a flow mapping ({...}) or empty"
    if mapping.get("<<"):
        return "it merges another mapping (<<), which may hold the key"
    last_key, last = mapping.pairs[-1]
    one_line = (
        last_key.kind == "scalar"
        and last.kind == "scalar"
        and last.event.style not in ("|", ">")
        and last.line == last_key.line == last.event.end_mark.line
    )
    if not one_line:
        return f"its last entry, {last_key.text()!r}, is not a one-line scalar"
    text, end = doc.text, last.event.end_mark.index
    found = _BREAK.search(text, end)
    line_end = found.start() if found else len(text)
    rest = text[end:line_end].strip()
    if rest and not rest.startswith("#"):
        return f"its last entry, {last_key.text()!r}, is followed by more on its line"
    any_break = found or _BREAK.search(text)
    newline = any_break.group() if any_break else "\n"
    indent = " " * mapping.pairs[0][0].event.start_mark.column
    line = f"{newline}{indent}{_render(key, '', False)}: {_render(value, '', False)}"
    return _Change(line_end, line_end, line, last.ordinal, key, value, last.line + 2, kind, "")


def _set(
    doc: _Doc, mapping: _Node, key: str, value: str, kind: FieldKind, where: str
) -> _Change | str | None:
    """Replace or add ``key`` of ``mapping``; ``None`` when it already holds ``value``."""
    found = mapping.get(key)
    if len(found) > 1:
        return f"{where} has the key {key!r} twice"
    if found:
        if found[0][1].text() == value:
            return None
        return _replace(doc, found[0][1], value, kind)
    added = _add(doc, mapping, key, value, kind)
    if isinstance(added, str):
        return f"{where} has no {key!r} and it cannot be added ({added}): add {key}: once"
    return added


def _same_repository(current: str | None, image: ImageConfig) -> bool:
    try:
        return current is not None and parse_repository(current).name == image.repository
    except ImageError:
        return False


# ---- kustomization ------------------------------------------------------------------------------


def _kustomize_entry(root: _Node, name: str) -> _Node | str:
    images = root.get("images")
    entries = []
    if images and images[0][1].kind == "sequence":
        entries = [
            item
            for item in images[0][1].items
            if item.kind == "mapping" and [v.text() for _, v in item.get("name")] == [name]
        ]
    if len(entries) == 1:
        return entries[0]
    if entries:
        return f"the kustomization has {len(entries)} images entries named {name!r}"
    return (
        f"the kustomization has no images entry named {name!r}: add one once (kustomize edit "
        f"set image {name}=<image>:<tag>), and Tether keeps its newTag current"
    )


def _kustomize_changes(doc: _Doc, image: ImageConfig, new: LatestImage) -> list[_Change | str]:
    entry = _kustomize_entry(doc.roots[0], image.kustomize_name)
    if isinstance(entry, str):
        return [entry]
    where = f"the images entry {image.kustomize_name!r}"
    names_ = [v.text() for _, v in entry.get("newName")]
    changes: list[_Change | str | None] = []
    if not _same_repository(image.kustomize_name, image):  # kustomize.image-name is another
        if not (names_ and _same_repository(names_[0], image)):
            changes.append(_set(doc, entry, "newName", image.image, FieldKind.NAME, where))
    elif names_ and not _same_repository(names_[0], image):
        changes.append(
            f"{where} sets newName {names_[0]!r}, not the image {image.image!r} that is followed: "
            f"write image-list {image.alias or '<alias>'}={names_[0]} and "
            f"{image.alias or '<alias>'}.kustomize.image-name: {image.kustomize_name}"
        )
    if image.strategy is Strategy.DIGEST:
        changes.append(_set(doc, entry, "digest", new.digest or "", FieldKind.DIGEST, where))
    elif entry.get("digest"):
        changes.append(
            f"{where} pins a digest, which kustomize uses instead of newTag: remove it "
            "(or use the digest update strategy)"
        )
    else:
        changes.append(_set(doc, entry, "newTag", new.tag, FieldKind.TAG, where))
    return [change for change in changes if change is not None]


# ---- Helm values --------------------------------------------------------------------------------


def _locate(root: _Node, key: str) -> tuple[_Node, str] | _Node | str:
    """The node ``key`` names, or ``(mapping, missing key)`` where it would be added, or why
    it cannot be found: the dotted text as one top-level key, else as a path."""
    literal = root.get(key)
    if literal:
        return literal[0][1]
    node, parts = root, key.split(".")
    for number, part in enumerate(parts):
        indexed = _INDEXED.fullmatch(part)
        name = indexed.group(1) if indexed else part
        path = ".".join([*parts[:number], name])
        found = node.get(name) if node.kind == "mapping" else []
        if not found:
            if number == len(parts) - 1 and not indexed and node.kind == "mapping":
                return node, name
            return f"the values file has no {path!r} (for {key!r}): add it once"
        node = found[0][1]
        if indexed:
            position = int(indexed.group(2))
            if node.kind != "sequence" or position >= len(node.items):
                return f"{path!r} is not a sequence with an item {position} (for {key!r})"
            node = node.items[position]
        if node.kind == "alias":
            return f"{path!r} is an alias (for {key!r}): set the anchored value instead"
    return node


def _helm_set(
    doc: _Doc, key: str, value: str, kind: FieldKind, keep: Any = None
) -> _Change | str | None:
    located = _locate(doc.roots[0], key)
    if isinstance(located, str):
        return located
    if isinstance(located, tuple):
        mapping, missing = located
        return _set(doc, mapping, missing, value, kind, f"the mapping holding {key!r}")
    if located.text() == value or (keep is not None and keep(located.text())):
        return None
    change = _replace(doc, located, value, kind)
    return f"{key!r}: {change}" if isinstance(change, str) else change


def _helm_changes(doc: _Doc, image: ImageConfig, new: LatestImage) -> list[_Change | str]:
    tag = f"{new.tag}@{new.digest}" if image.strategy is Strategy.DIGEST else new.tag
    if image.helm.spec:
        found = [_helm_set(doc, image.helm.spec, f"{image.image}:{tag}", FieldKind.IMAGE)]
    else:
        same = functools.partial(_same_repository, image=image)
        found = [
            _helm_set(doc, image.helm.name, image.image, FieldKind.NAME, same),
            _helm_set(doc, image.helm.tag, tag, FieldKind.TAG),
        ]
    return [change for change in found if change is not None]


# ---- the file, and the plan ---------------------------------------------------------------------


def _target_file(root: str, config: UpdaterConfig) -> tuple[str, str] | MarkerProblem:
    """(full path, repository-relative path) of the file to edit, or why there is none."""
    target = config.target
    directory = (
        target.path if target.kind is TargetKind.KUSTOMIZATION else os.path.dirname(target.path)
    )
    where = os.path.normpath(os.path.join(root, directory))
    if os.path.realpath(where) != where:  # the root is a real path: no symlink may follow
        reason = "the write-back target's directory is reached through a symbolic link"
        return MarkerProblem(target.path, 0, reason, "")
    if target.kind is TargetKind.KUSTOMIZATION:
        names = [
            name for name in _KUSTOMIZATION_FILES if os.path.lexists(os.path.join(where, name))
        ]
        if not names:
            reason = f"no kustomization file ({', '.join(_KUSTOMIZATION_FILES)}) in the directory"
            return MarkerProblem(target.path or ".", 0, reason, "")
        rel = f"{directory}/{names[0]}" if directory else names[0]
    else:
        rel = target.path
    full = os.path.join(root, rel)
    if os.path.islink(full):
        return MarkerProblem(rel, 0, "the write-back target is a symbolic link: not followed", "")
    if not os.path.lexists(full):
        return MarkerProblem(rel, 0, "the write-back target does not exist", "")
    return full, rel


def _read_doc(full: str, rel: str, limits: SetterLimits) -> _Doc | MarkerProblem:
    data = _read_regular(full, limits.max_file_bytes)
    if isinstance(data, str):
        return MarkerProblem(rel, 0, data, "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return MarkerProblem(rel, 0, "not UTF-8 text", "")
    bom = _BOM if text.startswith(_BOM) else ""
    text = text[len(bom) :]
    try:
        roots, signature = _parse(text, limits)
    except YamlError as exc:
        return MarkerProblem(rel, 0, f"not valid YAML ({exc})", "")
    if len(roots) != 1 or roots[0].kind != "mapping":
        return MarkerProblem(rel, 0, "the file must be one YAML document holding a mapping", "")
    return _Doc(rel, data, bom, text, roots, signature)


def _check_latest(image: ImageConfig, new: LatestImage) -> str | None:
    """Why the latest image cannot be written, if it cannot."""
    if not _same_repository(new.name, image):
        return f"the latest image of {image.key!r} is {new.name!r}, not {image.image!r}"
    if not TAG_PATTERN.fullmatch(new.tag):
        return f"the latest tag of {image.key!r} is not a valid tag: {new.tag[:100]!r}"
    if image.strategy is Strategy.DIGEST and not new.digest:
        return f"the policy of {image.key!r} (digest strategy) reports no digest"
    if new.digest and not DIGEST_PATTERN.fullmatch(new.digest):
        return f"the latest digest of {image.key!r} is not a digest: {new.digest[:100]!r}"
    return None


def _same_but_changes(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], changes: list[_Change]
) -> bool:
    """Whether ``after`` is ``before`` with only the changed values, and the added pairs."""
    replaced = {change.ordinal: change.value for change in changes if change.key is None}
    added: dict[int, list[str]] = {}
    for change in changes:
        if change.key is not None:
            added.setdefault(change.ordinal, []).extend((change.key, change.value))
    if len(after) != len(before) + sum(len(values) for values in added.values()):
        return False
    position = 0
    for ordinal, old in enumerate(before):
        new = after[position]
        position += 1
        if ordinal in replaced:
            if new[0] is not ScalarEvent or new[1] != replaced[ordinal] or new[3:5] != old[3:5]:
                return False
        elif new != old:
            return False
        for value in added.get(ordinal, ()):
            new, position = after[position], position + 1
            if new[0] is not ScalarEvent or new[1] != value or new[3:5] != (None, None):
                return False
    return True


def _edited(doc: _Doc, changes: list[_Change], limits: SetterLimits) -> bytes | MarkerProblem:
    pieces, last = [], 0
    for change in sorted(changes, key=lambda change: change.start):
        pieces += [doc.text[last : change.start], change.text]
        last = change.end
    new_text = "".join([*pieces, doc.text[last:]])
    try:
        after = [_signature(event) for event in bounded_events(new_text, limits=limits.yaml)]
    except YamlError:
        after = []
    if not _same_but_changes(doc.signature, after, changes):
        reason = "setting the images would change more of the file; left as it is"
        return MarkerProblem(doc.rel, changes[0].line, reason, "")
    return (doc.bom + new_text).encode("utf-8")


def _image_changes(
    doc: _Doc,
    config: UpdaterConfig,
    latest: Mapping[str, LatestImage | None],
    problems: list[MarkerProblem],
) -> list[tuple[ImageConfig, _Change]]:
    found: list[tuple[ImageConfig, _Change]] = []
    for image in config.images:
        if image.key not in latest:
            problems.append(
                MarkerProblem(doc.rel, 0, f"no latest image given for {image.key!r}", "")
            )
            continue
        new = latest[image.key]
        if new is None:
            continue  # the policy has no latest image yet
        wrong = _check_latest(image, new)
        planner = (
            _kustomize_changes if config.target.kind is TargetKind.KUSTOMIZATION else _helm_changes
        )
        for change in [wrong] if wrong else planner(doc, image, new):
            if isinstance(change, str):
                problems.append(MarkerProblem(doc.rel, 0, f"{image.key}: {change}", ""))
            else:
                found.append((image, change))
    taken = [change.ordinal for _, change in found if change.key is None]
    if len(taken) != len(set(taken)):
        problems.append(MarkerProblem(doc.rel, 0, "two images would set the same value", ""))
    return found


def plan_app_updates(
    tree: str | os.PathLike[str],
    config: UpdaterConfig,
    latest: Mapping[str, LatestImage | None],
    *,
    limits: SetterLimits = DEFAULT_SETTER_LIMITS,
) -> UpdatePlan:
    """The edit of the Application's write-back target in the checked-out ``tree`` that sets
    each image to ``latest[image.key]`` (``None``: its policy has none yet, nothing changes),
    written nowhere: give it to :func:`~tether.images.setters.apply_plan`. What cannot be
    written is a problem of the plan (which ``apply_plan`` refuses), never a partial edit."""
    root = os.path.realpath(tree)
    if not os.path.isdir(root):
        raise SetterError(f"the checked-out tree {os.fspath(tree)!r} is not a directory", "")
    located = _target_file(root, config)
    doc = located if isinstance(located, MarkerProblem) else _read_doc(*located, limits)
    if isinstance(doc, MarkerProblem):
        return UpdatePlan(root, (), (doc,), (), {}, {})
    problems: list[MarkerProblem] = []
    found = _image_changes(doc, config, latest, problems)
    if problems or not found:
        return UpdatePlan(root, (), tuple(problems), (), {}, {})
    content = _edited(doc, [change for _, change in found], limits)
    if isinstance(content, MarkerProblem):
        return UpdatePlan(root, (), (content,), (), {}, {})
    shift, edits = 0, []
    for image, change in sorted(found, key=lambda item: item[1].start):  # stable: added in order
        shift += change.key is not None  # the lines added before, and this one
        line = change.line + shift - (change.key is not None)
        marker = Marker(doc.rel, line, image.policy, change.kind, change.old)
        edits.append(ImageEdit(marker, change.value))
    return UpdatePlan(root, tuple(edits), (), (), {doc.rel: content}, {doc.rel: doc.data})


__all__ = ["plan_app_updates"]
