"""``tether app ...``: Applications through the API server, shaped like ``argocd app ...``.

Every command talks to the REST API (so the server's RBAC applies) and prints a table, JSON or
YAML. Commands that start an operation (``sync``, ``rollback``) and ``wait`` poll the
Application and print each change of its operation, sync and health status as it happens.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click
import yaml

from tether.cli.api import (
    ApiClient,
    ApiClientError,
    ApiGroup,
    CliError,
    OutcomeError,
    output_option,
    print_data,
    print_fields,
    print_table,
    read_object_file,
    with_client,
)
from tether.engine.masking import LAST_APPLIED, MASK, mask_objects, mask_secrets

# how often sync, rollback and wait look at the Application again
POLL_INTERVAL = 0.25
TERMINAL_PHASES = ("Succeeded", "Failed", "Error", "Terminated")
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


# ---- reading an Application ---------------------------------------------------------------------


def _status(app: dict[str, Any]) -> dict[str, Any]:
    return app.get("status") or {}


def sync_status(app: dict[str, Any]) -> str:
    return str((_status(app).get("sync") or {}).get("status") or "Unknown")


def health_status(app: dict[str, Any]) -> str:
    return str((_status(app).get("health") or {}).get("status") or "Unknown")


def app_source(app: dict[str, Any]) -> dict[str, Any]:
    """The source, or the first of ``sources`` for a multi-source Application."""
    spec = app.get("spec") or {}
    if spec.get("source"):
        return dict(spec["source"])
    sources = spec.get("sources") or []
    return dict(sources[0]) if sources else {}


def sync_policy_text(app: dict[str, Any]) -> str:
    """``Manual``, ``Auto`` or ``Auto-Prune``, as argocd's SYNCPOLICY column."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if automated is None or automated.get("enabled") is False:
        return "Manual"
    return "Auto-Prune" if automated.get("prune") else "Auto"


def conditions_text(app: dict[str, Any]) -> str:
    """``<none>`` or each condition type, with a count when it appears more than once."""
    counts: dict[str, int] = {}
    for condition in _status(app).get("conditions") or []:
        ctype = str(condition.get("type", "Unknown"))
        counts[ctype] = counts.get(ctype, 0) + 1
    if not counts:
        return "<none>"
    return ",".join(f"{t}({n})" if n > 1 else t for t, n in counts.items())


def app_row(app: dict[str, Any]) -> list[str]:
    """One row of ``tether app list``, columns as :data:`APP_COLUMNS`."""
    spec = app.get("spec") or {}
    dest = spec.get("destination") or {}
    source = app_source(app)
    return [
        str((app.get("metadata") or {}).get("name", "")),
        str(dest.get("server") or dest.get("name") or ""),
        str(dest.get("namespace", "")),
        str(spec.get("project", "")),
        sync_status(app),
        health_status(app),
        sync_policy_text(app),
        conditions_text(app),
        str(source.get("repoURL", "")),
        str(source.get("path") or source.get("chart") or ""),
        str(source.get("targetRevision") or "HEAD"),
    ]


def _operation_state(app: dict[str, Any]) -> dict[str, Any]:
    return _status(app).get("operationState") or {}


def operation_done(app: dict[str, Any]) -> bool:
    """No operation requested or running: the last one (if any) has finished.

    The controller records the new ``operationState`` (``Running``) before it clears the
    requested ``operation``, so once ``operation`` is gone the state belongs to that request.
    """
    return not app.get("operation") and _operation_state(app).get("phase") != "Running"


def _short(revision: Any) -> str:
    text = str(revision or "")
    return text[:7] if len(text) == 40 else text


def resource_key_text(res: dict[str, Any]) -> str:
    """``group/Kind namespace/name`` (``Kind name`` for core, cluster-scoped objects)."""
    kind = f"{res['group']}/{res.get('kind', '')}" if res.get("group") else str(res.get("kind"))
    name = f"{res['namespace']}/{res.get('name', '')}" if res.get("namespace") else res.get("name")
    return f"{kind} {name}"


