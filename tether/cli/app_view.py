"""Reading and printing an Application, as ``argocd app list`` and ``argocd app get`` show it.

The status is read through `tether.controller.status.read_status`, as the controller, the API's
filters and the metrics read it: a missing sync or health status is ``Unknown`` everywhere.
"""

from __future__ import annotations

from typing import Any

import click

from tether.cli.api import print_data, print_fields, print_table
from tether.controller.status import UNKNOWN, AppStatus, read_status

APP_COLUMNS = (
    "NAME",
    "CLUSTER",
    "NAMESPACE",
    "PROJECT",
    "STATUS",
    "HEALTH",
    "SYNCPOLICY",
    "CONDITIONS",
    "REPO",
    "PATH",
    "TARGET",
)
#: the parts of ``status`` a row of ``app list`` shows
ROW_STATUS_PARTS = ("sync", "health", "conditions")
RESULT_COLUMNS = ("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HOOK", "MESSAGE")
HISTORY_COLUMNS = (
    "ID",
    "DATE",
    "REVISION",
    "TRIGGER",
    "INITIATED BY",
    "AUTHOR",
    "COMMITTED",
    "PATH",
    "MESSAGE",
)
#: history entries ``tether app get`` shows (newest first); ``app history`` shows all
RECENT_HISTORY = 5
#: longest commit subject or author shown in a table cell
HISTORY_TEXT_LIMIT = 120


def sync_results(app: dict[str, Any]) -> list[dict[str, Any]]:
    """``status.operationState.syncResult.resources``: what the last operation did to each
    object (hooks included)."""
    state = read_status(app).operation
    return [dict(r) for r in state.results] if state is not None else []


def compared_source(app: dict[str, Any]) -> dict[str, Any]:
    """``status.sync.comparedTo.source``: the source the sync status was computed for."""
    return dict(read_status(app).compared_source)


# ---- reading ------------------------------------------------------------------------------------


def sync_status(app: dict[str, Any]) -> str:
    """Synced, OutOfSync or Unknown."""
    return read_status(app).sync


def health_status(app: dict[str, Any]) -> str:
    """Healthy, Progressing, Degraded, Suspended, Missing or Unknown."""
    return read_status(app).health


def app_source(app: dict[str, Any]) -> dict[str, Any]:
    """The source, or the first of ``sources`` for a multi-source Application."""
    spec = app.get("spec") or {}
    if spec.get("source"):
        return dict(spec["source"])
    sources = spec.get("sources") or []
    return dict(sources[0]) if sources else {}


def _automated(app: dict[str, Any]) -> dict[str, Any] | None:
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return automated if isinstance(automated, dict) else None


def auto_reverts(app: dict[str, Any]) -> bool:
    """Manual sync with automatic drift revert: ``automated: {enabled: false, selfHeal: true}``
    (new commits wait for a sync; drift is reverted to the revision of the last sync)."""
    automated = _automated(app)
    return (
        automated is not None
        and automated.get("enabled") is False
        and bool(automated.get("selfHeal"))
    )


def sync_policy_text(app: dict[str, Any]) -> str:
    """``Manual``, ``Manual-AutoRevert``, ``Auto`` or ``Auto-Prune``: argocd's SYNCPOLICY
    column, plus Tether's manual sync with automatic drift revert."""
    automated = _automated(app)
    if auto_reverts(app):
        return "Manual-AutoRevert"
    if automated is None or automated.get("enabled") is False:
        return "Manual"
    return "Auto-Prune" if automated.get("prune") else "Auto"


def conditions_text(app: dict[str, Any], status: AppStatus | None = None) -> str:
    """``<none>`` or each condition type, with a count when it appears more than once
    (``status``: the app's, when already read)."""
    counts: dict[str, int] = {}
    for condition in (status or read_status(app)).conditions:
        ctype = condition.type or UNKNOWN
        counts[ctype] = counts.get(ctype, 0) + 1
    if not counts:
        return "<none>"
    return ",".join(f"{t}({n})" if n > 1 else t for t, n in counts.items())


def _row_status(app: dict[str, Any]) -> AppStatus:
    """The status of a row of ``app list``: only the parts it shows are read (`read_status`
    reads ``resources`` at about 12 µs an entry; a list of 1,000 apps would pay it for nothing)."""
    status = app.get("status")
    if not isinstance(status, dict):
        return read_status(app)
    return read_status({"status": {k: status[k] for k in ROW_STATUS_PARTS if k in status}})


