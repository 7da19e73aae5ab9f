"""``tether proj list|get|create|windows list``: AppProjects through the API server, like
``argocd proj``."""

from __future__ import annotations

from typing import Any

import click

from tether.cli.api import (
    ApiClient,
    ApiGroup,
    object_to_create,
    output_option,
    print_data,
    print_fields,
    with_client,
)
from tether.cli.output import print_listing, print_outcome
from tether.names import APP_PROJECT


def _kinds(entries: Any) -> str:
    """``group/Kind`` list of a project's resource allow or deny list (``<none>`` if empty)."""
    kinds = [f"{e.get('group') or ''}/{e.get('kind', '')}" for e in entries or []]
    return ", ".join(kinds) or "<none>"


def _destinations(spec: dict[str, Any]) -> list[str]:
    return [
        f"{d.get('server') or d.get('name') or '*'},{d.get('namespace') or '*'}"
        for d in spec.get("destinations") or []
    ]


PROJECT_COLUMNS = (
    "NAME",
    "DESCRIPTION",
    "DESTINATIONS",
    "SOURCES",
    "CLUSTER-RESOURCE-WHITELIST",
    "NAMESPACE-RESOURCE-BLACKLIST",
)


def project_row(project: dict[str, Any]) -> list[str]:
    """NAME, DESCRIPTION, DESTINATIONS, SOURCES, CLUSTER-RESOURCE-WHITELIST,
    NAMESPACE-RESOURCE-BLACKLIST."""
    spec = project.get("spec") or {}
    destinations = _destinations(spec)
    sources = [str(s) for s in spec.get("sourceRepos") or []]
    return [
        str((project.get("metadata") or {}).get("name", "")),
        str(spec.get("description", "")),
        # long lists are summarised as argocd does, the full list is in `proj get`
        destinations[0] if len(destinations) == 1 else f"{len(destinations)} destinations",
        sources[0] if len(sources) == 1 else f"{len(sources)} repos",
        _kinds(spec.get("clusterResourceWhitelist")),
        _kinds(spec.get("namespaceResourceBlacklist")),
    ]


def parse_destination(text: str) -> dict[str, str]:
    """argocd's ``SERVER,NAMESPACE`` (``*`` wildcards allowed)."""
    server, sep, namespace = text.partition(",")
    if not sep or not server or not namespace:
        raise click.BadParameter(f"{text!r} is not SERVER,NAMESPACE", param_hint="--dest")
    return {"server": server, "namespace": namespace}


def parse_group_kind(text: str) -> dict[str, str]:
    """``GROUP/KIND`` (``/KIND`` or ``KIND`` for the core group)."""
    group, _, kind = text.rpartition("/")
    if not kind:
        raise click.BadParameter(
            f"{text!r} is not GROUP/KIND", param_hint="--allow-cluster-resource"
        )
    return {"group": group, "kind": kind}


@click.group("proj", cls=ApiGroup)
def proj_group() -> None:
    """Manage AppProjects through the Tether API server."""


@proj_group.command("list")
@output_option()
@with_client()
def list_command(api: ApiClient, output: str) -> None:
    """List AppProjects."""
    print_listing(api.list_projects(), output, PROJECT_COLUMNS, project_row)


@proj_group.command("get")
@click.argument("name")
@output_option()
@with_client()
def get_command(api: ApiClient, name: str, output: str) -> None:
    """Show an AppProject."""
    project = api.project(name)
    if output != "table":
        print_data(project, output)
        return
    spec = project.get("spec") or {}
    print_fields(
        [
            ("Name", (project.get("metadata") or {}).get("name")),
            ("Description", spec.get("description")),
            ("Destinations", "\n  ".join(_destinations(spec)) or "<none>"),
            (
                "Repositories",
                "\n  ".join(str(s) for s in spec.get("sourceRepos") or []) or "<none>",
            ),
            ("Allowed Cluster Resources", _kinds(spec.get("clusterResourceWhitelist"))),
            ("Denied Namespaced Resources", _kinds(spec.get("namespaceResourceBlacklist"))),
        ]
    )


@proj_group.command("create")
@click.argument("name", required=False)
@click.option("--description", help="What the project is for.")
@click.option(
    "-s", "--src", "sources", multiple=True, help="Allowed source repository (repeatable; '*')."
)
@click.option(
    "-d",
    "--dest",
    "destinations",
    multiple=True,
    metavar="SERVER,NAMESPACE",
    help="Allowed destination (repeatable; '*' wildcards).",
)
@click.option(
    "--allow-cluster-resource",
    "cluster_resources",
    multiple=True,
    metavar="GROUP/KIND",
    help="Allowed cluster-scoped kind (repeatable).",
)
@click.option("-f", "--file", "file", help="AppProject YAML/JSON to start from ('-': stdin).")
@output_option()
@with_client()
def create_command(
    api: ApiClient,
    name: str | None,
    description: str | None,
    sources: tuple[str, ...],
    destinations: tuple[str, ...],
    cluster_resources: tuple[str, ...],
    file: str | None,
    output: str,
) -> None:
    """Create an AppProject NAME from flags, a file, or both (flags add to the file)."""
    project = object_to_create(file, APP_PROJECT, name, "project")
    spec = project.setdefault("spec", {})
    if description is not None:
        spec["description"] = description
    if sources:
        spec["sourceRepos"] = [*spec.get("sourceRepos", []), *sources]
    if destinations:
        spec["destinations"] = [
            *spec.get("destinations", []),
            *(parse_destination(d) for d in destinations),
        ]
    if cluster_resources:
        spec["clusterResourceWhitelist"] = [
            *spec.get("clusterResourceWhitelist", []),
            *(parse_group_kind(k) for k in cluster_resources),
        ]
    created = api.create_project(project)
    print_outcome(created, output, f"project '{project['metadata']['name']}' created")


WINDOW_COLUMNS = (
    "ID",
    "STATUS",
    "KIND",
    "SCHEDULE",
    "DURATION",
    "APPLICATIONS",
    "NAMESPACES",
    "CLUSTERS",
    "MANUALSYNC",
    "TIMEZONE",
)


def _globs(values: Any) -> str:
    return ",".join(str(v) for v in values or []) or "-"


def window_row(window: dict[str, Any]) -> list[str]:
    """One row of ``tether proj windows list``, the columns of ``argocd proj windows list``."""
    return [
        str(window.get("index")),
        "Active" if window.get("active") else "Inactive",
        str(window.get("kind")),
        str(window.get("schedule")),
        str(window.get("duration")),
        _globs(window.get("applications")),
        _globs(window.get("namespaces")),
        _globs(window.get("clusters")),
        "Enabled" if window.get("manualSync") else "Disabled",
        str(window.get("timeZone")),
    ]


@proj_group.group("windows", cls=ApiGroup)
def windows_group() -> None:
    """A project's sync windows."""


@windows_group.command("list")
@click.argument("project")
@output_option()
@with_client()
def windows_list_command(api: ApiClient, project: str, output: str) -> None:
    """List a project's sync windows, each with whether it is active now."""
    answer = api.project_windows(project)
    if answer.get("error"):
        click.echo(f"warning: the windows cannot be read, syncs wait: {answer['error']}", err=True)
    print_listing(answer.get("windows") or [], output, WINDOW_COLUMNS, window_row)
