"""The text of the pull request Tether opens for an image update (Flux's ImageUpdateAutomation
pushes to a branch; Tether's addition opens a pull request from it): a title, and a Markdown body
listing each image set (old → new, file:line) and what the change does to the rendered objects
of the Argo CD Applications (or kustomizations) holding the edited files.

Small functions over plain data; the blocking ones run off the event loop:

1. :func:`export_commit`: a commit's tree into a folder, through ``git archive`` read by
   :mod:`tarfile` with its ``data`` filter, within :class:`ExportLimits` and a timeout. Regular
   files, directories and symlinks staying inside the tree are written; symlinks leading out
   of it are dropped, submodules left out. As ``git archive`` writes them, ``.gitattributes``
   conversions apply as in a checkout and a path marked ``export-ignore`` is left out.
2. :func:`targets_for`: the Applications whose source path holds an edited file, else the
   nearest folder above the file holding a kustomization.
3. :func:`rendered_changes`: each target rendered in both trees, objects diffed, Secret values
   masked (:func:`tether.engine.masking.mask_secrets`, the rule every output uses).
4. :func:`pull_request_text`: the title, and the body cut to the host's limit.
"""

from __future__ import annotations

import difflib
import html
import os
import posixpath
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import yaml

from tether.engine.masking import mask_secrets
from tether.githost.models import fit_text
from tether.images.errors import ImageError
from tether.images.setters import FieldKind, ImageEdit
from tether.render import api as render_api
from tether.render.errors import RenderError
from tether.render.kustomize import find_kustomization
from tether.render.models import RenderResult
from tether.resources import ResourceKey
from tether.source.urls import normalize_repo_url

MiB = 1024 * 1024
#: what every host takes (GitHub and Gitea stop at 65,536 characters, GitLab at 1,000,000)
DEFAULT_BODY_LIMIT = 60_000
#: GitHub refuses a title of 256 characters or more
MAX_TITLE = 255
DEFAULT_MAX_DIFF_CHARS = 200_000
_MAX_OBJECT_YAML = 2 * MiB  # an object larger than this is listed, not diffed
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LIMITED = "the pull request body has a size limit"
_LEFT_OUT = f"diff left out: {_LIMITED}"
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ExportError(ImageError):
    """A commit's tree could not be written out (git failed or timed out, past the limits)."""


# ---- 1. a commit's tree into a folder ---------------------------------------------------------


@dataclass(frozen=True)
class ExportLimits:
    """Bounds of one export, checked from each entry's header before it is written."""

    max_entries: int = 20_000
    max_file_bytes: int = 10 * MiB  # a render refuses larger files anyway
    max_total_bytes: int = 512 * MiB


DEFAULT_EXPORT_LIMITS = ExportLimits()


def _git_env(repo: Path) -> dict[str, str]:
    """No system or user configuration, no repository discovery above ``repo``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
                "GIT_TERMINAL_PROMPT": "0", "GIT_CEILING_DIRECTORIES": str(repo.parent)})  # fmt: skip
    return env


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _extract(stream: IO[bytes], dest: Path, limits: ExportLimits) -> None:
    """Write the archive's directories, regular files and inside symlinks into ``dest``."""
    entries = total = 0
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            entries += 1
            if entries > limits.max_entries:
                raise ExportError(f"the tree has more than {limits.max_entries} entries")
            total += member.size if member.isreg() else 0
            if member.isreg() and member.size > limits.max_file_bytes:
                raise ExportError(f"{member.name!r} is over {limits.max_file_bytes} bytes")
            if total > limits.max_total_bytes:
                raise ExportError(f"the files add up to over {limits.max_total_bytes} bytes")
            if not (member.isreg() or member.isdir() or member.issym()):
                continue  # submodules and anything else git might write
            try:
                archive.extract(member, dest, filter="data")
            except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
                continue  # a symlink leading out of the tree is dropped
            except tarfile.FilterError as exc:
                raise ExportError(f"refused entry {member.name!r}: {exc}") from None


