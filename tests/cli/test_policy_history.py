"""The sync policy flags and the history columns, without a server: the manual sync with automatic
drift revert (``--sync-policy manual --self-heal``), how each policy reads in ``app list`` and
``app get``, and the commit and trigger of each history entry."""

from __future__ import annotations

import copy
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tether.cli.api import CliError
from tether.cli.app_spec import SpecChanges, build_application
from tether.cli.app_view import (
    HISTORY_COLUMNS,
    HISTORY_TEXT_LIMIT,
    RECENT_HISTORY,
    history_row,
    print_app,
    print_app_summary,
    sync_policy_text,
)

AUTO_REVERT = {"enabled": False, "selfHeal": True}


def app_with(automated: dict[str, Any] | None, **status: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if automated is not None:
        policy["automated"] = automated
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "pay"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "http://git/r.git", "path": "apps/pay"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "pay"},
            "syncPolicy": policy,
        },
        "status": status,
    }


def policy_after(automated: dict[str, Any] | None, **flags: Any) -> dict[str, Any] | None:
    """``spec.syncPolicy.automated`` after ``tether app set`` with ``flags``."""
    app = app_with(copy.deepcopy(automated))
    SpecChanges(**flags).apply(app)
    result: dict[str, Any] | None = app["spec"]["syncPolicy"].get("automated")
    return result


@pytest.mark.parametrize(
    ("before", "flags", "after"),
    [
        # the production mode, from each other policy
        (None, {"sync_policy": "manual", "self_heal": True}, AUTO_REVERT),
        (
            {"prune": True},
            {"sync_policy": "manual", "self_heal": True},
            {**AUTO_REVERT, "prune": True},
        ),
        ({"enabled": False}, {"self_heal": True}, AUTO_REVERT),
        # leaving it: automated keeps self-heal, none and manual clear it (argocd's meaning)
        (AUTO_REVERT, {"sync_policy": "automated"}, {"selfHeal": True}),
        (AUTO_REVERT, {"sync_policy": "none"}, None),
        (AUTO_REVERT, {"sync_policy": "manual"}, None),
        (AUTO_REVERT, {"sync_policy": "manual", "self_heal": False}, None),
        (AUTO_REVERT, {"self_heal": False}, {"enabled": False, "selfHeal": False}),
        # changing prune keeps the production mode
        (AUTO_REVERT, {"auto_prune": True}, {**AUTO_REVERT, "prune": True}),
        # as before
        (None, {"sync_policy": "automated", "self_heal": True}, {"selfHeal": True}),
        ({"prune": True}, {"sync_policy": "none"}, None),
        (None, {"sync_policy": "none", "auto_prune": False}, None),
    ],
)
def test_sync_policy_flags_write_each_mode(
    before: dict[str, Any] | None, flags: dict[str, Any], after: dict[str, Any] | None
) -> None:
    assert policy_after(before, **flags) == after


def test_self_heal_without_a_policy_names_both_ways_forward() -> None:
    with pytest.raises(CliError) as refused:
        policy_after(None, self_heal=True)
    assert "--sync-policy automated" in refused.value.message
    assert "--sync-policy manual --self-heal" in refused.value.message
    with pytest.raises(CliError, match="--sync-policy manual --self-heal"):
        policy_after(AUTO_REVERT, sync_policy="none", self_heal=True)


def test_create_writes_manual_sync_with_auto_revert() -> None:
    changes = SpecChanges(
        repo="http://git/r.git",
        path="apps/x",
        dest_server="https://kubernetes.default.svc",
        sync_policy="manual",
        self_heal=True,
    )
    app = build_application("x", None, changes)
    assert app["spec"]["syncPolicy"] == {"automated": AUTO_REVERT}


def test_each_policy_reads_distinctly_in_list_and_get() -> None:
    texts = {
        "none": sync_policy_text(app_with(None)),
        "disabled": sync_policy_text(app_with({"enabled": False, "prune": True})),
        "auto-revert": sync_policy_text(app_with(AUTO_REVERT)),
        "auto": sync_policy_text(app_with({"selfHeal": True})),
        "auto-prune": sync_policy_text(app_with({"prune": True, "enabled": True})),
    }
    assert texts == {
        "none": "Manual",
        "disabled": "Manual",
        "auto-revert": "Manual-AutoRevert",
        "auto": "Auto",
        "auto-prune": "Auto-Prune",
    }

    def summary(automated: dict[str, Any] | None) -> str:
        @click.command()
        def show() -> None:
            print_app_summary(app_with(automated))

        line = [s for s in CliRunner().invoke(show).output.splitlines() if "Sync Policy" in s]
        return line[0].split(":", 1)[1].strip()

    assert summary(AUTO_REVERT).startswith("Manual, auto-revert")
    assert summary({"selfHeal": True}) == "Auto (self-heal)"
    assert summary({"enabled": False, "selfHeal": False}) == "Manual"


