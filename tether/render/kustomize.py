"""Kustomize applications: safety checks, the Application's kustomize options, ``kubectl kustomize``.

Nothing in a repository runs as code: exec, container and Go plugins are refused before the tool
starts (kustomize also gets no ``--enable-alpha-plugins``, ``--enable-exec`` or ``--enable-helm``),
files load under ``LoadRestrictionsRootOnly``, and remote bases are refused unless allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from tether.render.errors import RenderError, UnsafeRepositoryError
from tether.render.manifests import iter_yaml_documents, load_yaml_file_text, parse_tool_output
from tether.render.models import KUSTOMIZE, RenderContext, RenderResult, envsubst
from tether.render.tooling import kustomize_argv
from tether.render.tree import Workspace, is_inside, walk
from tether.safeyaml import YamlError, YamlLimits, bounded_events

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
_REMOTE_PREFIX = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|git@|git::|gh:|(?:github|gitlab)\.com[/:]|bitbucket\.org[/:])"
)
_HOST_LIKE = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/")
_REFERENCE_FIELDS = ("resources", "bases", "components")
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
_NODE_STARTS = (ScalarEvent, AliasEvent, MappingStartEvent, SequenceStartEvent)


def find_kustomization(folder: Path) -> Path | None:
    """The kustomization file of ``folder``, if it has one."""
    for name in KUSTOMIZATION_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def is_remote_reference(entry: str, folder: Path) -> bool:
    """Whether kustomize would fetch ``entry`` over the network (git or HTTP)."""
    if _REMOTE_PREFIX.match(entry) or "?ref=" in entry or "?version=" in entry:
        return True
    return bool(_HOST_LIKE.match(entry)) and not (folder / entry).exists()


def _item_lines(text: bytes, limits: YamlLimits) -> dict[str, list[int]]:
    """The line of every item of each top-level list of the first document, from the parser's
    events (nothing is built, so nothing needs bounding beyond the events themselves)."""
    lines: dict[str, list[int]] = {}
    depth = 0
    expecting_key = True
    key: str | None = None
    items: list[int] | None = None
    for event in bounded_events(text, limits=limits):
        kind = type(event)
        if kind is DocumentEndEvent:
            break
        if kind in _NODE_STARTS:
            if depth == 2 and items is not None:
                items.append(event.start_mark.line + 1)
            elif depth == 1:
                # in the root mapping, node starts alternate: a key, then its value
                if expecting_key:
                    key = event.value if kind is ScalarEvent else None
                elif kind is SequenceStartEvent and key is not None:
                    items = lines.setdefault(key, [])
                expecting_key = not expecting_key
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            depth += 1
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            depth -= 1
            if depth == 1:
                items = None
    return lines


class _Kustomization:
    """A parsed kustomization file with the line of every list item, for precise errors."""

    def __init__(self, path: Path, ws: Workspace) -> None:
        self.path = path
        self.file = ws.relative(path)
        text = ws.read(path)
        data = load_yaml_file_text(text, self.file, ws.limits)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise RenderError("kustomization is not a mapping", file=self.file, line=1)
        self.data: dict[str, Any] = data
        try:
            self.item_lines = _item_lines(text, ws.limits.yaml(ws.limits.max_file_bytes))
        except YamlError:
            # the data parsed already; a later document's error only costs the line numbers
            self.item_lines = {}

    def entries(self, field: str) -> list[tuple[Any, int | None]]:
        items = self.data.get(field) or []
        if not isinstance(items, list):
            raise RenderError(f'"{field}" must be a list', file=self.file)
        lines = self.item_lines.get(field, [])
        return [(item, lines[i] if i < len(lines) else None) for i, item in enumerate(items)]


class _SafetyCheck:
    """Walks the kustomizations an app reaches and refuses plugins, escapes and remote bases."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.root = str(ws.repo)
        self.visited: set[Path] = set()

    def visit(self, start: Path) -> None:
        """Check ``start`` and every folder it reaches (a work list: bases may chain deep)."""
        pending = [start]
        while pending:
            folder = Path(os.path.realpath(pending.pop()))
            if folder not in self.visited:
                self.visited.add(folder)
                pending.extend(reversed(self._check_folder(folder)))

    def _check_folder(self, folder: Path) -> list[Path]:
        """Check one folder's kustomization; returns the folders it reaches."""
        reached: list[Path] = []
        kfile = find_kustomization(folder)
        if kfile is None:
            return reached
        k = _Kustomization(kfile, self.ws)
        if k.data.get("helmCharts") or k.data.get("helmChartInflationGenerator"):
            raise UnsafeRepositoryError(
                "helmCharts need kustomize --enable-helm, which Tether does not enable (helm would "
                "download charts); render the chart as a Helm application instead",
                file=k.file,
            )
        for field in _REFERENCE_FIELDS:
            for entry, line in k.entries(field):
                target = self._local(k, field, entry, line, folder)
                if target is not None and target.is_dir():
                    reached.append(target)
        for field in _PLUGIN_FIELDS:
            for entry, line in k.entries(field):
                if isinstance(entry, dict):
                    self._check_plugin_config(entry, k.file, line)
                    continue
                if isinstance(entry, str) and "\n" in entry:
                    # kustomize reads a multi-line string entry as inline plugin configuration
                    for doc, _ in iter_yaml_documents(entry, k.file, limits=self.ws.limits):
                        self._check_plugin_config(doc, k.file, line)
                    continue
                target = self._local(k, field, entry, line, folder)
                if target is None:
                    continue
                if target.is_dir():
                    self._check_plugin_folder(target)
                    reached.append(target)
                elif target.is_file():
                    self._check_plugin_file(target)
        return reached

    def _local(
        self, k: _Kustomization, field: str, entry: Any, line: int | None, folder: Path
    ) -> Path | None:
        if not isinstance(entry, str):
            raise RenderError(f'entries of "{field}" must be strings', file=k.file, line=line)
        if is_remote_reference(entry, folder):
            if self.ws.limits.allow_remote_bases:
                return None
            raise UnsafeRepositoryError(
                f"remote {field} entry {entry!r} is not allowed (remote bases are off; vendor it "
                "into the repository)",
                file=k.file,
                line=line,
            )
        resolved = os.path.realpath(folder / entry)
        if not is_inside(self.root, resolved):
            raise UnsafeRepositoryError(
                f"{field} entry {entry!r} resolves outside the repository", file=k.file, line=line
            )
        return Path(resolved)

    def _check_plugin_folder(self, folder: Path) -> None:
        for dirpath, _, filenames in walk(folder):
            for name in sorted(filenames):
                if name.endswith((".yaml", ".yml")) and name not in KUSTOMIZATION_NAMES:
                    self._check_plugin_file(Path(dirpath) / name)

    def _check_plugin_file(self, path: Path) -> None:
        file = self.ws.relative(path)
        for doc, line in iter_yaml_documents(self.ws.read(path), file, limits=self.ws.limits):
            self._check_plugin_config(doc, file, line)

    def _check_plugin_config(self, config: Any, file: str, line: int | None) -> None:
        if not isinstance(config, dict):
            return
        metadata = config.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if isinstance(annotations, dict):
            for key in _FUNCTION_ANNOTATIONS:
                if key in annotations:
                    raise UnsafeRepositoryError(
                        f"kustomize function plugin ({key}) is not allowed: Tether runs no code "
                        "from a repository (exec, container and starlark functions are refused)",
                        file=file,
                        line=line,
                    )
        if config.get("apiVersion") != "builtin":
            raise UnsafeRepositoryError(
                f"kustomize plugin {config.get('apiVersion')}/{config.get('kind')} is not allowed: "
                "only builtin plugins (apiVersion: builtin) run",
                file=file,
                line=line,
            )


