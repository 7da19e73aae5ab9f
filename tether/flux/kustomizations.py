"""What Flux's kustomize-controller does to a source folder before ``kustomize build``.

Confirmed from fluxcd/pkg ``kustomize/kustomize_generator.go`` and its tests, and from
kustomize-controller's ``kustomization_controller.go``:

* A folder without ``kustomization.yaml``, ``kustomization.yml`` or ``Kustomization`` gets a
  generated ``kustomization.yaml`` whose resources are every ``.yaml``/``.yml`` file below it,
  found depth-first in name order; a sub-folder holding a kustomization file of its own is listed
  as one resource and not entered. Files are not skipped for not being Kubernetes objects: one
  document without ``kind`` or ``metadata.name`` (a Helm values file, a ``kustomizeconfig``)
  fails the build, as Flux's "failed to decode Kubernetes YAML" does. A folder with nothing to
  list gets the namespace ``_placeholder`` so kustomize does not refuse it as empty.
* The Kustomization's spec is then written into that file, or into the folder's own
  kustomization, in place (the controller keeps no ``.original`` copy): ``targetNamespace``,
  ``namePrefix`` and ``nameSuffix`` replace the file's values, ``patches`` and ``components``
  are appended (components missing from the source are dropped with
  ``ignoreMissingComponents``), ``images`` update the entry of the same name field by field or
  are appended, ``buildMetadata`` replaces the file's. A kustomization of its own without
  ``resources`` gets ``buildMetadata: [originAnnotations]`` first, Flux's guard against
  kustomize's empty-kustomization error (its objects then carry ``config.kubernetes.io/origin``).
* ``commonMetadata`` is not a kustomize transformer: after the build, the controller sets its
  labels and annotations on each object's own metadata, overriding keys already there, and
  leaves selectors and pod templates alone (:func:`apply_common_metadata`).

Flux builds with kustomize's ``LoadRestrictionsNone`` confined to the source's root, so a
kustomization may load files from folders above its own (but inside the source).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tether import names
from tether.fields import FieldReader, InvalidSpecError
from tether.render.errors import RenderError, RenderLimitError, UnsafeRepositoryError
from tether.render.kustomize import KUSTOMIZATION_NAMES, find_kustomization
from tether.render.manifests import iter_yaml_documents, load_yaml_file_text
from tether.render.tree import Workspace, is_inside

# bounds on what a Kustomization's spec may ask for (Flux sets none; a hostile spec must not
# make a render write or read without end)
MAX_PATCHES = 500
MAX_IMAGES = 500
MAX_COMPONENTS = 100
MAX_METADATA_ENTRIES = 500  # common labels, and common annotations
MAX_PATCH_BYTES = 1024 * 1024
MAX_ALL_PATCHES_BYTES = 4 * 1024 * 1024
MAX_ANNOTATIONS_BYTES = 256 * 1024  # what Kubernetes allows for an object's annotations
MAX_TEXT = 4096  # an image field, a selector, a component path, a label
# the CRD's bounds
MAX_NAMESPACE = 63
MAX_NAME_AFFIX = 200
#: folder entries looked at while generating a kustomization
MAX_SCANNED_ENTRIES = 100_000

_SELECTOR_KEYS = (
    "group",
    "version",
    "kind",
    "namespace",
    "name",
    "labelSelector",
    "annotationSelector",
)


@dataclass(frozen=True)
class Patch:
    """One ``spec.patches`` entry: an inline strategic-merge or JSON 6902 patch; ``target``
    (kustomize's selector fields, as spelled in the spec) is ``None`` when not given."""

    patch: str
    target: Mapping[str, str] | None = None

    def as_kustomize(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"patch": self.patch}
        if self.target is not None:
            entry["target"] = dict(self.target)
        return entry


@dataclass(frozen=True)
class Image:
    """One ``spec.images`` entry: fields left ``None`` keep what the kustomization says."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    def fields(self) -> dict[str, str]:
        values = {"newName": self.new_name, "newTag": self.new_tag, "digest": self.digest}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class FluxBuildOptions:
    """The parts of a Flux Kustomization's spec that shape its build."""

    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Patch, ...] = ()
    images: tuple[Image, ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    build_metadata: tuple[str, ...] = ()
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)


# ---- the spec ---------------------------------------------------------------------------------