def app_row(app: dict[str, Any]) -> list[str]:
    """One row of ``tether app list``, columns as :data:`APP_COLUMNS`."""
    spec = app.get("spec") or {}
    dest = spec.get("destination") or {}
    source = app_source(app)
    status = _row_status(app)
    return [
        str((app.get("metadata") or {}).get("name", "")),
        str(dest.get("server") or dest.get("name") or ""),
        str(dest.get("namespace", "")),
        str(spec.get("project", "")),
        status.sync,
        status.health,
        sync_policy_text(app),
        conditions_text(app, status),
        str(source.get("repoURL", "")),
        str(source.get("path") or source.get("chart") or ""),
        str(source.get("targetRevision") or "HEAD"),
    ]


def operation_done(app: dict[str, Any]) -> bool:
    """No operation requested or running: the last one (if any) has finished.

    The controller records the new ``operationState`` (``Running``) before it clears the
    requested ``operation``, so once ``operation`` is gone the state belongs to that request.
    """
    state = read_status(app).operation
    return not app.get("operation") and not (state is not None and state.running)


def _short(revision: str) -> str:
    return revision[:7] if len(revision) == 40 else revision


def resource_key_text(res: dict[str, Any]) -> str:
    """``group/Kind namespace/name`` (``Kind name`` for core, cluster-scoped objects)."""
    kind = f"{res['group']}/{res.get('kind', '')}" if res.get("group") else str(res.get("kind"))
    name = f"{res['namespace']}/{res.get('name', '')}" if res.get("namespace") else res.get("name")
    return f"{kind} {name}"


# ---- printing -----------------------------------------------------------------------------------


def _sync_policy_line(app: dict[str, Any]) -> str:
    if auto_reverts(app):
        return "Manual, auto-revert (new commits wait for a sync; drift is reverted to it)"
    policy = sync_policy_text(app)
    if policy != "Manual" and (_automated(app) or {}).get("selfHeal"):
        policy += " (self-heal)"
    return policy


def window_text(window: dict[str, Any]) -> str:
    """One sync window as ``argocd app get`` lists it: ``kind:schedule:duration``."""
    return f"{window.get('kind')}:{window.get('schedule')}:{window.get('duration')}"


def sync_window_fields(windows: dict[str, Any]) -> list[tuple[str, Any]]:
    """``Sync Window`` (allowed or denied now, and why) and the ``Assigned Windows``."""
    assigned = windows.get("assignedWindows") or []
    if not assigned and windows.get("canAutoSync"):
        return [("Sync Window", "Sync Allowed")]
    state = "Sync Allowed" if windows.get("canAutoSync") else "Sync Denied"
    line = f"{state} ({windows.get('reason')})"
    if windows.get("nextChange"):
        line += f"; changes at {windows['nextChange']}"
    if not windows.get("canAutoSync") and windows.get("canSync"):
        line += "; manual sync allowed"
    return [
        ("Sync Window", line),
        ("Assigned Windows", ",".join(window_text(w) for w in assigned) or "<none>"),
    ]


def print_app_summary(app: dict[str, Any], windows: dict[str, Any] | None = None) -> None:
    """The header of ``tether app get``: where it comes from, goes to, and its status."""
    spec = app.get("spec") or {}
    dest = spec.get("destination") or {}
    source = app_source(app)
    status = read_status(app)
    sync_line = f"{status.sync} to {source.get('targetRevision') or 'HEAD'}"
    if status.revision:
        sync_line += f" ({_short(status.revision)})"
    health_line = status.health
    if status.health_message:
        health_line += f" ({status.health_message})"
    fields: list[tuple[str, Any]] = [
        ("Name", (app.get("metadata") or {}).get("name")),
        ("Project", spec.get("project")),
        ("Server", dest.get("server") or dest.get("name")),
        ("Namespace", dest.get("namespace")),
        ("Repo", source.get("repoURL")),
        ("Target", source.get("targetRevision") or "HEAD"),
        ("Path", source.get("path") or source.get("chart")),
        ("Sync Policy", _sync_policy_line(app)),
        *(sync_window_fields(windows) if windows is not None else []),
        ("Sync Status", sync_line),
        ("Health Status", health_line),
    ]
    print_fields(fields)


