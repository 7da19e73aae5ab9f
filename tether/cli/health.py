"""``tether health -f FILE``: the health of each object in a file, with the controller's code.

For people writing Lua health checks (run them on a saved ``kubectl get -o yaml``) and for CI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from tether.cli.options import EXISTING_DIR
from tether.engine.health import (
    HealthCustomizationError,
    HealthCustomizations,
    HealthStatus,
    aggregate,
    health_of,
    ignores_healthcheck,
)
from tether.render.errors import RenderError
from tether.render.manifests import parse_yaml_manifests


def _read(path: str) -> tuple[bytes, str]:
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    try:
        return Path(path).read_bytes(), path
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror or exc}") from None


def _load_customizations(
    directory: Path | None, configmap_file: str | None
) -> HealthCustomizations | None:
    sources: list[HealthCustomizations] = []
    try:
        # The ConfigMap comes first: as in Argo CD, its keys override the scripts of a folder.
        if configmap_file is not None:
            data, name = _read(configmap_file)
            configmaps = [
                obj for obj in parse_yaml_manifests(data, name) if obj.get("kind") == "ConfigMap"
            ]
            if not configmaps:
                raise click.ClickException(f"{name}: no ConfigMap in the file")
            sources.extend(HealthCustomizations.from_configmap(cm) for cm in configmaps)
        if directory is not None:
            sources.append(HealthCustomizations.from_directory(directory))
    except (RenderError, HealthCustomizationError) as exc:
        raise click.ClickException(str(exc)) from None
    if not sources:
        return None
    return HealthCustomizations.combine(*sources)


def _row(obj: dict[str, Any], health: HealthStatus | None) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name") or metadata.get("generateName"),
        "health": health.to_dict() if health is not None else None,
        "ignoredInAppHealth": ignores_healthcheck(obj),
    }


def _print_table(rows: list[dict[str, Any]], app: HealthStatus) -> None:
    with_namespace = any(row["namespace"] for row in rows)
    table = [
        (
            *((row["namespace"] or "",) if with_namespace else ()),
            f"{row['kind']}/{row['name']}",
            row["health"]["status"] if row["health"] else "-",
            _message(row),
        )
        for row in rows
    ]
    header = (*(("NAMESPACE",) if with_namespace else ()), "KIND/NAME", "STATUS", "MESSAGE")
    widths = [max(len(str(line[i])) for line in (header, *table)) for i in range(len(header) - 1)]
    for line in (header, *table):
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, str(line[-1])]).rstrip())
    click.echo(f"\nApplication health: {app.status}" + (f" ({app.message})" if app.message else ""))


def _message(row: dict[str, Any]) -> str:
    if row["health"] is None:
        return "(no health check for this kind)"
    message = str(row["health"]["message"])
    if row["ignoredInAppHealth"]:
        ignored = "(ignored in application health)"
        message = f"{message} {ignored}" if message else ignored
    return message


@click.command("health")
@click.option(
    "-f",
    "--filename",
    "filename",
    required=True,
    help="Multi-document YAML (or a kubectl List) of live objects; - reads standard input.",
)
@click.option(
    "--customizations",
    "customizations_dir",
    type=EXISTING_DIR,
    help="Folder laid out as Argo CD's resource_customizations/<group>/<kind>/health.lua.",
)
@click.option(
    "--customizations-configmap",
    "configmap_file",
    help="YAML file with a ConfigMap holding resource.customizations.health.<group>_<kind> keys.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def health_command(
    filename: str, customizations_dir: Path | None, configmap_file: str | None, output: str
) -> None:
    """Print the health status and message of each object in a file.

    Same checks as the controller: built-in checks with Argo CD's semantics, Lua customizations
    (which override them), standard conditions for other custom resources. Objects whose kind
    has no health (ConfigMap, Secret, RBAC...) show "-" and do not count in the application
    health printed at the end.
    """
    customizations = _load_customizations(customizations_dir, configmap_file)
    data, name = _read(filename)
    try:
        objects = parse_yaml_manifests(data, name)
    except RenderError as exc:
        raise click.ClickException(str(exc)) from None
    healths = [health_of(obj, customizations=customizations) for obj in objects]
    app = aggregate(
        health for obj, health in zip(objects, healths, strict=True) if not ignores_healthcheck(obj)
    )
    rows = [_row(obj, health) for obj, health in zip(objects, healths, strict=True)]
    if output == "json":
        document = {"resources": rows, "application": app.to_dict()}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_table(rows, app)