def parse_build_options(spec: Mapping[str, Any] | None) -> FluxBuildOptions:
    """The build options of a Kustomization's ``spec`` (its other fields are ignored).

    Raises :class:`~tether.fields.InvalidSpecError` naming the field (``spec.patches[1].target``)
    for anything the ``kustomize.toolkit.fluxcd.io/v1`` API would refuse, and for input past
    this module's bounds.
    """
    reader = FieldReader(spec, "spec")
    for legacy in ("patchesStrategicMerge", "patchesJson6902"):
        if reader.obj.get(legacy) is not None:
            raise InvalidSpecError(
                f"spec.{legacy} is not part of kustomize.toolkit.fluxcd.io/v1: "
                "write it as an entry of spec.patches"
            )
    common = reader.child("commonMetadata")
    return FluxBuildOptions(
        target_namespace=_bounded(reader, "targetNamespace", MAX_NAMESPACE),
        name_prefix=_bounded(reader, "namePrefix", MAX_NAME_AFFIX),
        name_suffix=_bounded(reader, "nameSuffix", MAX_NAME_AFFIX),
        patches=_parse_patches(reader),
        images=_parse_images(reader),
        components=_parse_components(reader),
        ignore_missing_components=reader.boolean("ignoreMissingComponents"),
        build_metadata=_parse_build_metadata(reader),
        common_labels=_parse_string_map(common, "labels", MAX_TEXT),
        common_annotations=_parse_string_map(common, "annotations", MAX_ANNOTATIONS_BYTES),
    )


def is_local_relative_path(path: str) -> bool:
    """Flux's test for a component: not remote (``https://``, ``git@``, ``github.com/``...)
    and not absolute (``file://`` counts as local)."""
    lowered = path.lower()
    for prefix in names.REMOTE_PREFIXES:
        if len(prefix) < len(path) and lowered.startswith(prefix):
            return False
    if lowered.startswith(names.FILE_URL_PREFIX):
        lowered = lowered[len(names.FILE_URL_PREFIX) :]
    return not (path.startswith("/") or lowered.startswith("/"))


def _bounded(reader: FieldReader, key: str, limit: int, *, required: bool = False) -> str | None:
    value = reader.string(key)
    if value is None:
        if required:
            raise InvalidSpecError(f"{reader.at(key)} is required")
        return None
    if not value:
        raise InvalidSpecError(f"{reader.at(key)} must not be empty")
    if len(value) > limit:
        raise InvalidSpecError(f"{reader.at(key)} is longer than {limit} characters")
    return value


def _entries(reader: FieldReader, key: str, limit: int) -> list[Any]:
    items = reader.items(key)
    if len(items) > limit:
        raise InvalidSpecError(f"{reader.at(key)}: more than {limit} entries")
    return items


def _parse_patches(reader: FieldReader) -> tuple[Patch, ...]:
    _entries(reader, "patches", MAX_PATCHES)
    patches: list[Patch] = []
    total = 0
    for entry in reader.objects("patches"):
        text = _bounded(entry, "patch", MAX_PATCH_BYTES, required=True) or ""
        total += len(text.encode("utf-8", "surrogatepass"))
        if total > MAX_ALL_PATCHES_BYTES:
            raise InvalidSpecError(f"spec.patches: more than {MAX_ALL_PATCHES_BYTES} bytes in all")
        target = entry.child("target")
        selector = None
        if target is not None:
            selector = {}
            for key in _SELECTOR_KEYS:
                if value := _bounded(target, key, MAX_TEXT):
                    selector[key] = value
        patches.append(Patch(text, selector))
    return tuple(patches)


def _parse_images(reader: FieldReader) -> tuple[Image, ...]:
    _entries(reader, "images", MAX_IMAGES)
    return tuple(
        Image(
            name=_bounded(entry, "name", MAX_TEXT, required=True) or "",
            new_name=_bounded(entry, "newName", MAX_TEXT),
            new_tag=_bounded(entry, "newTag", MAX_TEXT),
            digest=_bounded(entry, "digest", MAX_TEXT),
        )
        for entry in reader.objects("images")
    )


def _parse_components(reader: FieldReader) -> tuple[str, ...]:
    _entries(reader, "components", MAX_COMPONENTS)
    components = reader.strings("components")
    for i, component in enumerate(components):
        where = f"{reader.at('components')}[{i}]"
        if not component or len(component) > MAX_TEXT or "\0" in component:
            raise InvalidSpecError(f"{where} must be a path of 1 to {MAX_TEXT} characters")
        if not is_local_relative_path(component):
            raise InvalidSpecError(
                f"{where}: {component!r} must be a local, relative path (Flux refuses remote "
                "and absolute components)"
            )
    return components


def _parse_build_metadata(reader: FieldReader) -> tuple[str, ...]:
    options = reader.strings("buildMetadata")
    for i, option in enumerate(options):
        if option not in names.BUILD_METADATA_OPTIONS:
            raise InvalidSpecError(
                f"{reader.at('buildMetadata')}[{i}]: {option!r} is not one of "
                f"{', '.join(names.BUILD_METADATA_OPTIONS)}"
            )
    return options