def print_conditions(app: dict[str, Any]) -> None:
    conditions = read_status(app).conditions
    if not conditions:
        return
    click.echo()
    print_table(
        ("CONDITION", "MESSAGE", "LAST TRANSITION"),
        [(c.type, c.message, c.last_transition_time) for c in conditions],
    )


def print_operation(app: dict[str, Any]) -> None:
    """The last (or running) operation: argocd's ``Operation:``/``Phase:`` block."""
    state = read_status(app).operation
    if state is None:
        return
    operation = state.operation
    kind = "Sync" if "sync" in operation or not operation else next(iter(operation)).title()
    click.echo()
    print_fields(
        [
            ("Operation", kind),
            ("Sync Revision", state.revision),
            ("Phase", state.phase),
            ("Start", state.started_at),
            ("Finished", state.finished_at),
            ("Message", state.message),
        ]
    )


def _result_key(res: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(res.get("group") or ""),
        str(res.get("kind") or ""),
        str(res.get("namespace") or ""),
        str(res.get("name") or ""),
    )


def _resource_rows(status: AppStatus, results: list[dict[str, Any]]) -> list[list[Any]]:
    """Each object with its sync and health, and the last operation's message about it."""
    messages = {_result_key(r): r.get("message", "") for r in results if not r.get("hookType")}
    rows: list[list[Any]] = []
    for res in status.resources:
        key = (res.group, res.kind, res.namespace, res.name)
        rows.append([*key, res.status, res.health, "", messages.get(key, "")])
    return rows


def _hook_rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [*_result_key(h), h.get("hookPhase", ""), "", h.get("hookType", ""), h.get("message", "")]
        for h in results
        if h.get("hookType")
    ]


def print_resources(app: dict[str, Any]) -> None:
    """The Application's objects with sync and health, plus the last sync's message for each."""
    results = sync_results(app)
    rows = _resource_rows(read_status(app), results) + _hook_rows(results)
    if not rows:
        return
    click.echo()
    print_table(("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"), rows)


def print_sync_result(app: dict[str, Any]) -> None:
    """Each object the last operation touched: what happened to it and why."""
    results = sync_results(app)
    if not results:
        return
    click.echo()
    print_table(
        RESULT_COLUMNS,
        [
            (*_result_key(r), r.get("status", ""), r.get("hookType", ""), r.get("message", ""))
            for r in results
        ],
    )


def one_line(value: Any, limit: int = HISTORY_TEXT_LIMIT) -> str:
    """A commit's subject or author for a table cell: its first line, no control characters
    (a subject comes from whoever pushed: no terminal escapes reach the user's terminal),
    at most ``limit`` characters."""
    text = value if isinstance(value, str) else ""
    line = text.strip().split("\n", 1)[0]
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def history_row(entry: dict[str, Any]) -> list[Any]:
    """One deployment of ``tether app history``, columns as :data:`HISTORY_COLUMNS`: the commit's
    subject, author and date, and what started it (``trigger``: manual, rollback, automated,
    selfHeal), where the controller recorded them; entries from before have neither."""
    source = entry.get("source") or {}
    by = entry.get("initiatedBy") or {}
    commit = entry.get("revisionMetadata")
    commit = commit if isinstance(commit, dict) else {}
    return [
        entry.get("id", ""),
        entry.get("deployedAt", ""),
        entry.get("revision") or ", ".join(str(r) for r in entry.get("revisions") or []),
        one_line(entry.get("trigger")),
        "automated" if by.get("automated") else by.get("username", ""),
        one_line(commit.get("author")),
        one_line(commit.get("date")),
        source.get("path") or source.get("chart") or "",
        one_line(commit.get("message")),
    ]


def print_history(entries: list[dict[str, Any]]) -> None:
    """The deployments as a table, in the order given."""
    print_table(HISTORY_COLUMNS, [history_row(e) for e in entries])


def print_recent_history(app: dict[str, Any]) -> None:
    """The newest deployments (``tether app history`` lists them all)."""
    history = (app.get("status") or {}).get("history")
    entries = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    if not entries:
        return
    click.echo()
    print_history(list(reversed(entries[-RECENT_HISTORY:])))


def print_app(app: dict[str, Any], output: str, windows: dict[str, Any] | None = None) -> None:
    """``tether app get``: the summary (with the sync ``windows`` when given), conditions,
    last operation, recent history and resources (or the data)."""
    if output != "table":
        print_data(app, output)
        return
    print_app_summary(app, windows)
    print_conditions(app)
    print_operation(app)
    print_recent_history(app)
    print_resources(app)
