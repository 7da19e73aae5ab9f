"""Helm applications: ``helm template`` with Argo CD's options, local dependencies, no network."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

from tether.render.errors import (
    RenderError,
    RenderLimitError,
    ToolFailedError,
    UnsafeRepositoryError,
)
from tether.render.manifests import load_yaml_file_text, parse_tool_output
from tether.render.models import HELM, RenderContext, RenderLimits, RenderResult, envsubst
from tether.render.schemas import check_values_schemas
from tether.render.tooling import helm_binary
from tether.render.tree import Workspace, resolve_inside

_MAX_DEPENDENCY_DEPTH = 10
# helm names a failing template "chart/templates/x.yaml:6:52" (helm 4) or "template: chart/...:6"
_TEMPLATE_LOCATION = re.compile(r"(?:^|[\s\"(])(?P<file>[\w.-]+/[^\s:\"]+):(?P<line>\d+)")


def _read_chart(ws: Workspace, chart_dir: Path) -> dict[str, Any]:
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise RenderError("no Chart.yaml here", file=ws.relative(chart_dir))
    meta = load_yaml_file_text(ws.read(chart_file), ws.relative(chart_file), ws.limits)
    if not isinstance(meta, dict) or not meta.get("name"):
        raise RenderError("Chart.yaml has no chart name", file=ws.relative(chart_file))
    return meta


def _dependencies(ws: Workspace, chart_dir: Path, meta: dict[str, Any]) -> tuple[list[Any], str]:
    """Declared dependencies and the file declaring them (Chart.yaml, or requirements.yaml for
    apiVersion v1 charts)."""
    if meta.get("dependencies"):
        return list(meta["dependencies"]), ws.relative(chart_dir / "Chart.yaml")
    requirements = chart_dir / "requirements.yaml"
    if requirements.is_file():
        file = ws.relative(requirements)
        data = load_yaml_file_text(ws.read(requirements), file, ws.limits)
        if isinstance(data, dict):
            return list(data.get("dependencies") or []), file
    return [], ""


def is_vendored(charts_dir: Path, name: str) -> bool:
    """Whether a chart's ``charts/`` already holds its dependency ``name`` (a folder with a
    ``Chart.yaml``, or a ``name-*.tgz``): the renderer's rule, which the chart source follows."""
    if (charts_dir / name / "Chart.yaml").is_file():
        return True
    if not charts_dir.is_dir():
        return False
    return any(
        p.name.startswith(f"{name}-") and p.name.endswith(".tgz") for p in charts_dir.iterdir()
    )


def vendor_local_dependencies(ws: Workspace, chart_dir: Path, depth: int = 0) -> None:
    """Put each ``file://`` dependency into ``charts/`` of the copy, as ``helm dependency build``
    would, but without network; remote dependencies must already be vendored."""
    if depth > _MAX_DEPENDENCY_DEPTH:
        raise RenderError("chart dependencies nest too deep", file=ws.relative(chart_dir))
    meta = _read_chart(ws, chart_dir)
    deps, file = _dependencies(ws, chart_dir, meta)
    charts_dir = chart_dir / "charts"
    for dep in deps:
        if not isinstance(dep, dict) or not dep.get("name"):
            raise RenderError("a chart dependency has no name", file=file)
        name = str(dep["name"])
        if is_vendored(charts_dir, name):
            continue
        repository = str(dep.get("repository") or "")
        if not repository.startswith("file://"):
            where = f"from {repository}" if repository else "with no repository"
            raise RenderError(
                f"chart dependency {name} ({where}) is not in charts/: Tether builds only local "
                "file:// dependencies and downloads nothing; vendor it with 'helm dependency build'",
                file=file,
            )
        source = resolve_inside(ws.repo, chart_dir, repository[len("file://") :], "dependency")
        if not (source / "Chart.yaml").is_file():
            raise RenderError(f"chart dependency {name}: {repository} has no Chart.yaml", file=file)
        ws.writable(charts_dir).mkdir(exist_ok=True)
        # symlinks were checked when the repository was copied; copying their targets keeps the
        # dependency's links meaningful in its new place
        ws.copy_folder(source, charts_dir / name)
        vendor_local_dependencies(ws, charts_dir / name, depth + 1)