# ---- printing an Application --------------------------------------------------------------------


def print_app_summary(app: dict[str, Any]) -> None:
    """The header of ``tether app get``: where it comes from, goes to, and its status."""
    spec = app.get("spec") or {}
    dest = spec.get("destination") or {}
    source = app_source(app)
    status = _status(app)
    sync = status.get("sync") or {}
    policy = sync_policy_text(app)
    automated = (spec.get("syncPolicy") or {}).get("automated") or {}
    if policy != "Manual" and automated.get("selfHeal"):
        policy += " (self-heal)"
    revision = sync.get("revision")
    sync_line = f"{sync_status(app)} to {source.get('targetRevision') or 'HEAD'}"
    if revision:
        sync_line += f" ({_short(revision)})"
    health = status.get("health") or {}
    health_line = health_status(app)
    if health.get("message"):
        health_line += f" ({health['message']})"
    fields: list[tuple[str, Any]] = [
        ("Name", (app.get("metadata") or {}).get("name")),
        ("Project", spec.get("project")),
        ("Server", dest.get("server") or dest.get("name")),
        ("Namespace", dest.get("namespace")),
        ("Repo", source.get("repoURL")),
        ("Target", source.get("targetRevision") or "HEAD"),
        ("Path", source.get("path") or source.get("chart")),
        ("Sync Policy", policy),
        ("Sync Status", sync_line),
        ("Health Status", health_line),
    ]
    print_fields(fields)


def print_conditions(app: dict[str, Any]) -> None:
    conditions = _status(app).get("conditions") or []
    if not conditions:
        return
    click.echo()
    print_table(
        ("CONDITION", "MESSAGE", "LAST TRANSITION"),
        [(c.get("type"), c.get("message"), c.get("lastTransitionTime")) for c in conditions],
    )


def print_operation(app: dict[str, Any]) -> None:
    """The last (or running) operation: argocd's ``Operation:``/``Phase:`` block."""
    state = _operation_state(app)
    if not state:
        return
    operation = state.get("operation") or {}
    kind = "Sync" if "sync" in operation or not operation else next(iter(operation)).title()
    result = state.get("syncResult") or {}
    click.echo()
    print_fields(
        [
            ("Operation", kind),
            ("Sync Revision", result.get("revision")),
            ("Phase", state.get("phase")),
            ("Start", state.get("startedAt")),
            ("Finished", state.get("finishedAt")),
            ("Message", state.get("message")),
        ]
    )


