"""``tether render DIR``: render a local folder with the controller's code, before a push."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import orjson
import yaml

from tether.render import DEFAULT_LIMITS, RenderError, RenderLimits, render
from tether.render.manifests import load_yaml_file_text


def _pairs(values: tuple[str, ...], flag: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=flag)
        pairs.append((name, rest))
    return pairs


def _repository_root(directory: Path) -> Path:
    """The enclosing Git work tree, so ``../base`` references resolve; else the folder itself."""
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return directory


def _load_application(path: Path) -> dict[str, Any]:
    limit = DEFAULT_LIMITS.max_file_bytes
    try:
        if path.stat().st_size > limit:
            raise click.ClickException(f"{path}: larger than {limit} bytes; not an Application")
        app = load_yaml_file_text(path.read_bytes(), str(path))
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from None
    except RenderError as exc:
        raise click.ClickException(str(exc)) from None
    spec = app.get("spec") if isinstance(app, dict) else None
    source = spec.get("source") if isinstance(spec, dict) else None
    if not isinstance(source, dict):
        raise click.ClickException(f"{path}: no spec.source (multi-source apps are not supported)")
    return app


def _value_file(value: str, app_dir: Path) -> str:
    """A value file as typed on the command line (relative to the current folder) if it exists
    there, else as Argo CD reads it (relative to the chart)."""
    if os.path.isfile(value):
        return os.path.relpath(os.path.abspath(value), app_dir)
    return value


@click.command("render")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option(
    "--repo-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Repository root the app may reference (default: enclosing Git work tree, else DIR).",
)
@click.option(
    "--application",
    "application_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An Argo CD Application manifest: DIR is then the repository root and spec.source is used.",
)
@click.option("--app-name", help="Application name (Helm's default release name).")
@click.option("--namespace", help="Destination namespace (helm --namespace).")
@click.option("--helm-values", multiple=True, help="Helm value file (repeatable).")
@click.option("--helm-set", multiple=True, help="Helm parameter NAME=VALUE (repeatable).")
@click.option("--helm-set-string", multiple=True, help="Helm string parameter NAME=VALUE.")
@click.option("--helm-set-file", multiple=True, help="Helm file parameter NAME=PATH.")
@click.option("--release-name", help="Helm release name.")
@click.option("--skip-crds", is_flag=True, help="Helm: leave out the chart's crds/.")
@click.option("--skip-tests", is_flag=True, help="Helm: leave out test hooks.")
@click.option("--kube-version", help="Kubernetes version for Helm's Capabilities.")
@click.option("--api-versions", multiple=True, help="API version for Helm's Capabilities.")
@click.option("--kustomize-image", multiple=True, help="Kustomize image override (repeatable).")
@click.option("--kustomize-name-prefix", help="Kustomize namePrefix.")
@click.option("--kustomize-name-suffix", help="Kustomize nameSuffix.")
@click.option("--kustomize-namespace", help="Kustomize namespace.")
@click.option("--kustomize-label", multiple=True, help="Kustomize common label NAME=VALUE.")
@click.option("--kustomize-annotation", multiple=True, help="Kustomize common annotation.")
@click.option("--recurse", is_flag=True, help="Directory: read sub-folders too.")
@click.option("--include", help="Directory: glob of files to read (Argo CD syntax).")
@click.option("--exclude", help="Directory: glob of files to skip (wins over --include).")
@click.option("--jsonnet-ext-var", multiple=True, help="Jsonnet external variable NAME=VALUE.")
@click.option("--jsonnet-ext-code", multiple=True, help="Jsonnet external code NAME=CODE.")
@click.option("--jsonnet-tla", multiple=True, help="Jsonnet top-level argument NAME=VALUE.")
@click.option("--jsonnet-tla-code", multiple=True, help="Jsonnet top-level code NAME=CODE.")
@click.option("--jsonnet-lib", multiple=True, help="Jsonnet library folder (repository-relative).")
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds.")
@click.option("--allow-remote-bases", is_flag=True, help="Let kustomize fetch remote bases.")
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def render_command(
    directory: Path,
    repo_root: Path | None,
    application_file: Path | None,
    app_name: str | None,
    namespace: str | None,
    helm_values: tuple[str, ...],
    helm_set: tuple[str, ...],
    helm_set_string: tuple[str, ...],
    helm_set_file: tuple[str, ...],
    release_name: str | None,
    skip_crds: bool,
    skip_tests: bool,
    kube_version: str | None,
    api_versions: tuple[str, ...],
    kustomize_image: tuple[str, ...],
    kustomize_name_prefix: str | None,
    kustomize_name_suffix: str | None,
    kustomize_namespace: str | None,
    kustomize_label: tuple[str, ...],
    kustomize_annotation: tuple[str, ...],
    recurse: bool,
    include: str | None,
    exclude: str | None,
    jsonnet_ext_var: tuple[str, ...],
    jsonnet_ext_code: tuple[str, ...],
    jsonnet_tla: tuple[str, ...],
    jsonnet_tla_code: tuple[str, ...],
    jsonnet_lib: tuple[str, ...],
    timeout: float,
    allow_remote_bases: bool,
    output: str,
) -> None:
    """Render DIR (Kustomize, Helm, Jsonnet or plain manifests) and print its objects.

    Uses the same code, checks and limits as the controller, so a change can be checked before
    it is pushed.
    """
    directory = directory.resolve()
    source: dict[str, Any] = {}
    if application_file is not None:
        app = _load_application(application_file)
        source = dict(app["spec"]["source"])
        root = directory
        path = str(source.get("path") or ".")
        app_name = app_name or str((app.get("metadata") or {}).get("name") or "")
        destination = app["spec"].get("destination") or {}
        namespace = namespace or str(destination.get("namespace") or "")
    else:
        root = (repo_root or _repository_root(directory)).resolve()
        path = os.path.relpath(directory, root)
        if path.startswith(".."):
            raise click.ClickException(f"{directory} is not inside the repository root {root}")
    app_dir = root / path

    helm: dict[str, Any] = dict(source.get("helm") or {})
    if helm_values:
        helm["valueFiles"] = [
            *helm.get("valueFiles", []),
            *(_value_file(v, app_dir) for v in helm_values),
        ]
    params = list(helm.get("parameters") or [])
    params += [{"name": n, "value": v} for n, v in _pairs(helm_set, "--helm-set")]
    params += [
        {"name": n, "value": v, "forceString": True}
        for n, v in _pairs(helm_set_string, "--helm-set-string")
    ]
    if params:
        helm["parameters"] = params
    if helm_set_file:
        helm["fileParameters"] = [
            *helm.get("fileParameters", []),
            *(
                {"name": n, "path": _value_file(p, app_dir)}
                for n, p in _pairs(helm_set_file, "--helm-set-file")
            ),
        ]
    for key, value in (
        ("releaseName", release_name),
        ("skipCrds", skip_crds),
        ("skipTests", skip_tests),
    ):
        if value:
            helm[key] = value

    kustomize: dict[str, Any] = dict(source.get("kustomize") or {})
    if kustomize_image:
        kustomize["images"] = [*kustomize.get("images", []), *kustomize_image]
    for key, value in (
        ("namePrefix", kustomize_name_prefix),
        ("nameSuffix", kustomize_name_suffix),
        ("namespace", kustomize_namespace),
    ):
        if value:
            kustomize[key] = value
    if kustomize_label:
        kustomize["commonLabels"] = {
            **kustomize.get("commonLabels", {}),
            **dict(_pairs(kustomize_label, "--kustomize-label")),
        }
    if kustomize_annotation:
        kustomize["commonAnnotations"] = {
            **kustomize.get("commonAnnotations", {}),
            **dict(_pairs(kustomize_annotation, "--kustomize-annotation")),
        }

    directory_opts: dict[str, Any] = dict(source.get("directory") or {})
    if recurse:
        directory_opts["recurse"] = True
    if include:
        directory_opts["include"] = include
    if exclude:
        directory_opts["exclude"] = exclude
    jsonnet: dict[str, Any] = dict(directory_opts.get("jsonnet") or {})
    for field, plain, code in (
        ("extVars", jsonnet_ext_var, jsonnet_ext_code),
        ("tlas", jsonnet_tla, jsonnet_tla_code),
    ):
        entries = list(jsonnet.get(field) or [])
        entries += [{"name": n, "value": v} for n, v in _pairs(plain, f"--jsonnet-{field}")]
        entries += [
            {"name": n, "value": v, "code": True} for n, v in _pairs(code, f"--jsonnet-{field}")
        ]
        if entries:
            jsonnet[field] = entries
    if jsonnet_lib:
        jsonnet["libs"] = [*jsonnet.get("libs", []), *jsonnet_lib]
    if jsonnet:
        directory_opts["jsonnet"] = jsonnet

    for key, block in (("helm", helm), ("kustomize", kustomize), ("directory", directory_opts)):
        if block:
            source[key] = block
        else:
            source.pop(key, None)

    limits = RenderLimits(timeout_seconds=timeout, allow_remote_bases=allow_remote_bases)
    try:
        result = render(
            root,
            path,
            source,
            app_name=app_name or app_dir.resolve().name,
            namespace=namespace or "",
            kube_version=kube_version or "",
            api_versions=api_versions,
            limits=limits,
        )
    except RenderError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output == "json":
        document = {"apiVersion": "v1", "kind": "List", "items": result.objects}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(
            yaml.dump_all(result.objects, Dumper=yaml.CSafeDumper, sort_keys=False), nl=False
        )