def needs_vendoring(ws: Workspace, chart_dir: Path) -> bool:
    """Whether preparing the chart would write into the tree: a declared dependency missing
    from ``charts/`` (a ``file://`` one is copied there; any other is an error the copy path
    reports)."""
    try:
        meta = _read_chart(ws, chart_dir)
        deps, _ = _dependencies(ws, chart_dir, meta)
    except RenderError:
        return True  # let the copy path report it, exactly as before
    return any(
        not isinstance(dep, dict) or not is_vendored(chart_dir / "charts", str(dep.get("name")))
        for dep in deps
    )


def _escape_set_value(value: str) -> str:
    """Argo CD keeps ``--set`` values whole: commas are escaped unless the value is a ``{list}``."""
    if value.startswith("{") and value.endswith("}"):
        return value
    return re.sub(r"(?<!\\),", r"\\,", value)


#: a multi-source ``ref`` as a value file names it: ``$name/path``
_REF_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _ref_file(ws: Workspace, ctx: RenderContext, path: str, what: str) -> Path | None:
    """A value file of another source of the app (``$name/path``, Argo CD's multi-source
    reference), copied into the scratch folder (tools read the workspace only); None when it
    does not exist there."""
    name, _, relative = path[1:].partition("/")
    roots = dict(ctx.value_refs)
    if not roots:
        raise RenderError(
            f"{what} {path!r}: references to other sources ($ref) work only in value files of "
            "a multi-source Application"
        )
    if name not in roots:
        known = ", ".join(f"${n}" for n in sorted(roots)) or "none"
        raise RenderError(f"{what} {path!r}: no source has ref {name!r} (refs: {known})")
    root = Path(roots[name])
    source = resolve_inside(root, root, "/" + relative, what)
    if not source.is_file():
        return None
    size = source.stat().st_size
    if size > ws.limits.max_file_bytes:
        raise RenderError(f"{what} {path!r} is {size} bytes, over {ws.limits.max_file_bytes}")
    copy = ws.scratch / "refs" / f"{len(list(ws.scratch.glob('refs/*')))}-{source.name}"
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(source.read_bytes())
    return copy


def _repo_file(ws: Workspace, chart_dir: Path, path: str, what: str) -> Path:
    if path.startswith("$"):
        raise RenderError(
            f"{what} {path!r}: references to other sources ($ref) work only in value files"
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path):
        raise UnsafeRepositoryError(
            f"{what} {path!r}: remote files are not fetched; keep it in the repository"
        )
    return resolve_inside(ws.repo, chart_dir, path, what)


def helm_arguments(
    ws: Workspace, chart_dir: Path, options: dict[str, Any], ctx: RenderContext
) -> tuple[list[str], list[str]]:
    """The ``helm template`` arguments for an Application's helm options, and warnings."""
    env = ctx.build_env()
    warnings: list[str] = []
    release = str(options.get("releaseName") or ctx.app_name or chart_dir.name)
    args = ["template", release, str(chart_dir)]
    namespace = options.get("namespace") or ctx.namespace
    if namespace:
        args += ["--namespace", str(namespace)]
    args.append("--skip-crds" if options.get("skipCrds") else "--include-crds")
    if options.get("skipTests"):
        args.append("--skip-tests")
    if options.get("skipSchemaValidation"):
        args.append("--skip-schema-validation")
    for written in options.get("valueFiles") or []:
        value_file = str(written)
        # `$name/...` names another source's file when the app has sources with refs (Argo
        # CD reads refs before it substitutes its variables)
        name, slash, _ = value_file[1:].partition("/")
        ref = value_file.startswith("$") and bool(slash) and bool(_REF_NAME.fullmatch(name))
        ref = ref and name not in env
        if ref:
            found = _ref_file(ws, ctx, value_file, "value file")
        else:
            value_file = envsubst(value_file, env)
            found = _repo_file(ws, chart_dir, value_file, "value file")
        if found is None or not found.is_file():
            if options.get("ignoreMissingValueFiles"):
                warnings.append(f"value file {value_file} not found; ignored")
                continue
            raise RenderError(
                f"value file {value_file!r} not found",
                file=ws.relative(found) if found is not None else value_file,
            )
        args += ["--values", str(found)]
    inline = _inline_values(options, ws.limits)
    if inline is not None:
        inline_file = ws.scratch / "application-values.yaml"
        inline_file.write_bytes(inline)
        args += ["--values", str(inline_file)]
    for param in options.get("parameters") or []:
        if not isinstance(param, dict) or not param.get("name"):
            raise RenderError("helm parameters: every entry needs a name")
        flag = "--set-string" if param.get("forceString") else "--set"
        value = _escape_set_value(envsubst(str(param.get("value", "")), env))
        args += [flag, f"{param['name']}={value}"]
    for param in options.get("fileParameters") or []:
        if not isinstance(param, dict) or not param.get("name") or not param.get("path"):
            raise RenderError("helm fileParameters: every entry needs a name and a path")
        path_text = envsubst(str(param["path"]), env)
        path = _repo_file(ws, chart_dir, path_text, "file parameter")
        if not path.is_file():
            raise RenderError(f"file parameter {param['name']}: {path_text!r} not found")
        args += ["--set-file", f"{param['name']}={path}"]
    kube_version = options.get("kubeVersion") or ctx.kube_version
    if kube_version:
        args += ["--kube-version", str(kube_version)]
    for api_version in options.get("apiVersions") or ctx.api_versions:
        args += ["--api-versions", str(api_version)]
    return args, warnings