def check_kustomization_tree(ws: Workspace, app_dir: Path) -> None:
    """Refuse plugins, remote bases (unless allowed) and references leaving the repository."""
    _SafetyCheck(ws).visit(app_dir)


def _parse_image(arg: str) -> dict[str, str]:
    """``kustomize edit set image`` syntax: ``[name=]new[:tag|@digest]`` or ``name:tag``."""

    def split(value: str) -> tuple[str, str, str]:
        if "@" in value:
            name, digest = value.split("@", 1)
            return name, "", digest
        match = re.match(r"^(.*):([a-zA-Z0-9._-]*|\*)$", value)
        if match:
            return match.group(1), match.group(2), ""
        return value, "", ""

    image: dict[str, str] = {}
    if arg.count("=") == 1:
        name, rest = arg.split("=")
        new_name, tag, digest = split(rest)
        image = {"name": name, "newName": new_name}
    else:
        name, tag, digest = split(arg)
        if not tag and not digest:
            raise RenderError(f"kustomize image {arg!r}: expected name:tag, name@digest or a=b:tag")
        image = {"name": name}
    if tag and tag != "*":
        image["newTag"] = tag
    if digest:
        image["digest"] = digest
    return image


def _set_images(data: dict[str, Any], args: list[str]) -> None:
    wanted: dict[str, dict[str, str]] = {}
    for arg in args:
        image = _parse_image(arg)
        wanted[image["name"]] = image
    merged = dict(wanted)
    for existing in data.get("images") or []:
        name = existing.get("name")
        override = wanted.get(name)
        if override is None:
            merged[name] = existing
            continue
        updated = dict(existing)
        if override.get("newName"):
            updated["newName"] = override["newName"]
        if override.get("newTag"):
            updated["newTag"] = override["newTag"]
            updated.pop("digest", None)
        if override.get("digest"):
            updated["digest"] = override["digest"]
            updated.pop("newTag", None)
        merged[name] = updated
    data["images"] = [merged[name] for name in sorted(merged)]