def _parse_string_map(reader: FieldReader | None, key: str, value_bytes: int) -> dict[str, str]:
    if reader is None:
        return {}
    values = reader.mapping(key) or {}
    where = reader.at(key)
    if len(values) > MAX_METADATA_ENTRIES:
        raise InvalidSpecError(f"{where}: more than {MAX_METADATA_ENTRIES} entries")
    size = 0
    for name, value in values.items():
        if not isinstance(name, str) or not name or len(name) > MAX_TEXT:
            raise InvalidSpecError(
                f"{where}: key {name!r} must be a string of 1 to {MAX_TEXT} characters"
            )
        if not isinstance(value, str):
            raise InvalidSpecError(f"{where}.{name} must be a string")
        size += len(name) + len(value)
        if size > value_bytes:
            raise InvalidSpecError(f"{where}: more than {value_bytes} characters in all")
    return values


# ---- the folder -------------------------------------------------------------------------------


def prepare(ws: Workspace, folder: Path, options: FluxBuildOptions) -> Path:
    """Make ``folder`` of the workspace's tree build as Flux builds it: generate its
    kustomization if it has none, then write the Kustomization's options into it.

    Returns the kustomization file. Reads are bounded by the workspace's limits; errors are
    :class:`~tether.render.RenderError` naming the file (:class:`UnsafeRepositoryError` when
    ``folder`` or a component leaves the tree). Generating a kustomization writes a new file, so
    a sealed tree read in place cannot take it: such a render needs a private copy.
    """
    real = os.path.realpath(folder)
    if not is_inside(str(ws.repo), real) or not os.path.isdir(real):
        raise UnsafeRepositoryError(
            "the Kustomization's path is not a folder inside the source", file=ws.relative(folder)
        )
    folder = Path(real)
    kfile = find_kustomization(folder)
    if kfile is None:
        kfile = folder / names.GENERATED_KUSTOMIZATION_FILE
        data = generate_kustomization(ws, folder)
    else:
        data = _load_kustomization(ws, kfile)
        if not _list_field(data, "resources", ws.relative(kfile)):
            # Flux's guard against kustomize refusing a kustomization as empty
            data["buildMetadata"] = [names.ORIGIN_ANNOTATIONS]
    _overlay(ws, kfile, data, options)
    ws.write_file(kfile, yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False).encode())
    return kfile


def generate_kustomization(ws: Workspace, folder: Path) -> dict[str, Any]:
    """The kustomization Flux generates for ``folder``, which has none (see the module's
    docstring); every listed file is checked as Flux checks it."""
    resources: list[str] = []
    for path, is_folder in _walk(ws, folder):
        if not is_folder:
            _check_manifests(ws, path)
        resources.append("./" + os.path.relpath(path, folder).replace(os.sep, "/"))
    data: dict[str, Any] = {"apiVersion": names.KUSTOMIZE_API_VERSION, "kind": names.KUSTOMIZE_KIND}
    if resources:
        data["resources"] = resources
    else:
        data["namespace"] = names.PLACEHOLDER_NAMESPACE
    return data


