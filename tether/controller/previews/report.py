"""From a comparison to what a reviewer reads: the objects that change, their fields and images
(pure), the pull request's comment in Markdown (bounded, with a link to the full diff) and the
commit status's words.

Everything shown comes from the comparison's masked objects: a Secret's values never appear.
Names and messages from a repository are hostile text: they go into code spans or fences long
enough never to be closed by what they hold, so they cannot inject Markdown or HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tether.controller.previews.models import (
    Action,
    AppPreview,
    ImageChange,
    ObjectChange,
    PullPreview,
)
from tether.engine.diff import AppDiff, ResourceDiff, SyncStatus
from tether.githost.models import fit_text

#: marks Tether's comment, so that a new push edits it instead of adding another
MARKER = "<!-- tether-preview -->"
#: the commit status's name
STATUS_CONTEXT = "tether/preview"
#: fields listed per object at most (the full diff is in the UI)
MAX_FIELDS = 20
#: characters of one object's unified diff kept for the UI
MAX_DIFF_CHARS = 64 * 1024
#: apps listed in the comment's table at most
MAX_TABLE_ROWS = 50
#: characters of an error message shown in the comment
MAX_ERROR_CHARS = 2_000

_ACTIONS: dict[SyncStatus, Action] = {
    SyncStatus.MISSING: "added",
    SyncStatus.OUT_OF_SYNC: "changed",
    SyncStatus.EXTRANEOUS: "removed",
}
# where pod specs sit in the workload kinds
_POD_SPEC_PATHS: tuple[tuple[str, ...], ...] = (
    ("spec",),  # Pod
    ("spec", "template", "spec"),  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
)


def _at(obj: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def images_of(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """Container name → image of every container (init and ephemeral ones too) of a workload."""
    found: dict[str, str] = {}
    for path in _POD_SPEC_PATHS:
        spec = _at(obj, path)
        if not isinstance(spec, Mapping):
            continue
        for section in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(section) or ():
                if isinstance(container, Mapping):
                    name, image = container.get("name"), container.get("image")
                    if isinstance(name, str) and isinstance(image, str):
                        found[name] = image
    return found


def image_changes(
    live: Mapping[str, Any] | None, desired: Mapping[str, Any] | None
) -> tuple[ImageChange, ...]:
    """The containers whose image differs between ``live`` and ``desired`` (added and removed
    containers count, with an empty side)."""
    before, after = images_of(live), images_of(desired)
    return tuple(
        ImageChange(name, before.get(name, ""), after.get(name, ""))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    )


def object_change(res: ResourceDiff) -> ObjectChange | None:
    """What the sync would do to one resource; None when it would leave it alone."""
    action = _ACTIONS.get(res.status)
    if action is None or (action == "removed" and res.ignore_extraneous):
        return None
    live, desired = res.live, res.desired
    fields: tuple[str, ...] = ()
    if action == "changed":
        fields = tuple(change.path for change in res.changes[:MAX_FIELDS])
    diff = res.diff
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + "\n… (cut: the diff is longer)\n"
    key = res.key
    return ObjectChange(
        action,
        key.group,
        key.kind,
        key.namespace or "",
        key.name,
        fields,
        image_changes(
            live if action != "added" else None, desired if action != "removed" else None
        ),
        diff,
    )


def object_changes(diff: AppDiff) -> tuple[ObjectChange, ...]:
    """Every object the sync would add, change or remove, in the comparison's order."""
    found = (object_change(res) for res in diff.resources)
    return tuple(change for change in found if change is not None)


# ---- the comment -----------------------------------------------------------------------------


def code(text: str) -> str:
    """``text`` as an inline code span no backtick run inside can close (one line)."""
    one_line = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", one_line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") or not one_line else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"