def _archive(argv: list[str], env: dict[str, str], dest: Path, limits: ExportLimits,
             timeout: float) -> str:  # fmt: skip
    """Run ``git archive`` into :func:`_extract`; why it failed ("" when it did not)."""
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill_group(process)

    unreadable = ""
    with tempfile.TemporaryFile() as stderr:
        with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=stderr, start_new_session=True) as process:  # fmt: skip
            assert process.stdout is not None
            timer = threading.Timer(timeout, expire)
            timer.start()
            try:
                try:
                    _extract(process.stdout, dest, limits)
                except tarfile.TarError as exc:
                    unreadable = str(exc)  # git's own message, when it failed, says more
                drained = 0  # git's padding after the archive's end: read, so that git can exit
                while drained < MiB and (chunk := process.stdout.read(65536)):
                    drained += len(chunk)
                process.wait()  # past the timeout, the timer kills it
            finally:
                timer.cancel()
                _kill_group(process)  # still running after an error of ours
        stderr.seek(0)
        said = stderr.read()[-4096:].decode(errors="replace").strip()
    if timed_out.is_set():
        return f"timed out after {timeout:g} s"
    if process.returncode != 0 or unreadable:
        return said.splitlines()[-1] if said else unreadable or f"exit {process.returncode}"
    return ""


def export_commit(
    repo: Path,
    commit: str,
    dest: Path,
    *,
    timeout: float,
    limits: ExportLimits = DEFAULT_EXPORT_LIMITS,
) -> None:
    """Write the tree of ``commit`` (a full SHA) of the local repository ``repo`` into ``dest``,
    which is created and must not exist. Raises :class:`ExportError`; ``dest`` is then removed.

    The tree (``<commit>^{tree}``) is archived, so no ``export-subst`` is expanded."""
    if not _SHA.fullmatch(commit):
        raise ExportError(f"{commit!r} is not a full commit SHA")
    argv = ["git", "-c", "core.autocrlf=false", "-c", "tar.umask=022", "-C", str(repo),
            "archive", "--format=tar", f"{commit}^{{tree}}"]  # fmt: skip
    dest.mkdir(parents=True)
    try:
        failure = _archive(argv, _git_env(repo), dest, limits, timeout)
        if failure:
            raise ExportError(f"git archive of {commit[:12]} failed: {failure}")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


# ---- 2. what to render ------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderTarget:
    """One thing to render in both trees: ``path`` from the repository root ("." the root),
    ``source`` the Application's ``spec.source`` (its tool options; ``{}`` for none)."""

    label: str
    path: str
    source: Mapping[str, Any] = field(default_factory=dict, hash=False)
    app_name: str = ""
    namespace: str = ""


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path.strip().lstrip("/") or ".")
    return "." if cleaned in ("", ".") else cleaned


def _holds(folder: str, path: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder + "/")


def _sources(app: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(how the label names it, source) of the Application's git sources with a path;
    ``spec.sources`` (numbered from 1, as Argo CD shows them) wins over ``spec.source``."""
    spec = app.get("spec")
    if not isinstance(spec, Mapping):
        return []
    listed = spec.get("sources")
    if isinstance(listed, list) and listed:
        return [(f" (source {n})", s) for n, s in enumerate(listed, 1) if isinstance(s, Mapping)
                and not s.get("chart") and ("path" in s or "ref" not in s)]  # fmt: skip
    source = spec.get("source")
    return [("", source)] if isinstance(source, Mapping) and not source.get("chart") else []


def _application_targets(
    app: Mapping[str, Any], repo: str, edited: Sequence[str]
) -> tuple[list[RenderTarget], set[str]]:
    """The Application's targets holding an edited file, and the files they hold."""
    meta = app.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, Mapping) else ""
    spec = app.get("spec")
    destination = spec.get("destination") if isinstance(spec, Mapping) else None
    namespace = destination.get("namespace") if isinstance(destination, Mapping) else None
    targets: list[RenderTarget] = []
    held: set[str] = set()
    for which, source in _sources(app):
        if normalize_repo_url(str(source.get("repoURL") or "")) != repo:
            continue
        folder = _clean(str(source.get("path") or ""))
        inside = {path for path in edited if _holds(folder, path)}
        if inside:
            label = f"Application {name}{which}"
            targets.append(RenderTarget(label, folder, dict(source), name, str(namespace or "")))
            held |= inside
    return targets, held


def _kustomization_folder(tree: Path, path: str) -> str | None:
    """The nearest folder at or above ``path``'s folder holding a kustomization, in ``tree``."""
    folder = posixpath.dirname(path) or "."
    while True:
        if find_kustomization(tree / folder) is not None:
            return folder
        if folder == ".":
            return None
        folder = posixpath.dirname(folder) or "."


