"""The Cluster Decision Resource generator: clusters chosen by another controller's resource (a
duck type: only its status list is read), as Argo CD has it.

A ConfigMap of the set's namespace (``configMapRef``) names the resource (``apiVersion``,
``kind`` — its plural, as Argo CD's example writes it, or its Kind), the status list
(``statusListKey``, default ``clusters``) and the key of each entry that names an Argo CD cluster
(``matchKey``, default ``clusterName``). The resources (``name``, or ``labelSelector``) are read
before generation and handed in through the context; each entry whose ``matchKey`` names a
known cluster gives a set: ``name`` and ``server`` of the cluster, every other key of the entry,
and ``values``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.params import Params, go_string
from tether.appsets.render import fasttemplate, go_template, missing_key


@dataclass(frozen=True)
class DecisionSource:
    configmap: str
    name: str
    selector: Mapping[str, Any]

    @property
    def cache_key(self) -> str:
        return json.dumps([self.configmap, self.name, self.selector], sort_keys=True)


def source_of(spec: Mapping[str, Any], where: str) -> DecisionSource:
    configmap = spec.get("configMapRef")
    if not isinstance(configmap, str) or not configmap:
        raise AppSetError(f"{where}.configMapRef is required")
    name = spec.get("name") or ""
    selector = spec.get("labelSelector") or {}
    if not isinstance(name, str) or not isinstance(selector, Mapping):
        raise AppSetError(f"{where}: name must be a string and labelSelector an object")
    if bool(name) == bool(selector):
        raise AppSetError(f"{where}: give either name or labelSelector")
    return DecisionSource(configmap, name, dict(selector))


def sources_in(generators: Any) -> list[DecisionSource]:
    """The sources of every clusterDecisionResource generator (matrix and merge children too)."""
    found: list[DecisionSource] = []
    stack = [(g, f"spec.generators[{i}]") for i, g in enumerate(generators or [])]
    while stack:
        generator, where = stack.pop()
        if not isinstance(generator, Mapping):
            continue
        spec = generator.get("clusterDecisionResource")
        if isinstance(spec, Mapping):
            found.append(source_of(spec, f"{where}.clusterDecisionResource"))
        for combined in ("matrix", "merge"):
            inner = generator.get(combined)
            if isinstance(inner, Mapping) and isinstance(inner.get("generators"), list):
                stack += [
                    (child, f"{where}.{combined}.generators[{i}]")
                    for i, child in enumerate(inner["generators"])
                ]
    return found


def decisions(spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str) -> list[Params]:
    source = source_of(spec, where)
    read = ctx.decisions.get(source.cache_key)
    if read is None:
        raise AppSetError(
            f"{where}: the decisions of {source.name or 'the selected resources'} were not read "
            "(a clusterDecisionResource generator may not use another generator's parameters)"
        )
    match_key, entries = read
    clusters = {c.name: c for c in ctx.clusters}
    values = spec.get("values") or {}
    if not isinstance(values, Mapping):
        raise AppSetError(f"{where}.values must be an object")
    found: list[Params] = []
    for entry in entries:
        cluster = clusters.get(str(entry.get(match_key) or ""))
        if cluster is None:
            continue  # clusters must be known to Argo CD (Tether): the others are skipped
        params: Params = {k: v if go else go_string(v) for k, v in entry.items()}
        params.update(name=cluster.name, server=cluster.server)
        if go:
            missing = missing_key(())
            params["values"] = {
                str(k): go_template(str(v), params, missing) for k, v in values.items()
            }
        else:
            params.update({f"values.{k}": fasttemplate(str(v), params) for k, v in values.items()})
        found.append(params)
    return found
