"""``tether app ...``: Applications through the API server, shaped like ``argocd app ...``.

Every command talks to the REST API (so the server's RBAC applies) and prints a table, JSON or
YAML. Commands that start an operation (``sync``, ``rollback``) and ``wait`` poll the
Application and print each change of its operation, sync and health status as it happens.
Reading and printing an Application is in `tether.cli.app_view`, following it in
`tether.cli.app_wait`, building one from flags in `tether.cli.app_spec`, diffs in
`tether.cli.app_diff`.
"""

from __future__ import annotations

from typing import Any

import click
import yaml

from tether.cli.api import (
    ApiClient,
    ApiClientError,
    ApiGroup,
    CliError,
    output_option,
    print_data,
    print_table,
    with_client,
)
from tether.cli.app_diff import differing_resources, masked_item, unified_diff_of
from tether.cli.app_spec import (
    SpecChanges,
    build_application,
    changes_from_flags,
    parse_resource,
    spec_options,
)
from tether.cli.app_view import (
    APP_COLUMNS,
    HISTORY_COLUMNS,
    app_row,
    conditions_text,
    history_row,
    operation_done,
    print_app,
    print_app_summary,
    resource_key_text,
    sync_policy_text,
)
from tether.cli.app_wait import WaitFor, follow_operation, progress_printer, wait_until
from tether.cli.output import print_listing, print_outcome
from tether.engine.masking import mask_objects

# what tests and other commands import from here, as before the split
__all__ = [
    "APP_COLUMNS",
    "SpecChanges",
    "WaitFor",
    "app_group",
    "app_row",
    "build_application",
    "conditions_text",
    "differing_resources",
    "masked_item",
    "operation_done",
    "parse_resource",
    "sync_policy_text",
    "unified_diff_of",
]


@click.group("app", cls=ApiGroup)
def app_group() -> None:
    """Manage Applications through the Tether API server."""


@app_group.command("list")
@click.option("-p", "--project", "projects", multiple=True, help="Only these projects.")
@click.option("--sync", help="Only this sync status (Synced, OutOfSync, Unknown).")
@click.option("--health", help="Only this health status (Healthy, Progressing, Degraded, ...).")
@click.option("-l", "--selector", help="Label selector, e.g. team=payments.")
@output_option()
@with_client()
def list_command(
    api: ApiClient,
    projects: tuple[str, ...],
    sync: str | None,
    health: str | None,
    selector: str | None,
    output: str,
) -> None:
    """List Applications."""
    apps = api.list_applications(projects, sync, health, selector)
    print_listing(apps, output, APP_COLUMNS, app_row)


@app_group.command("get")
@click.argument("name")
@click.option("--refresh", is_flag=True, help="Compare with Git again before answering.")
@click.option("--hard-refresh", is_flag=True, help="Refresh and render the manifests again.")
@output_option()
@with_client()
def get_command(api: ApiClient, name: str, refresh: bool, hard_refresh: bool, output: str) -> None:
    """Show an Application: summary, conditions, last operation and resources."""
    mode = "hard" if hard_refresh else "normal" if refresh else None
    app = api.application(name, mode)
    windows = api.application_windows(name) if output == "table" else None
    print_app(app, output, windows)


@app_group.command("create")
@click.argument("name", required=False)
@spec_options
@click.option("-f", "--file", "file", help="Application YAML/JSON to start from ('-': stdin).")
@click.option("--upsert", is_flag=True, help="Replace the Application if it exists.")
@output_option()
@with_client()
def create_command(
    api: ApiClient, name: str | None, file: str | None, upsert: bool, output: str, **flags: Any
) -> None:
    """Create an Application NAME from flags, a file, or both (flags win)."""
    app = build_application(name, file, changes_from_flags(flags))
    created = api.create_application(app, upsert)
    print_outcome(
        created, output, f"application '{created.get('metadata', {}).get('name', name)}' created"
    )