def _set_replicas(data: dict[str, Any], replicas: list[Any]) -> None:
    current: list[dict[str, Any]] = list(data.get("replicas") or [])
    for item in replicas:
        name, count = item.get("name"), item.get("count")
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise RenderError(
                f"kustomize replicas for {name!r}: count {count!r} is not a number"
            ) from None
        for entry in current:
            if entry.get("name") == name:
                entry["count"] = count
                break
        else:
            current.append({"name": name, "count": count})
    data["replicas"] = current


def _add_map(
    data: dict[str, Any], field: str, values: dict[str, str], force: bool, file: str
) -> None:
    current = dict(data.get(field) or {})
    for key, value in values.items():
        if key in current and not force:
            kind = "label" if field == "commonLabels" else "annotation"
            raise RenderError(
                f"{kind} {key} is already set in the kustomization; set force{field[0].upper()}"
                f"{field[1:]} to override it",
                file=file,
            )
        current[key] = value
    data[field] = current


def _add_labels_without_selector(
    data: dict[str, Any], values: dict[str, str], include_templates: bool
) -> None:
    labels: list[dict[str, Any]] = list(data.get("labels") or [])
    for entry in labels:
        if not entry.get("includeSelectors") and bool(entry.get("includeTemplates")) == (
            include_templates
        ):
            entry["pairs"] = {**(entry.get("pairs") or {}), **values}
            break
    else:
        entry = {"pairs": dict(values)}
        if include_templates:
            entry["includeTemplates"] = True
        labels.append(entry)
    data["labels"] = labels