def _inline_values(options: dict[str, Any], limits: RenderLimits) -> bytes | None:
    """``valuesObject`` (which wins, as in Argo CD) or ``values`` as a values file body."""
    values_object = options.get("valuesObject")
    if values_object:
        if not isinstance(values_object, dict):
            raise RenderError("helm valuesObject must be a mapping")
        return _values_json(values_object, "valuesObject")
    values = options.get("values")
    if not values:
        return None
    if isinstance(values, dict):
        return _values_json(values, "values")
    text = str(values)
    if len(text) > limits.max_file_bytes:
        raise RenderLimitError(
            f"helm values are larger than {limits.max_file_bytes} bytes",
            file="spec.source.helm.values",
        )
    parsed = load_yaml_file_text(text, "spec.source.helm.values", limits)
    if parsed is not None and not isinstance(parsed, dict):
        raise RenderError("helm values must be a YAML mapping", file="spec.source.helm.values")
    return text.encode()


def _values_json(values: dict[str, Any], field: str) -> bytes:
    try:
        return orjson.dumps(values)
    except TypeError as exc:
        # orjson stops at 255 levels and at values JSON has no form for
        raise RenderError(f"helm {field} cannot be passed to helm: {exc}") from None


def _helm_env(ws: Workspace) -> dict[str, str]:
    home = ws.scratch / "helm-home"
    plugins = ws.scratch / "helm-plugins"
    plugins.mkdir(exist_ok=True)
    dead = "http://127.0.0.1:9"
    # a fresh home: no user repositories, registry logins or plugins (post-renderers) reach in
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_PLUGINS": str(plugins),
        "KUBECONFIG": str(home / "no-kubeconfig"),
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "NO_PROXY": "",
    }


def prepare_helm(
    ws: Workspace, chart_dir: Path, options: dict[str, Any], ctx: RenderContext
) -> tuple[list[str], list[str]]:
    """Vendor local dependencies into the copy, check the values schemas helm will load, and
    work out the arguments; returns (args, warnings)."""
    _read_chart(ws, chart_dir)
    vendor_local_dependencies(ws, chart_dir)
    if not options.get("skipSchemaValidation"):
        # helm loads no schema then, so none can reach out
        check_values_schemas(ws, chart_dir)
    return helm_arguments(ws, chart_dir, options, ctx)


def render_helm(ws: Workspace, chart_dir: Path, args: list[str]) -> RenderResult:
    """Run ``helm template`` on the (prepared, sealed) chart."""
    chart_rel = ws.relative(chart_dir)
    try:
        run = ws.run(
            [helm_binary(), *args], what=f"helm template of {chart_rel}", env=_helm_env(ws)
        )
    except ToolFailedError as exc:
        raise _locate_template_error(exc, chart_rel) from None
    objects = parse_tool_output(run.stdout, "helm", ws.limits)
    warnings = [line for line in run.stderr.splitlines() if line.strip()]
    return RenderResult(objects=objects, tool=HELM, warnings=warnings)


def _locate_template_error(exc: ToolFailedError, chart_rel: str) -> ToolFailedError:
    """Attach the repository path and line of the failing template when helm names one."""
    match = _TEMPLATE_LOCATION.search(exc.message)
    if match is None:
        return exc
    inside_chart = match.group("file").split("/", 1)[-1]
    file = inside_chart if chart_rel == "." else f"{chart_rel}/{inside_chart}"
    return ToolFailedError(exc.message, file=file, line=int(match.group("line")))