def fenced(text: str) -> str:
    """``text`` as a fenced block no line inside can close."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def link(ui_url: str, app: str, number: int) -> str:
    """The UI page of one app's preview, or empty without the UI's address."""
    if not ui_url:
        return ""
    return f"{ui_url.rstrip('/')}/applications/{app}/preview/{number}"


def _result(app: AppPreview) -> str:
    if app.failure == "render":
        return "❌ render failed"
    if app.failure == "project":
        return "❌ refused by its project"
    if app.failed:
        return "❌ could not be compared"
    if not app.objects:
        return "no change"
    return "✅ would sync"


def _row(app: AppPreview, ui_url: str, number: int) -> str:
    target = link(ui_url, app.app, number)
    name = f"[{code(app.app)}]({target})" if target else code(app.app)
    if app.failed:
        return f"| {name} | - | - | - | {_result(app)} |"
    counts = (app.count("added"), app.count("changed"), app.count("removed"))
    return f"| {name} | {counts[0]} | {counts[1]} | {counts[2]} | {_result(app)} |"


def _object_lines(change: ObjectChange, prunes: bool) -> Iterable[str]:
    verb: str = change.action
    if verb == "removed":
        verb = "removed (pruned by the sync)" if prunes else "removed from Git (prune candidate)"
    yield f"- **{verb}** {code(change.title)}"
    for image in change.images:
        old, new = (
            code(image.old) if image.old else "(none)",
            code(image.new) if image.new else "(none)",
        )
        yield f"  - image of {code(image.container)}: {old} → {new}"
    if change.fields:
        yield "  - fields: " + ", ".join(code(path) for path in change.fields)


def app_section(app: AppPreview, ui_url: str, number: int) -> str:
    """One app's part of the comment."""
    lines = [f"#### {code(app.app)}"]
    if app.failed:
        message = app.error[:MAX_ERROR_CHARS]
        lines.append(fenced(message))
    elif not app.objects:
        lines.append("Nothing would change.")
    for change in app.objects:
        lines.extend(_object_lines(change, app.prunes))
    target = link(ui_url, app.app, number)
    if target:
        lines.append(f"\n[Full diff]({target})")
    return "\n".join(lines)


def comment(preview: PullPreview, ui_url: str, max_chars: int) -> str:
    """The pull request's comment: a table of the apps, then one section each, cut to
    ``max_chars`` (the sections that do not fit are named, the UI has them)."""
    head = code(preview.head_sha[:12])
    apps = preview.apps
    if preview.error:
        return (
            f"{MARKER}\n### Tether preview at {head}\n\n{fenced(preview.error[:MAX_ERROR_CHARS])}"
        )
    if not apps:
        return (
            f"{MARKER}\n### Tether preview at {head}\n\n"
            "No Application following this branch renders files this pull request changes."
        )
    text = (
        f"{MARKER}\n### Tether preview at {head}: {len(apps)} "
        f"application{'s' if len(apps) != 1 else ''}\n\n"
        "| Application | Added | Changed | Removed | Result |\n|---|---|---|---|---|"
    )
    # the table takes at most half the room; the sections what is left
    rows = 0
    for app in apps[:MAX_TABLE_ROWS]:
        row = "\n" + _row(app, ui_url, preview.number)
        if len(text) + len(row) > max_chars // 2:
            break
        text += row
        rows += 1
    if rows < len(apps):
        text += f"\n\n… and {len(apps) - rows} more applications."
    if preview.unaffected:
        text += (
            f"\n\n{len(preview.unaffected)} other application(s) follow this branch; this pull "
            "request changes none of their files."
        )
    left_out = 0
    tail = "\n\n*Nothing is applied until the pull request is merged.*"
    room = max_chars - len(tail) - 100
    for index, app in enumerate(apps):
        section = "\n\n" + app_section(app, ui_url, preview.number)
        if len(text) + len(section) > room:
            left_out = len(apps) - index
            break
        text += section
    if left_out:
        text += f"\n\n… {left_out} more application section(s) do not fit here: see the UI."
    return fit_text(text + tail, max_chars)


def status_description(preview: PullPreview) -> str:
    """The commit status's description (hosts cap it near 140 characters)."""
    if preview.error:
        return "preview failed: " + " ".join(preview.error.split())[:100]
    failed = [app for app in preview.apps if app.failed]
    if failed:
        first = failed[0]
        return f"{first.app}: {' '.join(first.error.split())}"[:138]
    changed = sum(1 for app in preview.apps if app.objects)
    if not preview.apps:
        return "no application affected"
    return f"{len(preview.apps)} application(s) previewed, {changed} would change"
