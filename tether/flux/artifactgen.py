"""Flux's ``ArtifactGenerator`` (``source.extensions.fluxcd.io/v1beta1``, source-watcher): its
spec, and which file of which source lands where in each generated ``ExternalArtifact``.

Copy operations run in order, later ones overwriting earlier ones. ``from: "@alias/<glob>"``
(``*`` within one folder, ``**`` across folders) copies each matching file to ``to`` followed by
its path below the glob's fixed folder (``@repo/apps/base/**`` → ``to`` + ``podinfo/…``); a
``from`` naming one file copies it to ``to`` (into it when ``to`` ends with ``/``); one naming a
folder copies the folder into ``to``. ``exclude`` globs (relative to the same fixed folder) leave
files out. Everything here works on lists of relative paths: no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tether.fields import FieldReader, InvalidSpecError
from tether.flux.specs import Unsupported, required_string, valid_name
from tether.globs import Glob, GlobSyntax, InvalidGlobError, compile_glob

SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "HelmChart", "ExternalArtifact")
SUPPORTED_KINDS = ("GitRepository", "OCIRepository")
MAX_ARTIFACTS = 100
MAX_COPIES = 100
_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
_PATHS = GlobSyntax(separators="/")
_GLOB_CHARS = set("*?[{")


@dataclass(frozen=True)
class SourceRef:
    alias: str
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True)
class Copy:
    alias: str
    pattern: str
    to: str
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class ArtifactSpec:
    name: str
    #: ``@alias``: the artifact's revision is that source's (else ``latest@sha256:<content>``)
    revision_alias: str | None
    #: ``@alias``: the source revision recorded as the artifact's origin
    origin_alias: str | None
    copies: tuple[Copy, ...]


@dataclass(frozen=True)
class GeneratorSpec:
    sources: tuple[SourceRef, ...]
    artifacts: tuple[ArtifactSpec, ...]


def parse_generator(spec: object, namespace: str) -> GeneratorSpec:
    reader = FieldReader(spec, "spec")
    sources = []
    for entry in reader.objects("sources"):
        alias = required_string(entry, "alias")
        if not _ALIAS.match(alias):
            raise InvalidSpecError(f"{entry.at('alias')}: {alias!r} is not letters, digits, - or _")
        kind = required_string(entry, "kind")
        if kind not in SOURCE_KINDS:
            raise InvalidSpecError(
                f"{entry.at('kind')}: {kind!r} is not one of {', '.join(SOURCE_KINDS)}"
            )
        if kind not in SUPPORTED_KINDS:
            raise Unsupported(f"{entry.at('kind')}: {kind} sources are not supported by Tether yet")
        sources.append(SourceRef(alias, kind, valid_name(required_string(entry, "name"), entry.at("name")),
                                 valid_name(entry.string("namespace") or namespace, entry.at("namespace"))))  # fmt: skip
    if not sources:
        raise InvalidSpecError("spec.sources: at least one source is required")
    aliases = [s.alias for s in sources]
    if len(set(aliases)) != len(aliases):
        raise InvalidSpecError("spec.sources: aliases must be unique")
    entries = reader.objects("artifacts")
    if not entries or len(entries) > MAX_ARTIFACTS:
        raise InvalidSpecError(f"spec.artifacts: between 1 and {MAX_ARTIFACTS} artifacts")
    artifacts = [_artifact(entry, set(aliases)) for entry in entries]
    names = [a.name for a in artifacts]
    if len(set(names)) != len(names):
        raise InvalidSpecError("spec.artifacts: names must be unique")
    return GeneratorSpec(tuple(sources), tuple(artifacts))


def _artifact(entry: FieldReader, aliases: set[str]) -> ArtifactSpec:
    name = valid_name(required_string(entry, "name"), entry.at("name"))
    copies = []
    operations = entry.objects("copy")
    if not operations or len(operations) > MAX_COPIES:
        raise InvalidSpecError(f"{entry.at('copy')}: between 1 and {MAX_COPIES} operations")
    for op in operations:
        strategy = op.string("strategy", "Overwrite") or "Overwrite"
        if strategy != "Overwrite":
            raise Unsupported(f"{op.at('strategy')}: {strategy} is not supported by Tether yet")
        alias, pattern = _reference(required_string(op, "from"), op.at("from"), aliases)
        to = required_string(op, "to")
        if not to.startswith("@artifact/") and to != "@artifact":
            raise InvalidSpecError(f"{op.at('to')}: {to!r} must start with @artifact/")
        dest = to.removeprefix("@artifact").lstrip("/")
        if _climbs(dest):
            raise InvalidSpecError(f"{op.at('to')}: {to!r} leaves the artifact")
        exclude = op.strings("exclude")
        for glob in (pattern, *exclude):
            _compiled(glob, op.at("from"))
        copies.append(
            Copy(alias, pattern, dest + ("/" if to.endswith("/") and dest else ""), exclude)
        )
    return ArtifactSpec(
        name=name,
        revision_alias=_alias_of(entry, "revision", aliases),
        origin_alias=_alias_of(entry, "originRevision", aliases),
        copies=tuple(copies),
    )


def _alias_of(entry: FieldReader, key: str, aliases: set[str]) -> str | None:
    value = entry.string(key)
    if not value:
        return None
    alias = value.removeprefix("@")
    if not value.startswith("@") or alias not in aliases:
        raise InvalidSpecError(f"{entry.at(key)}: {value!r} is not @<alias> of a source")
    return alias


def _reference(text: str, where: str, aliases: set[str]) -> tuple[str, str]:
    if not text.startswith("@"):
        raise InvalidSpecError(f"{where}: {text!r} must start with @<alias>/")
    alias, _, pattern = text[1:].partition("/")
    if alias not in aliases:
        raise InvalidSpecError(f"{where}: {text!r} names no source alias")
    if _climbs(pattern):
        raise InvalidSpecError(f"{where}: {text!r} leaves the source")
    return alias, pattern.strip("/")


def _climbs(path: str) -> bool:
    return any(part == ".." for part in path.split("/"))


def _compiled(pattern: str, where: str) -> Glob:
    try:
        return compile_glob(pattern, _PATHS)
    except InvalidGlobError as exc:
        raise InvalidSpecError(f"{where}: {exc}") from None


# ---- copy plan ---------------------------------------------------------------------------------


class CopyError(ValueError):
    """A copy operation that matches nothing, or a source that is missing."""


def base_of(pattern: str) -> str:
    """The fixed folder of a glob: its leading components without glob characters."""
    fixed = []
    for part in pattern.split("/"):
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _matches(glob: Glob, zero_dirs: Glob | None, path: str) -> bool:
    return glob.matches(path) or (zero_dirs is not None and zero_dirs.matches(path))


def plan(artifact: ArtifactSpec, files: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, str]]:
    """Where each file of the artifact comes from: ``{destination: (alias, source path)}``,
    later copies overwriting earlier ones. ``files``: each alias' files (relative paths)."""
    placed: dict[str, tuple[str, str]] = {}
    for op in artifact.copies:
        listing = files.get(op.alias)
        if listing is None:
            raise CopyError(f"source @{op.alias} has no artifact")
        found = _copy(op, listing)
        if not found:
            raise CopyError(f"@{op.alias}/{op.pattern} matches no file")
        placed.update(found)
    return placed