def targets_for(
    edited_paths: Iterable[str],
    applications: Iterable[Mapping[str, Any]],
    repo_url: str,
    *,
    tree: Path,
) -> list[RenderTarget]:
    """What to render for files edited in ``repo_url`` (paths from the repository root).

    Each Application (an Argo CD Application as a dict) whose source names the same repository
    (:func:`~tether.source.urls.normalize_repo_url`: https/ssh, ``.git``, ``/`` and case
    spellings match) and whose path holds an edited file. An edited file no Application holds
    falls back to the nearest folder at or above it holding a kustomization in ``tree`` (the
    after-tree), labelled by its path; a file with neither gives nothing.
    """
    repo = normalize_repo_url(repo_url)
    edited = [p for p in dict.fromkeys(map(_clean, edited_paths)) if p.partition("/")[0] != ".."]
    found: list[RenderTarget] = []
    held: set[str] = set()
    for app in applications:
        targets, inside = _application_targets(app, repo, edited)
        found += targets
        held |= inside
    for path in edited:
        folder = None if path in held else _kustomization_folder(tree, path)
        if folder is not None:
            found.append(RenderTarget(folder, folder))
    return list(dict.fromkeys(found))


# ---- 3. what the update does to the rendered objects ------------------------------------------

ChangeKind = Literal["added", "removed", "changed"]
Renderer = Callable[..., RenderResult]


@dataclass(frozen=True)
class ObjectDiff:
    """One object the update adds, removes or changes. ``diff`` is a unified diff of its YAML
    (``--- before`` / ``+++ after``), Secret values masked; empty when ``omitted`` (past the
    size bound) or when only masked Secret values differ past what masks tell apart."""

    key: ResourceKey
    change: ChangeKind
    diff: str = ""
    omitted: bool = False


@dataclass(frozen=True)
class TargetDiff:
    """A target's changed objects (after-tree order, then removed ones); ``error`` says why it
    could not be rendered (then ``objects`` is empty)."""

    target: RenderTarget
    objects: tuple[ObjectDiff, ...] = ()
    error: str = ""


@dataclass
class _Budget:
    left: int


def _to_yaml(obj: Mapping[str, Any] | None) -> str:
    if obj is None:
        return ""
    try:
        return str(yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             default_flow_style=False, width=4096))  # fmt: skip
    except yaml.YAMLError:
        return f"{obj!r}\n"  # not plain data: should not come out of a render


def _unified(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The unified diff of two objects' YAML, in one mask space; "" past the object bound."""
    before, after = mask_secrets(before, after)
    old, new = _to_yaml(before), _to_yaml(after)
    if len(old) > _MAX_OBJECT_YAML or len(new) > _MAX_OBJECT_YAML:
        return ""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile="before", tofile="after")  # fmt: skip
    return "".join(lines)


def _by_key(objects: Iterable[Any]) -> dict[ResourceKey, dict[str, Any]]:
    found: dict[ResourceKey, dict[str, Any]] = {}
    for obj in objects:
        if isinstance(obj, dict):
            found.setdefault(ResourceKey.of(obj), obj)
    return found


def _object_diffs(before: Iterable[Any], after: Iterable[Any], budget: _Budget) -> list[ObjectDiff]:
    old, new = _by_key(before), _by_key(after)
    Pair = tuple[ResourceKey, dict[str, Any] | None, dict[str, Any] | None]
    pairs: list[Pair] = [(key, old.get(key), obj) for key, obj in new.items()]
    pairs += [(key, obj, None) for key, obj in old.items() if key not in new]
    diffs: list[ObjectDiff] = []
    for key, was, now in pairs:
        if was == now:
            continue
        change: ChangeKind = "added" if was is None else "removed" if now is None else "changed"
        text = _unified(was, now) if budget.left > 0 else ""
        if budget.left <= 0 or len(text) > budget.left:
            diffs.append(ObjectDiff(key, change, omitted=True))
            continue
        budget.left -= len(text)
        diffs.append(ObjectDiff(key, change, text, omitted=False))
    return diffs


def _rendered(render: Renderer, root: Path, target: RenderTarget) -> list[Any]:
    result = render(root, target.path, dict(target.source), app_name=target.app_name,
                    namespace=target.namespace)  # fmt: skip
    return list(result.objects)


def rendered_changes(
    before_root: Path,
    after_root: Path,
    targets: Sequence[RenderTarget],
    *,
    render: Renderer = render_api.render,
    max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS,
) -> list[TargetDiff]:
    """Render each target in both trees and pair the objects by (group, kind, namespace, name).

    Objects equal on both sides are left out. A target that does not render in a tree gives a
    :class:`TargetDiff` with the render error's message. The diffs add up to at most
    ``max_diff_chars``; objects past it are listed with ``omitted``. Blocking (renders run
    tools): call it off the event loop. It keeps no state, so calls may run in parallel.
    """
    budget = _Budget(max_diff_chars)
    results: list[TargetDiff] = []
    for target in targets:
        failing = "does not render after the update"
        try:
            after = _rendered(render, after_root, target)
            failing = "did not render before the update"
            before = _rendered(render, before_root, target)
        except RenderError as exc:
            results.append(TargetDiff(target, error=f"{failing}: {exc}"))
            continue
        results.append(TargetDiff(target, tuple(_object_diffs(before, after, budget))))
    return results