def entry(id: int, trigger: str | None = None, **commit: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id,
        "revision": f"{id:040x}",
        "deployedAt": f"2026-12-05T10:0{id}:00Z",
        "source": {"path": "apps/pay"},
        "initiatedBy": {"automated": True}
        if trigger in ("automated", "selfHeal")
        else {"username": "admin"},
    }
    if trigger:
        out["trigger"] = trigger
    if commit:
        out["revisionMetadata"] = commit
    return out


def test_history_rows_show_trigger_and_commit_and_old_entries_as_before() -> None:
    new = entry(
        3, "selfHeal", author="Jane <jane@example.com>", date="2026-12-05T09:00:00Z",
        message="Raise replicas",
    )  # fmt: skip
    row = dict(zip(HISTORY_COLUMNS, history_row(new), strict=True))
    assert row == {
        "ID": 3,
        "DATE": "2026-12-05T10:03:00Z",
        "REVISION": f"{3:040x}",
        "TRIGGER": "selfHeal",
        "INITIATED BY": "automated",
        "AUTHOR": "Jane <jane@example.com>",
        "COMMITTED": "2026-12-05T09:00:00Z",
        "PATH": "apps/pay",
        "MESSAGE": "Raise replicas",
    }
    old = dict(zip(HISTORY_COLUMNS, history_row(entry(0)), strict=True))
    assert old["INITIATED BY"] == "admin"
    assert (old["TRIGGER"], old["AUTHOR"], old["COMMITTED"], old["MESSAGE"]) == ("", "", "", "")


def test_a_hostile_commit_subject_is_one_printable_bounded_line() -> None:
    hostile = entry(
        1, "manual", author="\x1b]0;owned\x07Eve", message="ok\x1b[2J\nsecond line" + "x" * 500
    )
    row = dict(zip(HISTORY_COLUMNS, history_row(hostile), strict=True))
    assert "\x1b" not in row["AUTHOR"] and "\x07" not in row["AUTHOR"]
    assert row["MESSAGE"].startswith("ok?[2J") and "second" not in row["MESSAGE"]
    long = dict(zip(HISTORY_COLUMNS, history_row(entry(1, message="y" * 500)), strict=True))
    assert len(long["MESSAGE"]) == HISTORY_TEXT_LIMIT and long["MESSAGE"].endswith("…")
    broken = {**entry(2), "revisionMetadata": "not a mapping", "trigger": ["x"]}
    shown = dict(zip(HISTORY_COLUMNS, history_row(broken), strict=True))
    assert (shown["TRIGGER"], shown["AUTHOR"], shown["MESSAGE"]) == ("", "", "")


def test_app_get_shows_the_newest_history_entries_first() -> None:
    history = [entry(i, "manual", message=f"release {i}", author="Jane") for i in range(8)]
    app = app_with(AUTO_REVERT, history=history)

    @click.command()
    def show() -> None:
        print_app(app, "table")

    out = CliRunner().invoke(show).output
    header = next(line for line in out.splitlines() if line.startswith("ID "))
    assert header.split()[:4] == ["ID", "DATE", "REVISION", "TRIGGER"]
    listed = [line.split()[0] for line in out.splitlines()[out.splitlines().index(header) + 1 :]]
    shown = [int(x) for x in listed[:RECENT_HISTORY]]
    assert shown == [7, 6, 5, 4, 3]
    assert "release 7" in out and "release 2" not in out


def test_app_get_shows_the_sync_window_state_and_the_assigned_windows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    windows = {
        "assignedWindows": [{"kind": "allow", "schedule": "0 22 * * *", "duration": "1h"}],
        "activeWindows": [],
        "canSync": True,
        "canAutoSync": False,
        "reason": "sync blocked: no allow window active",
        "nextChange": "2026-12-05T22:00:00Z",
    }
    print_app_summary(app_with(None), windows)
    out = capsys.readouterr().out
    assert "Sync Denied (sync blocked: no allow window active); changes at 2026-12-05T22:00:00Z; " \
        "manual sync allowed" in out  # fmt: skip
    assert "allow:0 22 * * *:1h" in out
    print_app_summary(app_with(None), {"assignedWindows": [], "canAutoSync": True})
    out = capsys.readouterr().out
    assert "Sync Allowed" in out and "Assigned Windows" not in out