@app_group.command("set")
@click.argument("name")
@spec_options
@output_option()
@with_client()
def set_command(api: ApiClient, name: str, output: str, **flags: Any) -> None:
    """Change fields of an Application's spec."""
    changes = changes_from_flags(flags)
    if changes.empty():
        raise click.UsageError("nothing to set: give at least one field flag")
    if changes.dest_server is not None and changes.dest_name is not None:
        raise click.UsageError("use either --dest-server or --dest-name")
    for attempt in range(3):
        app = api.application(name)
        # only what an update may carry: a pending ``operation`` would be refused, and the
        # resourceVersion in metadata makes the write fail (409) rather than undo another's
        body: dict[str, Any] = {
            k: app[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in app
        }
        changes.apply(body)
        try:
            updated = api.update_application(body)
            break
        except ApiClientError as exc:
            # someone (often the controller writing status) changed it since the read: redo
            if exc.status != 409 or attempt == 2:
                raise
    print_outcome(updated, output, f"application '{name}' updated")


@app_group.command("delete")
@click.argument("name")
@click.option(
    "--cascade/--no-cascade",
    default=True,
    show_default=True,
    help="Also delete the Application's objects from the cluster.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@with_client()
def delete_command(api: ApiClient, name: str, cascade: bool, yes: bool) -> None:
    """Delete an Application (and, with --cascade, everything it deployed)."""
    if not yes:
        what = " and all its resources" if cascade else ""
        try:
            click.confirm(f"Delete application '{name}'{what}?", abort=True, err=True)
        except click.Abort:
            raise CliError("not deleted: not confirmed (pass -y to skip the question)") from None
    api.delete_application(name, cascade)
    click.echo(f"application '{name}' deleted")


@app_group.command("diff")
@click.argument("name")
@click.option(
    "--exit-code/--no-exit-code",
    default=True,
    show_default=True,
    help="Exit 1 when there are differences.",
)
@click.option("--refresh", is_flag=True, help="Compare with Git again first.")
@click.option("--hard-refresh", is_flag=True, help="Render the manifests again first.")
@output_option()
@with_client()
def diff_command(
    api: ApiClient, name: str, exit_code: bool, refresh: bool, hard_refresh: bool, output: str
) -> None:
    """Show how the live objects differ from Git (exit 0: none, 1: differences, 2: error)."""
    if refresh or hard_refresh:
        api.application(name, "hard" if hard_refresh else "normal")
    differing = [masked_item(i) for i in differing_resources(api.managed_resources(name))]
    if output != "table":
        print_data(differing, output)
    else:
        for item in differing:
            click.echo(f"===== {resource_key_text(item)} ======")
            click.echo(unified_diff_of(item))
    if differing and exit_code:
        raise click.exceptions.Exit(1)


@app_group.command("sync")
@click.argument("name")
@click.option("--prune", is_flag=True, help="Delete objects that are no longer in Git.")
@click.option("--dry-run", is_flag=True, help="Check every object with the cluster, change none.")
@click.option("--revision", help="Sync to this revision instead of the target.")
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="GROUP:KIND:NAME",
    help="Sync only this object (repeatable; NAME may be NAMESPACE/NAME).",
)
@click.option("--sync-option", "sync_options", multiple=True, help="Sync option KEY=VALUE.")
@click.option("--async", "no_wait", is_flag=True, help="Do not wait for the sync to finish.")
@click.option(
    "--timeout", type=float, default=0, help="Give up after this many seconds (0: no limit)."
)
@output_option()
@with_client()
def sync_command(
    api: ApiClient,
    name: str,
    prune: bool,
    dry_run: bool,
    revision: str | None,
    resources: tuple[str, ...],
    sync_options: tuple[str, ...],
    no_wait: bool,
    timeout: float,
    output: str,
) -> None:
    """Sync an Application to Git and follow the operation until it ends."""
    request: dict[str, Any] = {"prune": prune, "dryRun": dry_run}
    if revision:
        request["revision"] = revision
    if resources:
        request["resources"] = [parse_resource(r) for r in resources]
    if sync_options:
        request["syncOptions"] = list(sync_options)
    started = api.sync_application(name, request)
    if no_wait:
        print_outcome(started, output, f"sync of application '{name}' requested")
        return
    follow_operation(api, name, started, timeout, output)


@app_group.command("wait")
@click.argument("name")
@click.option("--sync", "want_sync", is_flag=True, help="Wait until Synced.")
@click.option("--health", "want_health", is_flag=True, help="Wait until Healthy.")
@click.option("--operation", "want_operation", is_flag=True, help="Wait for no running operation.")
@click.option(
    "--timeout", type=float, default=0, help="Give up after this many seconds (0: no limit)."
)
@output_option()
@with_client()
def wait_command(
    api: ApiClient,
    name: str,
    want_sync: bool,
    want_health: bool,
    want_operation: bool,
    timeout: float,
    output: str,
) -> None:
    """Wait until an Application is Synced, Healthy and idle (or only what the flags ask)."""
    if want_sync or want_health or want_operation:
        conditions = WaitFor(want_sync, want_health, want_operation)
    else:
        conditions = WaitFor()
    app = wait_until(api, name, conditions.unmet, timeout, progress_printer(output))
    if output != "table":
        print_data(app, output)
        return
    click.echo()
    print_app_summary(app)


@app_group.command("history")
@click.argument("name")
@output_option()
@with_client()
def history_command(api: ApiClient, name: str, output: str) -> None:
    """List the Application's deployments (IDs for rollback)."""
    print_listing(api.history(name), output, HISTORY_COLUMNS, history_row)


@app_group.command("rollback")
@click.argument("name")
@click.argument("history_id", metavar="ID", type=int)
@click.option("--prune", is_flag=True, help="Delete objects not in that deployment.")
@click.option("--dry-run", is_flag=True, help="Check with the cluster, change nothing.")
@click.option("--async", "no_wait", is_flag=True, help="Do not wait for the rollback to finish.")
@click.option(
    "--timeout", type=float, default=0, help="Give up after this many seconds (0: no limit)."
)
@output_option()
@with_client()
def rollback_command(
    api: ApiClient,
    name: str,
    history_id: int,
    prune: bool,
    dry_run: bool,
    no_wait: bool,
    timeout: float,
    output: str,
) -> None:
    """Deploy again the revision of history entry ID (see tether app history)."""
    started = api.rollback_application(name, history_id, prune, dry_run)
    if no_wait:
        print_outcome(
            started, output, f"rollback of application '{name}' to {history_id} requested"
        )
        return
    follow_operation(api, name, started, timeout, output)


@app_group.command("manifests")
@click.argument("name")
@output_option(default="yaml")
@with_client()
def manifests_command(api: ApiClient, name: str, output: str) -> None:
    """Print the desired objects rendered from Git (Secret values masked)."""
    answer = api.manifests(name)
    manifests = mask_objects([m for m in answer.get("manifests") or [] if isinstance(m, dict)])
    if output == "json":
        print_data(manifests, output)
    elif output == "yaml":
        click.echo("---\n".join(yaml.safe_dump(m, sort_keys=False) for m in manifests).rstrip("\n"))
    else:
        rows = []
        for m in manifests:
            api_version = str(m.get("apiVersion", ""))
            metadata = m.get("metadata") or {}
            rows.append(
                [
                    api_version.rpartition("/")[0] if "/" in api_version else "",
                    m.get("kind", ""),
                    metadata.get("namespace", ""),
                    metadata.get("name", ""),
                ]
            )
        print_table(("GROUP", "KIND", "NAMESPACE", "NAME"), rows)