# ---- 4. the title and the body ----------------------------------------------------------------


@dataclass(frozen=True)
class ImageChange:
    """One value an update set: ``image`` is the repository (``ghcr.io/org/app``) where the
    edits tell it, else the policy's name; ``part`` which part of the image the value is
    (image, name, tag, digest, as the setter marker says)."""

    image: str
    old: str
    new: str
    file: str
    line: int
    part: str = FieldKind.IMAGE.value


def _split_ref(ref: str) -> tuple[str, str, str]:
    """(name, tag, digest) of ``name[:tag][@digest]`` (a registry's ``:port`` is not a tag)."""
    name, _, digest = ref.partition("@")
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def image_changes(edits: Iterable[ImageEdit]) -> list[ImageChange]:
    """The changes of an update's edits, in their order. A tag or digest marker's image is the
    repository another edit of the same policy names (a kustomization's ``newName``)."""
    edits = list(edits)
    names: dict[tuple[str, str], str] = {}
    for edit in edits:
        marker = edit.marker
        if marker.field in (FieldKind.IMAGE, FieldKind.NAME):
            name = _split_ref(edit.new)[0] if marker.field is FieldKind.IMAGE else edit.new
            names.setdefault((marker.policy[0], marker.policy[1]), name)
    changes = []
    for edit in edits:
        marker = edit.marker
        image = names.get((marker.policy[0], marker.policy[1]), marker.policy[1])
        changes.append(ImageChange(image, marker.value, edit.new, marker.path, marker.line,
                                   FieldKind(marker.field).value))  # fmt: skip
    return changes


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _versions(changes: Sequence[ImageChange]) -> dict[str, str]:
    """Each image's short name → the version it is set to (tags before digests)."""
    found: dict[str, dict[str, str]] = {}
    for change in changes:
        parts = found.setdefault(change.image.rsplit("/", 1)[-1], {})
        if change.part == FieldKind.IMAGE:
            _, tag, digest = _split_ref(change.new)
            parts.update({"tag": tag} if tag else {"digest": digest[:19]})  # sha256: and 12
        elif change.part in (FieldKind.TAG, FieldKind.DIGEST):
            parts[change.part] = change.new if change.part == FieldKind.TAG else change.new[:19]
        else:
            parts.setdefault("name", change.new.rsplit("/", 1)[-1])
    return {name: parts.get("tag") or parts.get("digest") or parts.get("name", "")
            for name, parts in found.items()}  # fmt: skip


def _title(changes: Sequence[ImageChange]) -> str:
    latest = _versions(changes)
    if len(latest) == 1:
        ((name, version),) = latest.items()
        return fit_text(_one_line(f"Update {name} to {version}"), MAX_TITLE, "…")
    if not latest:
        return "Update images"
    versions = [_one_line(f"{name} {version}") for name, version in latest.items()]
    for shown in range(len(versions), 0, -1):
        more = ", …" if shown < len(versions) else ""
        title = f"Update {len(versions)} images ({', '.join(versions[:shown])}{more})"
        if len(title) <= MAX_TITLE:
            return title
    return f"Update {len(versions)} images"