def _walk(ws: Workspace, folder: Path) -> Iterator[tuple[str, bool]]:
    """What a generated kustomization lists, in Go's ``filepath.Walk`` order (names sorted,
    depth first): ``(path, True)`` for a sub-folder with a kustomization file (not entered),
    ``(path, False)`` for a YAML file. Links are not followed into folders, as in Go."""
    seen = 0
    stack = [iter(_sorted_entries(ws, str(folder)))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        seen += 1
        if seen > MAX_SCANNED_ENTRIES:
            raise RenderLimitError(
                f"more than {MAX_SCANNED_ENTRIES} files and folders to look through for the "
                "generated kustomization",
                file=ws.relative(folder),
            )
        if entry.is_dir(follow_symlinks=False):
            if any(os.path.isfile(os.path.join(entry.path, n)) for n in KUSTOMIZATION_NAMES):
                yield entry.path, True
            else:
                stack.append(iter(_sorted_entries(ws, entry.path)))
        elif _extension(entry.name) in names.MANIFEST_EXTENSIONS:
            yield entry.path, False


def _extension(name: str) -> str:
    """Go's ``filepath.Ext``: from the last dot on (``.yaml`` is a name without a stem, too)."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def _sorted_entries(ws: Workspace, path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        raise RenderError(f"cannot list: {exc.strerror or exc}", file=ws.relative(path)) from None


def _check_manifests(ws: Workspace, path: str) -> None:
    """Refuse a listed file as Flux does: each document must be empty or a Kubernetes object
    (a mapping with ``kind`` and, unless a ``*List``, ``metadata.name``), with no empty list
    item anywhere."""
    file = ws.relative(path)
    for doc, line in iter_yaml_documents(ws.read(Path(path)), file, limits=ws.limits):
        problem = _manifest_problem(doc)
        if problem:
            raise RenderError(
                f"not a Kubernetes manifest ({problem}): Flux lists every .yaml and .yml file of "
                "a folder without a kustomization as a resource; add a kustomization.yaml "
                "that lists the resources, or move the file out of the folder",
                file=file,
                line=line,
            )


def _manifest_problem(doc: Any) -> str | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or not any(doc.get(k) for k in ("apiVersion", "kind", "metadata")):
        return "no apiVersion, kind or metadata"
    kind = doc.get("kind")
    if not kind:
        return "no kind"
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List")) and not name:
        return "no metadata.name"
    # kustomize refuses a null item in any list of an object
    pending: list[Any] = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            if any(item is None for item in value):
                return "an empty item in a list"
            pending.extend(value)
    return None


# ---- the overlay ------------------------------------------------------------------------------


def _load_kustomization(ws: Workspace, kfile: Path) -> dict[str, Any]:
    file = ws.relative(kfile)
    data = load_yaml_file_text(ws.read(kfile), file, ws.limits)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RenderError("kustomization is not a mapping", file=file, line=1)
    # Flux reads the file into kustomize's typed Kustomization, which defaults its type
    return {"apiVersion": names.KUSTOMIZE_API_VERSION, "kind": names.KUSTOMIZE_KIND, **data}


def _list_field(data: Mapping[str, Any], key: str, file: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f'"{key}" must be a list', file=file)
    return list(value)


def _overlay(ws: Workspace, kfile: Path, data: dict[str, Any], options: FluxBuildOptions) -> None:
    """Write the Kustomization's options into the kustomization ``data`` of ``kfile``."""
    file = ws.relative(kfile)
    for key, value in (
        ("namespace", options.target_namespace),
        ("namePrefix", options.name_prefix),
        ("nameSuffix", options.name_suffix),
    ):
        if value is not None:
            data[key] = value
    if options.patches:
        patches = _list_field(data, "patches", file)
        data["patches"] = patches + [patch.as_kustomize() for patch in options.patches]
    if options.components:
        components = _list_field(data, "components", file)
        components += _present_components(ws, kfile.parent, options)
        if components:
            data["components"] = components
    if options.images:
        data["images"] = _merge_images(_list_field(data, "images", file), options.images, file)
    if options.build_metadata:
        data["buildMetadata"] = list(options.build_metadata)


def _present_components(ws: Workspace, folder: Path, options: FluxBuildOptions) -> list[str]:
    """The spec's components, relative to ``folder``; those missing from the source are
    dropped with ``ignoreMissingComponents`` (otherwise kustomize reports them)."""
    kept: list[str] = []
    for component in options.components:
        local = component
        if local.lower().startswith(names.FILE_URL_PREFIX):
            local = local[len(names.FILE_URL_PREFIX) :]
        if not is_inside(str(ws.repo), os.path.realpath(folder / local)):
            raise UnsafeRepositoryError(
                f"spec.components: {component!r} resolves outside the source",
                file=ws.relative(folder),
            )
        if options.ignore_missing_components and not os.path.exists(folder / component):
            continue
        kept.append(component)
    return kept


def _merge_images(existing: list[Any], images: Iterable[Image], file: str) -> list[Any]:
    """``images`` of the kustomization with the spec's: an entry of the same name takes the
    fields the spec sets and keeps the others; a new name is appended."""
    merged = list(existing)
    for image in images:
        for i, entry in enumerate(merged):
            if not isinstance(entry, dict):
                raise RenderError('entries of "images" must be mappings', file=file)
            if entry.get("name") == image.name:
                merged[i] = {**entry, **image.fields()}
                break
        else:
            merged.append({"name": image.name, **image.fields()})
    return merged


# ---- after the build --------------------------------------------------------------------------


def apply_common_metadata(
    objects: Iterable[Mapping[str, Any]], options: FluxBuildOptions
) -> list[dict[str, Any]]:
    """The built objects with ``commonMetadata`` set as the controller sets it: on each object's
    own labels and annotations, replacing values of the same keys; selectors and templates are
    left alone. The objects given are not changed."""
    labels, annotations = options.common_labels, options.common_annotations
    if not labels and not annotations:
        return [dict(obj) for obj in objects]
    out: list[dict[str, Any]] = []
    for obj in objects:
        metadata = dict(obj.get("metadata") or {})
        for key, extra in (("labels", labels), ("annotations", annotations)):
            merged = {**(metadata.get(key) or {}), **extra}
            if merged:
                metadata[key] = merged
        out.append({**obj, "metadata": metadata})
    return out