def _copy(op: Copy, listing: Sequence[str]) -> dict[str, tuple[str, str]]:
    pattern = op.pattern
    excluded = [_compiled(glob, "exclude") for glob in op.exclude]
    if not (_GLOB_CHARS & set(pattern)):
        return _plain(op, pattern, listing, excluded)
    glob = _compiled(pattern, "from")
    zero = _compiled(pattern.replace("/**/", "/"), "from") if "/**/" in pattern else None
    base = base_of(pattern)
    found = {}
    for path in listing:
        if not _matches(glob, zero, path) and not (
            pattern.endswith("/**") and path.startswith(base + "/")
        ):
            continue
        below = posixpath.relpath(path, base) if base else path
        if any(g.matches(below) for g in excluded):
            continue
        found[posixpath.normpath(posixpath.join(op.to or ".", below))] = (op.alias, path)
    return found


def _plain(
    op: Copy, path: str, listing: Sequence[str], excluded: Sequence[Glob]
) -> dict[str, tuple[str, str]]:
    if path in listing:
        dest = (
            posixpath.join(op.to, posixpath.basename(path))
            if op.to.endswith("/") or not op.to
            else op.to
        )
        return {posixpath.normpath(dest): (op.alias, path)}
    folder = path + "/" if path else ""
    found = {}
    for item in listing:
        if not item.startswith(folder):
            continue
        below = posixpath.join(posixpath.basename(path), item[len(folder) :]) if path else item
        if any(g.matches(item[len(folder) :]) for g in excluded):
            continue
        found[posixpath.normpath(posixpath.join(op.to or ".", below))] = (op.alias, item)
    return found
