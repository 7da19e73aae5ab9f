"""Flux's post-build variable substitution (a Kustomization's ``spec.postBuild``), on plain data.

kustomize-controller writes each rendered object as YAML, runs its fork of drone/envsubst
(:mod:`tether.flux.envsubst`) over the text and parses the result again: a value goes in as YAML
text (``'"true"'`` gives the string ``true``, ``yes`` a boolean). Strict mode (the
``StrictPostBuildSubstitutions`` gate, on by default since Flux 2.9) fails on an unset variable
unless the expression gives a default. Objects labelled or annotated
``kustomize.toolkit.fluxcd.io/substitute: disabled`` are left alone. YAML is written as kustomize
writes it (sorted keys, no folding, libyaml's quoting, ``|`` blocks) and read back with the
bounded :class:`~tether.safeyaml.KubernetesLoader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from tether.flux.envsubst import (
    DEFAULT_SUBSTITUTION_LIMITS,
    Envsubst,
    EnvsubstFailure,
    SubstitutionError,
    SubstitutionLimits,
    describe_inserted,
)
from tether.names import FLUX_SUBSTITUTE_DISABLED, FLUX_SUBSTITUTE_KEY
from tether.safeyaml import KubernetesLoader, YamlError, YamlLimits, check_nesting, load


@dataclass(frozen=True)
class VarSource:
    """A ``substituteFrom`` entry and what was fetched for it: the ConfigMap's ``data`` or the
    Secret's decoded ``data``; ``None`` when the object does not exist."""

    kind: str
    name: str
    optional: bool = False
    data: Mapping[str, str] | None = None


def collect_variables(inline: Mapping[str, str], sources: Sequence[VarSource]) -> dict[str, str]:
    """The variables of a Kustomization: ``sources`` in order (a later key wins), then ``inline``
    (``substitute``) over all; newlines are removed from values, as Flux does."""
    variables: dict[str, str] = {}
    for source in sources:
        if source.kind not in ("ConfigMap", "Secret"):
            continue  # Flux fetches nothing else (its API allows nothing else)
        if source.data is None and not source.optional:
            plural = "configmaps" if source.kind == "ConfigMap" else "secrets"
            raise SubstitutionError(f"substitute from '{source.kind}/{source.name}' error: "
                                    f'{plural} "{source.name}" not found')  # fmt: skip
        variables.update(source.data or {})
    variables.update(inline)
    for name, value in variables.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise SubstitutionError(f"variable {str(name)[:64]!r} is not a string")
        variables[name] = value.replace("\n", "")
    return variables


def substitute(
    objects: Sequence[dict[str, Any]],
    variables: Mapping[str, str],
    *,
    strict: bool = True,
    always: bool = False,
    limits: SubstitutionLimits = DEFAULT_SUBSTITUTION_LIMITS,
) -> list[dict[str, Any]]:
    """The objects with their expressions replaced (one that cannot change comes back as it is).
    Without variables nothing happens unless ``always`` (``substituteStrategy: Always``)."""
    if not variables and not always:
        return list(objects)
    engine = Envsubst(variables, strict=strict, limits=limits)
    result: list[dict[str, Any]] = []
    names_checked = False
    for obj in objects:
        if _disabled(obj):
            result.append(obj)
            continue
        try:
            if not names_checked:  # Flux checks them at the first object it substitutes
                engine.check_names()
                names_checked = True
            text = _serialize(obj, limits)
            if "$" not in text:
                result.append(obj)
                continue
            result.append(_reparse(engine.expand(text), engine.used, limits))
        except EnvsubstFailure as exc:
            raise SubstitutionError(
                exc.message, obj=_describe(obj), variable=exc.variable
            ) from None
    return result


def _disabled(obj: Any) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    marks = (meta.get("labels"), meta.get("annotations")) if isinstance(meta, dict) else ()
    return any(isinstance(m, dict) and m.get(FLUX_SUBSTITUTE_KEY) == FLUX_SUBSTITUTE_DISABLED
               for m in marks)  # fmt: skip


def _describe(obj: Any) -> str:
    """Flux's ``'Kind.version.group/name'`` (kustomize's spelling), with the namespace."""
    obj = obj if isinstance(obj, dict) else {}
    meta = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    api = obj.get("apiVersion")
    group, _, version = api.rpartition("/") if isinstance(api, str) else ("", "", "")
    kind = str(obj.get("kind") or "[noKind]")[:63]
    where = (
        f"'{kind}.{version or '[noVer]'}.{group or '[noGrp]'}/{str(meta.get('name') or '')[:253]}'"
    )
    namespace = meta.get("namespace")
    return f"{where} in namespace '{str(namespace)[:63]}'" if namespace else where


# ---- YAML out and back in --------------------------------------------------------------------


class _Dumper(yaml.CSafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # kustomize writes a shared value out each time


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    # kustomize writes multi-line strings as "|" blocks, others plain when they read back as str
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


class _Sink:
    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size, self.limit = 0, limit

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise EnvsubstFailure(f"the object is larger than {self.limit} bytes as YAML "
                                  "(substitution size limit)")  # fmt: skip
        self.parts.append(data)


def _serialize(obj: dict[str, Any], limits: SubstitutionLimits) -> str:
    try:
        check_nesting(obj, YamlLimits(max_nodes=limits.max_object_bytes // 4))
        sink = _Sink(limits.max_object_bytes)
        yaml.dump(obj, sink, Dumper=_Dumper, encoding="utf-8", allow_unicode=True, width=-1,
                  indent=2, sort_keys=True, default_flow_style=False)  # fmt: skip
        return b"".join(sink.parts).decode("utf-8")
    except (yaml.YAMLError, UnicodeError) as exc:
        problem = exc.problem if isinstance(exc, YamlError) else "it holds values YAML cannot write"
        raise EnvsubstFailure(f"the object cannot be written as YAML: {problem}") from None


def _reparse(text: str, used: set[str], limits: SubstitutionLimits) -> dict[str, Any]:
    try:
        value = load(
            text, loader=KubernetesLoader, limits=YamlLimits(max_bytes=limits.max_object_bytes)
        )
    except YamlError:  # its message may quote inserted text, so it is not passed on
        value = None
    if not isinstance(value, dict):
        raise EnvsubstFailure("envsubst error: YAMLToJSON: the substituted text is not a YAML "
                              f"object ({describe_inserted(used)})")  # fmt: skip
    return value