def _result_messages(app: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    results = (_operation_state(app).get("syncResult") or {}).get("resources") or []
    return {
        (
            str(r.get("group", "")),
            str(r.get("kind", "")),
            str(r.get("namespace", "")),
            str(r.get("name", "")),
        ): r
        for r in results
        if not r.get("hookType")
    }


def print_resources(app: dict[str, Any]) -> None:
    """The Application's objects with sync and health, plus the last sync's message for each."""
    resources = _status(app).get("resources") or []
    results = _result_messages(app)
    hooks = [
        r
        for r in (_operation_state(app).get("syncResult") or {}).get("resources") or []
        if r.get("hookType")
    ]
    rows = []
    for res in resources:
        key = (
            str(res.get("group", "")),
            str(res.get("kind", "")),
            str(res.get("namespace", "")),
            str(res.get("name", "")),
        )
        result = results.get(key) or {}
        rows.append(
            [
                *key,
                res.get("status", ""),
                (res.get("health") or {}).get("status", ""),
                "",
                result.get("message", ""),
            ]
        )
    for hook in hooks:
        rows.append(
            [
                hook.get("group", ""),
                hook.get("kind", ""),
                hook.get("namespace", ""),
                hook.get("name", ""),
                hook.get("hookPhase", ""),
                "",
                hook.get("hookType", ""),
                hook.get("message", ""),
            ]
        )
    if not rows:
        return
    click.echo()
    print_table(("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"), rows)


def print_sync_result(app: dict[str, Any]) -> None:
    """Each object the last operation touched: what happened to it and why."""
    results = (_operation_state(app).get("syncResult") or {}).get("resources") or []
    if not results:
        return
    click.echo()
    print_table(
        ("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HOOK", "MESSAGE"),
        [
            (
                r.get("group", ""),
                r.get("kind", ""),
                r.get("namespace", ""),
                r.get("name", ""),
                r.get("status", ""),
                r.get("hookType", ""),
                r.get("message", ""),
            )
            for r in results
        ],
    )


def print_app(app: dict[str, Any], output: str) -> None:
    if output != "table":
        print_data(app, output)
        return
    print_app_summary(app)
    print_conditions(app)
    print_operation(app)
    print_resources(app)


# ---- watching an Application --------------------------------------------------------------------


def _progress_printer(output: str) -> Callable[[str], None]:
    """Progress lines go to stdout for tables, to stderr when stdout carries JSON or YAML."""

    def emit(line: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')}  {line}", err=output != "table")

    return emit


def _state_line(app: dict[str, Any]) -> str:
    state = _operation_state(app)
    line = f"sync {sync_status(app)}, health {health_status(app)}"
    if app.get("operation") and state.get("phase") != "Running":
        line += ", operation requested"
    elif state.get("phase"):
        line += f", operation {state['phase']}"
        if state.get("message"):
            line += f": {state['message']}"
    return line


@dataclass(frozen=True)
class WaitFor:
    """What ``tether app wait`` waits for; the defaults of argocd when no flag is given."""

    sync: bool = True
    health: bool = True
    operation: bool = True

    def unmet(self, app: dict[str, Any]) -> list[str]:
        """The conditions ``app`` does not meet yet, in words."""
        missing = []
        if self.operation and not operation_done(app):
            missing.append("its operation to finish")
        if self.sync and (sync_status(app) != "Synced" or not _compared_to_spec(app)):
            missing.append(f"Synced (is {sync_status(app)})")
        if self.health and health_status(app) != "Healthy":
            missing.append(f"Healthy (is {health_status(app)})")
        return missing


def _compared_to_spec(app: dict[str, Any]) -> bool:
    """The sync status was computed for the current source (not one from before ``app set``)."""
    compared = ((_status(app).get("sync") or {}).get("comparedTo") or {}).get("source")
    if not compared:
        return True
    source = app_source(app)
    return all(
        (compared.get(k) or "") == (source.get(k) or "")
        for k in ("repoURL", "path", "targetRevision", "chart")
    )


def wait_until(
    api: ApiClient,
    name: str,
    done: Callable[[dict[str, Any]], list[str]],
    timeout: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Poll the Application until ``done`` lists nothing left; prints every change of state.

    ``timeout`` 0 waits without limit. Raises CliError (exit 1) naming what was still missing.
    """
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last_line = ""
    while True:
        app = api.application(name)
        line = _state_line(app)
        if line != last_line:
            progress(line)
            last_line = line
        missing = done(app)
        if not missing:
            return app
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OutcomeError(
                    f"timed out after {timeout:g}s waiting for application '{name}': "
                    f"still waiting for {', '.join(missing)}"
                )
            time.sleep(min(POLL_INTERVAL, remaining))
        else:
            time.sleep(POLL_INTERVAL)


def follow_operation(
    api: ApiClient, name: str, started: dict[str, Any], timeout: float, output: str
) -> None:
    """Follow the operation just requested to its end; print its result; exit 1 unless it
    Succeeded."""
    progress = _progress_printer(output)
    if not started.get("operation"):
        progress("operation requested")

    def finished(app: dict[str, Any]) -> list[str]:
        if operation_done(app) and _operation_state(app).get("phase") in TERMINAL_PHASES:
            return []
        return ["the operation to finish"]

    try:
        app = wait_until(api, name, finished, timeout, progress)
    except KeyboardInterrupt:
        # only the watching stops: the server goes on with the operation
        raise CliError(
            f"stopped following; the operation goes on: tether app wait {name} --operation"
        ) from None
    state = _operation_state(app)
    if output == "table":
        print_sync_result(app)
        print_operation(app)
    else:
        print_data(app, output)
    if state.get("phase") != "Succeeded":
        raise OutcomeError(
            f"operation {state.get('phase')}: {state.get('message') or 'no message'}"
        )


# ---- building an Application from flags ---------------------------------------------------------


def parse_key_value(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` pairs of a repeated flag."""
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=flag)
        pairs.append((key, val))
    return pairs


@dataclass
class SpecChanges:
    """Spec fields given on the command line (``None``: leave as it is)."""

    repo: str | None = None
    path: str | None = None
    revision: str | None = None
    dest_server: str | None = None
    dest_name: str | None = None
    dest_namespace: str | None = None
    project: str | None = None
    sync_policy: str | None = None
    auto_prune: bool | None = None
    self_heal: bool | None = None
    sync_options: tuple[str, ...] = ()
    helm_parameters: tuple[tuple[str, str], ...] = ()

    def empty(self) -> bool:
        return self == SpecChanges()

    def apply(self, app: dict[str, Any]) -> None:
        """Write the given fields into ``app["spec"]`` (in place)."""
        spec = app.setdefault("spec", {})
        if self.project is not None:
            spec["project"] = self.project
        source = spec.setdefault("source", {}) if not spec.get("sources") else spec["sources"][0]
        for key, value in (
            ("repoURL", self.repo),
            ("path", self.path),
            ("targetRevision", self.revision),
        ):
            if value is not None:
                source[key] = value
        if self.helm_parameters:
            params = source.setdefault("helm", {}).setdefault("parameters", [])
            for key, value in self.helm_parameters:
                params[:] = [p for p in params if p.get("name") != key]
                params.append({"name": key, "value": value})
        self._apply_destination(spec)
        self._apply_sync_policy(spec)

    def _apply_destination(self, spec: dict[str, Any]) -> None:
        dest = spec.setdefault("destination", {})
        # server and name are alternatives: setting one drops the other, as argocd does
        if self.dest_server is not None:
            dest["server"] = self.dest_server
            dest.pop("name", None)
        if self.dest_name is not None:
            dest["name"] = self.dest_name
            dest.pop("server", None)
        if self.dest_namespace is not None:
            dest["namespace"] = self.dest_namespace

    def _apply_sync_policy(self, spec: dict[str, Any]) -> None:
        policy = spec.get("syncPolicy") or {}
        if self.sync_policy == "none":
            policy.pop("automated", None)
        elif self.sync_policy == "automated":
            policy.setdefault("automated", {})
        if self.auto_prune is not None or self.self_heal is not None:
            automated = policy.get("automated")
            if automated is None:
                raise CliError("--auto-prune and --self-heal need --sync-policy automated")
            if self.auto_prune is not None:
                automated["prune"] = self.auto_prune
            if self.self_heal is not None:
                automated["selfHeal"] = self.self_heal
        if self.sync_options:
            options = policy.setdefault("syncOptions", [])
            for option in self.sync_options:
                key = option.partition("=")[0]
                options[:] = [o for o in options if o.partition("=")[0] != key]
                options.append(option)
        if policy:
            spec["syncPolicy"] = policy
        else:
            spec.pop("syncPolicy", None)


def _spec_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The spec flags shared by ``app create`` and ``app set``."""
    options = [
        click.option("--repo", help="Git repository URL."),
        click.option("--path", help="Path of the manifests in the repository."),
        click.option("--revision", help="Target revision: branch, tag or commit (default HEAD)."),
        click.option("--dest-server", help="Destination cluster API URL."),
        click.option("--dest-name", help="Destination cluster name (instead of --dest-server)."),
        click.option("--dest-namespace", help="Destination namespace."),
        click.option("--project", help="AppProject (create: default 'default')."),
        click.option(
            "--sync-policy", type=click.Choice(["automated", "none"]), help="Automated sync."
        ),
        click.option("--auto-prune/--no-auto-prune", default=None, help="Automated prune."),
        click.option("--self-heal/--no-self-heal", default=None, help="Automated self-heal."),
        click.option("--sync-option", "sync_options", multiple=True, help="Sync option KEY=VALUE."),
        click.option(
            "-p",
            "--parameter",
            "parameters",
            multiple=True,
            metavar="KEY=VALUE",
            help="Helm parameter (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _changes(kwargs: dict[str, Any]) -> SpecChanges:
    """The SpecChanges of the flags added by :func:`_spec_options` (removed from ``kwargs``)."""
    return SpecChanges(
        repo=kwargs.pop("repo"),
        path=kwargs.pop("path"),
        revision=kwargs.pop("revision"),
        dest_server=kwargs.pop("dest_server"),
        dest_name=kwargs.pop("dest_name"),
        dest_namespace=kwargs.pop("dest_namespace"),
        project=kwargs.pop("project"),
        sync_policy=kwargs.pop("sync_policy"),
        auto_prune=kwargs.pop("auto_prune"),
        self_heal=kwargs.pop("self_heal"),
        sync_options=tuple(kwargs.pop("sync_options")),
        helm_parameters=tuple(parse_key_value(kwargs.pop("parameters"), "--parameter")),
    )


def build_application(name: str | None, file: str | None, changes: SpecChanges) -> dict[str, Any]:
    """The Application to create: the file's (if any), then the flags on top of it."""
    if changes.dest_server is not None and changes.dest_name is not None:
        raise click.UsageError("use either --dest-server or --dest-name")
    app = read_object_file(file, "Application") if file else {}
    app.setdefault("apiVersion", "argoproj.io/v1alpha1")
    app.setdefault("kind", "Application")
    metadata = app.setdefault("metadata", {})
    if name:
        metadata["name"] = name
    if not metadata.get("name"):
        raise click.UsageError("give the application a NAME (or metadata.name in the file)")
    changes.apply(app)
    spec = app["spec"]
    spec.setdefault("project", "default")
    if not spec.get("sources"):
        source = spec.get("source") or {}
        if not source.get("repoURL"):
            raise click.UsageError("--repo is required")
        if not source.get("path") and not source.get("chart"):
            raise click.UsageError("--path is required")
    dest = spec.get("destination") or {}
    if not dest.get("server") and not dest.get("name"):
        raise click.UsageError("--dest-server or --dest-name is required")
    return app


def parse_resource(text: str) -> dict[str, str]:
    """argocd's ``GROUP:KIND:NAME`` or ``GROUP:KIND:NAMESPACE/NAME`` (GROUP empty for core)."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise click.BadParameter(
            f"{text!r} is not GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME", param_hint="--resource"
        )
    group, kind, name = parts
    namespace, _, short = name.rpartition("/")
    if not short:
        raise click.BadParameter(f"{text!r} has no object name", param_hint="--resource")
    return {"group": group, "kind": kind, "namespace": namespace, "name": short}


def differing_resources(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The managed resources whose live state is not the desired one."""
    out = []
    for item in items:
        status = item.get("status")
        if status == "OutOfSync" or (not status and item.get("diff")):
            out.append(item)
    return out


def _yaml_diff(live: Any, target: Any, key: str) -> str:
    def lines(obj: Any) -> list[str]:
        return yaml.safe_dump(obj, sort_keys=True).splitlines() if obj else []

    return "\n".join(
        difflib.unified_diff(
            lines(live), lines(target), f"live {key}", f"desired {key}", lineterm=""
        )
    )


def unified_diff_of(item: dict[str, Any]) -> str:
    """The server's unified diff, or one made from the live and desired objects it sent."""
    if item.get("diff"):
        return str(item["diff"]).rstrip("\n")
    return _yaml_diff(item.get("liveState"), item.get("targetState"), resource_key_text(item))


_SECRET_PATHS = ("/data", "/stringData", "/metadata/annotations/" + LAST_APPLIED.replace("/", "~1"))


def _masked_change(change: Any) -> Any:
    path = str(change.get("path", "")) if isinstance(change, dict) else ""
    if not path.startswith(_SECRET_PATHS):
        return change
    return {k: (MASK if k in ("old", "new") and v is not None else v) for k, v in change.items()}


def masked_item(item: dict[str, Any]) -> dict[str, Any]:
    """A managed resource as the CLI shows it: Secret values masked here too, whatever the server
    sent (the diff text of a Secret is rebuilt from the masked objects)."""
    if item.get("kind") != "Secret":
        return item
    live, target = mask_secrets(item.get("liveState"), item.get("targetState"))
    changes = item.get("changes")
    return {
        **item,
        "liveState": live,
        "targetState": target,
        "diff": _yaml_diff(live, target, resource_key_text(item)) if live != target else "",
        "changes": [_masked_change(c) for c in changes] if isinstance(changes, list) else [],
    }


# ---- commands -----------------------------------------------------------------------------------


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
    if output != "table":
        print_data(apps, output)
        return
    print_table(APP_COLUMNS, [app_row(a) for a in apps])


@app_group.command("get")
@click.argument("name")
@click.option("--refresh", is_flag=True, help="Compare with Git again before answering.")
@click.option("--hard-refresh", is_flag=True, help="Refresh and render the manifests again.")
@output_option()
@with_client()
def get_command(api: ApiClient, name: str, refresh: bool, hard_refresh: bool, output: str) -> None:
    """Show an Application: summary, conditions, last operation and resources."""
    mode = "hard" if hard_refresh else "normal" if refresh else None
    print_app(api.application(name, mode), output)


@app_group.command("create")
@click.argument("name", required=False)
@_spec_options
@click.option("-f", "--file", "file", help="Application YAML/JSON to start from ('-': stdin).")
@click.option("--upsert", is_flag=True, help="Replace the Application if it exists.")
@output_option()
@with_client()
def create_command(
    api: ApiClient, name: str | None, file: str | None, upsert: bool, output: str, **flags: Any
) -> None:
    """Create an Application NAME from flags, a file, or both (flags win)."""
    app = build_application(name, file, _changes(flags))
    created = api.create_application(app, upsert)
    if output != "table":
        print_data(created, output)
        return
    click.echo(f"application '{created.get('metadata', {}).get('name', name)}' created")


@app_group.command("set")
@click.argument("name")
@_spec_options
@output_option()
@with_client()
def set_command(api: ApiClient, name: str, output: str, **flags: Any) -> None:
    """Change fields of an Application's spec."""
    changes = _changes(flags)
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
    if output != "table":
        print_data(updated, output)
        return
    click.echo(f"application '{name}' updated")


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
        if output != "table":
            print_data(started, output)
        else:
            click.echo(f"sync of application '{name}' requested")
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
    app = wait_until(api, name, conditions.unmet, timeout, _progress_printer(output))
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
    history = api.history(name)
    if output != "table":
        print_data(history, output)
        return
    rows = []
    for entry in history:
        source = entry.get("source") or {}
        by = entry.get("initiatedBy") or {}
        rows.append(
            [
                entry.get("id", ""),
                entry.get("deployedAt", ""),
                entry.get("revision", ""),
                source.get("path") or source.get("chart") or "",
                "automated" if by.get("automated") else by.get("username", ""),
            ]
        )
    print_table(("ID", "DATE", "REVISION", "PATH", "INITIATED BY"), rows)


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
        if output != "table":
            print_data(started, output)
        else:
            click.echo(f"rollback of application '{name}' to {history_id} requested")
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