def apply_application_options(
    kfile: Path, options: dict[str, Any], ctx: RenderContext, ws: Workspace
) -> list[str]:
    """Edit the (copied) kustomization as Argo CD's ``kustomize edit`` calls would.

    Editing the file itself, rather than wrapping it in another kustomization, keeps Argo CD's
    outcome: a name prefix replaces the app's own, patches match names before the prefix.
    Returns warnings about options that do not apply.
    """
    k = _Kustomization(kfile, ws)
    data = k.data
    env = ctx.build_env()
    warnings: list[str] = []
    app_dir = kfile.parent
    if options.get("namePrefix"):
        data["namePrefix"] = str(options["namePrefix"])
    if options.get("nameSuffix"):
        data["nameSuffix"] = str(options["nameSuffix"])
    if options.get("images"):
        _set_images(data, [envsubst(str(i), env) for i in options["images"]])
    if options.get("replicas"):
        _set_replicas(data, list(options["replicas"]))
    if options.get("commonLabels"):
        labels = {str(k_): envsubst(str(v), env) for k_, v in options["commonLabels"].items()}
        if options.get("labelWithoutSelector"):
            _add_labels_without_selector(data, labels, bool(options.get("labelIncludeTemplates")))
        else:
            _add_map(data, "commonLabels", labels, bool(options.get("forceCommonLabels")), k.file)
    if options.get("commonAnnotations"):
        subst = bool(options.get("commonAnnotationsEnvsubst"))
        annotations = {
            str(k_): envsubst(str(v), env) if subst else str(v)
            for k_, v in options["commonAnnotations"].items()
        }
        force = bool(options.get("forceCommonAnnotations"))
        _add_map(data, "commonAnnotations", annotations, force, k.file)
    if options.get("namespace"):
        data["namespace"] = str(options["namespace"])
    if options.get("patches"):
        data["patches"] = list(data.get("patches") or []) + [
            {key: value for key, value in patch.items() if value not in (None, "", {})}
            for patch in options["patches"]
        ]
    if options.get("components"):
        components: list[str] = list(data.get("components") or [])
        for component in options["components"]:
            component = str(component)
            if not (app_dir / component).exists() and not is_remote_reference(component, app_dir):
                if options.get("ignoreMissingComponents"):
                    warnings.append(f"component {component} not found; ignored")
                    continue
                raise RenderError(f"component {component!r} not found", file=k.file)
            if component not in components:
                components.append(component)
        data["components"] = components
    for ignored in ("version", "kubeVersion", "apiVersions"):
        if options.get(ignored):
            warnings.append(f"kustomize option {ignored} has no effect in Tether")
    ws.write_file(kfile, yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False).encode())
    return warnings


def _tool_env(ws: Workspace) -> dict[str, str]:
    home = ws.scratch / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "KUSTOMIZE_PLUGIN_HOME": str(ws.scratch / "no-plugins"),
        "GIT_TERMINAL_PROMPT": "0",
    }
    if not ws.limits.allow_remote_bases:
        # second line of defence behind the reference check: no git protocol, no HTTP route
        dead = "http://127.0.0.1:9"
        env.update(
            GIT_ALLOW_PROTOCOL="tether-none",
            HTTP_PROXY=dead,
            HTTPS_PROXY=dead,
            http_proxy=dead,
            https_proxy=dead,
            ALL_PROXY=dead,
            NO_PROXY="",
        )
    return env


def prepare_kustomize(
    ws: Workspace, app_dir: Path, options: dict[str, Any], ctx: RenderContext
) -> list[str]:
    """Apply the Application's options to the copy and check it; returns warnings."""
    kfile = find_kustomization(app_dir)
    if kfile is None:
        raise RenderError(
            "no kustomization.yaml, kustomization.yml or Kustomization here",
            file=ws.relative(app_dir),
        )
    warnings = apply_application_options(kfile, options, ctx, ws) if options else []
    check_kustomization_tree(ws, app_dir)
    return warnings


def render_kustomize(ws: Workspace, app_dir: Path, *, root_only: bool = True) -> RenderResult:
    """Build the (prepared, sealed) kustomization in ``app_dir``. ``root_only`` (Argo CD's
    default) keeps every file a kustomization loads inside its own folder; Flux builds without
    that restriction (``../patches.yaml`` loads), still inside the repository: the workspace
    holds nothing else and :func:`check_kustomization_tree` refuses paths leaving it."""
    restrictor = "LoadRestrictionsRootOnly" if root_only else "LoadRestrictionsNone"
    argv = [*kustomize_argv(), str(app_dir), "--load-restrictor", restrictor]
    run = ws.run(
        argv,
        what=f"kustomize build of {ws.relative(app_dir)}",
        env=_tool_env(ws),
        network=ws.limits.allow_remote_bases,  # remote bases are fetched by kustomize itself
    )
    objects = parse_tool_output(run.stdout, "kustomize", ws.limits)
    warnings = [line for line in run.stderr.splitlines() if line.strip()]
    return RenderResult(objects=objects, tool=KUSTOMIZE, warnings=warnings)
