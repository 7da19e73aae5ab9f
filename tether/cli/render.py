"""``tether render DIR``: render a local folder with the controller's code, before a push."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson
import yaml

from tether.cli.options import EXISTING_DIR, EXISTING_FILE, parse_pairs
from tether.render import DEFAULT_LIMITS, RenderError, RenderLimits, render
from tether.render.manifests import load_yaml_file_text


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


def _pairs(flags: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """The NAME=VALUE pairs of the repeated flag ``key`` (``helm_set`` is ``--helm-set``)."""
    return parse_pairs(flags[key], "--" + key.replace("_", "-"), "NAME=VALUE")


@dataclass(frozen=True)
class _Target:
    """What is rendered: a path in a repository, with the source and names to render it with."""

    root: Path
    path: str
    source: dict[str, Any]
    app_name: str
    namespace: str

    @property
    def app_dir(self) -> Path:
        return self.root / self.path


def _target(directory: Path, flags: dict[str, Any]) -> _Target:
    """DIR in its repository, or the source of ``--application`` in DIR as the repository."""
    app_name, namespace = flags["app_name"] or "", flags["namespace"] or ""
    if flags["application_file"] is not None:
        app = _load_application(flags["application_file"])
        destination = app["spec"].get("destination") or {}
        source = dict(app["spec"]["source"])
        return _Target(
            directory,
            str(source.get("path") or "."),
            source,
            app_name or str((app.get("metadata") or {}).get("name") or ""),
            namespace or str(destination.get("namespace") or ""),
        )
    root = (flags["repo_root"] or _repository_root(directory)).resolve()
    path = os.path.relpath(directory, root)
    if path.startswith(".."):
        raise click.ClickException(f"{directory} is not inside the repository root {root}")
    return _Target(root, path, {}, app_name, namespace)


def _helm_block(source: dict[str, Any], flags: dict[str, Any], app_dir: Path) -> dict[str, Any]:
    helm: dict[str, Any] = dict(source.get("helm") or {})
    if flags["helm_values"]:
        helm["valueFiles"] = [
            *helm.get("valueFiles", []),
            *(_value_file(v, app_dir) for v in flags["helm_values"]),
        ]
    params = list(helm.get("parameters") or [])
    params += [{"name": n, "value": v} for n, v in _pairs(flags, "helm_set")]
    params += [
        {"name": n, "value": v, "forceString": True} for n, v in _pairs(flags, "helm_set_string")
    ]
    if params:
        helm["parameters"] = params
    if flags["helm_set_file"]:
        helm["fileParameters"] = [
            *helm.get("fileParameters", []),
            *(
                {"name": n, "path": _value_file(p, app_dir)}
                for n, p in _pairs(flags, "helm_set_file")
            ),
        ]
    for key, flag in (
        ("releaseName", "release_name"),
        ("skipCrds", "skip_crds"),
        ("skipTests", "skip_tests"),
    ):
        if flags[flag]:
            helm[key] = flags[flag]
    return helm


def _kustomize_block(source: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    kustomize: dict[str, Any] = dict(source.get("kustomize") or {})
    if flags["kustomize_image"]:
        kustomize["images"] = [*kustomize.get("images", []), *flags["kustomize_image"]]
    for key, flag in (
        ("namePrefix", "kustomize_name_prefix"),
        ("nameSuffix", "kustomize_name_suffix"),
        ("namespace", "kustomize_namespace"),
    ):
        if flags[flag]:
            kustomize[key] = flags[flag]
    for key, flag in (
        ("commonLabels", "kustomize_label"),
        ("commonAnnotations", "kustomize_annotation"),
    ):
        if flags[flag]:
            kustomize[key] = {**kustomize.get(key, {}), **dict(_pairs(flags, flag))}
    return kustomize


def _jsonnet_block(directory_opts: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    jsonnet: dict[str, Any] = dict(directory_opts.get("jsonnet") or {})
    for field, plain, code in (
        ("extVars", "jsonnet_ext_var", "jsonnet_ext_code"),
        ("tlas", "jsonnet_tla", "jsonnet_tla_code"),
    ):
        entries = list(jsonnet.get(field) or [])
        entries += [{"name": n, "value": v} for n, v in _pairs(flags, plain)]
        entries += [{"name": n, "value": v, "code": True} for n, v in _pairs(flags, code)]
        if entries:
            jsonnet[field] = entries
    if flags["jsonnet_lib"]:
        jsonnet["libs"] = [*jsonnet.get("libs", []), *flags["jsonnet_lib"]]
    return jsonnet


def _directory_block(source: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    directory_opts: dict[str, Any] = dict(source.get("directory") or {})
    if flags["recurse"]:
        directory_opts["recurse"] = True
    for key in ("include", "exclude"):
        if flags[key]:
            directory_opts[key] = flags[key]
    jsonnet = _jsonnet_block(directory_opts, flags)
    if jsonnet:
        directory_opts["jsonnet"] = jsonnet
    return directory_opts


def _source(target: _Target, flags: dict[str, Any]) -> dict[str, Any]:
    """The target's source with the tool options of the flags on top."""
    source = dict(target.source)
    blocks = (
        ("helm", _helm_block(source, flags, target.app_dir)),
        ("kustomize", _kustomize_block(source, flags)),
        ("directory", _directory_block(source, flags)),
    )
    for key, block in blocks:
        if block:
            source[key] = block
        else:
            source.pop(key, None)
    return source


def _print_objects(objects: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        document = {"apiVersion": "v1", "kind": "List", "items": objects}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False), nl=False)


@click.command("render")
@click.argument("directory", type=EXISTING_DIR, default=".")
@click.option(
    "--repo-root",
    type=EXISTING_DIR,
    help="Repository root the app may reference (default: enclosing Git work tree, else DIR).",
)
@click.option(
    "--application",
    "application_file",
    type=EXISTING_FILE,
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
    kube_version: str | None,
    api_versions: tuple[str, ...],
    timeout: float,
    allow_remote_bases: bool,
    output: str,
    **flags: Any,
) -> None:
    """Render DIR (Kustomize, Helm, Jsonnet or plain manifests) and print its objects.

    Uses the same code, checks and limits as the controller, so a change can be checked before
    it is pushed.
    """
    target = _target(directory.resolve(), flags)
    limits = RenderLimits(timeout_seconds=timeout, allow_remote_bases=allow_remote_bases)
    try:
        result = render(
            target.root,
            target.path,
            _source(target, flags),
            app_name=target.app_name or target.app_dir.resolve().name,
            namespace=target.namespace,
            kube_version=kube_version or "",
            api_versions=api_versions,
            limits=limits,
        )
    except RenderError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    _print_objects(result.objects, output)