def _fence(text: str, info: str = "") -> str:
    """``text`` in a fenced code block no line of it can close: the fence is longer than any
    run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def _code(text: str, in_table: bool = False) -> str:
    """``text`` as an inline code span (a table cell's pipes escaped, as GFM wants them)."""
    text = _one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    span = f"{ticks}{pad}{text}{pad}{ticks}"
    return span.replace("|", "\\|") if in_table else span


def _changes_table(automation: str, changes: Sequence[ImageChange]) -> str:
    rows = [f"ImageUpdateAutomation {_code(automation)} set new images:\n\n",
            "| Image | Old | New | File |\n| --- | --- | --- | --- |\n"]  # fmt: skip
    for change in changes:
        cells = (change.image, change.old, change.new, f"{change.file}:{change.line}")
        rows.append("| " + " | ".join(_code(cell, in_table=True) for cell in cells) + " |\n")
    return "".join(rows) + "\n"


def _object_block(obj: ObjectDiff) -> str:
    head = f"{_code(str(obj.key))} {obj.change}"
    if obj.omitted:
        return f"{head}: {_LEFT_OUT}.\n\n"
    if not obj.diff:
        return f"{head} (only masked Secret values or an object too large to diff).\n\n"
    return f"{head}:\n\n{_fence(obj.diff, 'diff')}\n"


def _summary(diff: TargetDiff) -> str:
    label = html.escape(_one_line(diff.target.label))
    where = html.escape(_one_line(diff.target.path))
    tally = {c: sum(o.change == c for o in diff.objects) for c in ("changed", "added", "removed")}
    counts = ", ".join(f"{n} {c}" for c, n in tally.items() if n)
    counts = "could not be rendered" if diff.error else counts
    return f"{label} (<code>{where}</code>): {counts}"


def _more(count: int, more: bool = True) -> str:
    return f"{count}{' more' if more else ''} objects not shown: {_LIMITED}.\n\n"


def _frame(diff: TargetDiff) -> tuple[str, str, str]:
    """(head, tail, the least between them) of a target's section: a line alone for a target
    without changes, else a ``<details>`` section; the least is what says what was left out."""
    if not diff.error and not diff.objects:
        return f"- {html.escape(_one_line(diff.target.label))}: no rendered object changes\n\n", "", ""  # fmt: skip
    least = f"The render error is left out: {_LIMITED}.\n\n" if diff.error else ""
    least = least or _more(len(diff.objects))
    return f"<details>\n<summary>{_summary(diff)}</summary>\n\n", "</details>\n\n", least


def _section(diff: TargetDiff, room: int) -> str:
    """A target's section in at most ``room`` characters ("" when not even its frame fits):
    objects whose diff does not fit are named without it, and past that counted."""
    head, tail, least = _frame(diff)
    if len(head) + len(tail) + len(least) > room:
        return ""
    if not diff.objects:
        error = _fence(fit_text(diff.error, 4000), "text") + "\n" if diff.error else ""
        fits = len(head) + len(error) + len(tail) <= room
        return head + (error if fits else least) + tail
    parts, used = [head], len(head) + len(tail) + len(least)  # room for the count kept
    for index, obj in enumerate(diff.objects):
        block = _object_block(obj)
        if used + len(block) > room:
            block = _object_block(ObjectDiff(obj.key, obj.change, omitted=True))
        if used + len(block) > room:
            parts.append(_more(len(diff.objects) - index, more=index > 0))
            break
        parts.append(block)
        used += len(block)
    return "".join([*parts, tail])


def _sections(diffs: Sequence[TargetDiff], room: int) -> list[str]:
    """Each target's section, the frames of the later ones kept room for when all fit (else
    first come, first served); "" for a target left out."""
    floors = [sum(map(len, _frame(diff))) for diff in diffs]
    reserved = sum(floors) if sum(floors) <= room else 0
    sections = []
    for diff, floor in zip(diffs, floors, strict=True):
        reserved = max(0, reserved - floor)
        sections.append(_section(diff, room - reserved))
        room -= len(sections[-1])
    return sections


def pull_request_text(
    automation: str,
    changes: Sequence[ImageChange],
    diffs: Sequence[TargetDiff],
    *,
    limit: int = DEFAULT_BODY_LIMIT,
) -> tuple[str, str]:
    """(title, body) of the pull request for an update by ``automation`` (``namespace/name``).

    The body holds at most ``limit`` characters: diffs that do not fit are named without their
    text, and the images table and the footer are kept (only a table itself past the limit is
    cut, by :func:`~tether.githost.models.fit_text`).
    """
    header = _changes_table(automation, changes)
    footer = (f"---\nThis pull request is managed by Tether for ImageUpdateAutomation "
              f"{_code(automation)}; it will be updated as newer images arrive.\n")  # fmt: skip
    header += "### Rendered changes\n\n" if diffs else (
        "No rendered changes to show: no Argo CD Application or kustomization of this "
        "repository holds the edited files.\n\n")  # fmt: skip
    left_out = f"Some targets are not shown: {_LIMITED}.\n\n"
    sections = _sections(diffs, limit - len(header) - len(footer) - len(left_out))
    if not all(sections):
        sections.append(left_out)
    return _title(changes), fit_text(header + "".join(sections) + footer, limit)


__all__ = [
    "DEFAULT_BODY_LIMIT", "DEFAULT_EXPORT_LIMITS", "DEFAULT_MAX_DIFF_CHARS", "MAX_TITLE",
    "ExportError", "ExportLimits", "ImageChange", "ObjectDiff", "RenderTarget", "TargetDiff",
    "export_commit", "image_changes", "pull_request_text", "rendered_changes", "targets_for",
]  # fmt: skip
