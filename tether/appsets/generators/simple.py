"""The List and Cluster generators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from tether import safeyaml
from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.params import Params, go_string, selector_matches
from tether.appsets.render import fasttemplate, go_template, missing_key
from tether.gotemplate.sprig_data import normalize_name


def _element(element: Any, go: bool, where: str) -> Params:
    if not isinstance(element, Mapping):
        raise AppSetError(f"{where}: each element must be an object")
    if go:
        return dict(element)
    params: Params = {}
    for key, value in element.items():
        if key == "values" and isinstance(value, Mapping):
            params.update({f"values.{k}": go_string(v) for k, v in value.items()})
        elif isinstance(value, str):
            params[str(key)] = value
        else:
            raise AppSetError(
                f"{where}: element key {key!r} is not a string; use goTemplate: true for "
                "structured values"
            )
    return params


def list_generator(spec: Mapping[str, Any], *, go: bool, where: str) -> list[Params]:
    """``elements`` (and ``elementsYaml``, a YAML list in a string), one set each."""
    elements = spec.get("elements") or []
    if not isinstance(elements, list):
        raise AppSetError(f"{where}.elements must be a list")
    found = [_element(e, go, f"{where}.elements[{i}]") for i, e in enumerate(elements)]
    text = spec.get("elementsYaml")
    if text:
        try:
            extra = safeyaml.load(str(text).encode())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise AppSetError(f"{where}.elementsYaml is not YAML: {exc}") from None
        if not isinstance(extra, list):
            raise AppSetError(f"{where}.elementsYaml must be a YAML list")
        found += [_element(e, go, f"{where}.elementsYaml[{i}]") for i, e in enumerate(extra)]
    return found


def clusters(spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str) -> list[Params]:
    """One set per cluster (the local one only when no Secret declares it and no selector is
    given, as Argo CD); ``selector`` on the Secret's labels, ``values`` templated per cluster."""
    selector = spec.get("selector") or {}
    values = spec.get("values") or {}
    if not isinstance(values, Mapping):
        raise AppSetError(f"{where}.values must be an object")
    found = []
    for cluster in ctx.clusters:
        if cluster.local and selector:
            continue
        if not selector_matches(selector, cluster.labels, f"{where}.selector"):
            continue
        if go:
            params: Params = {
                "name": cluster.name,
                "nameNormalized": normalize_name(cluster.name),
                "server": cluster.server,
                "project": cluster.project,
                "metadata": {"labels": dict(cluster.labels),
                             "annotations": dict(cluster.annotations)},
            }  # fmt: skip
            missing = missing_key(())
            params["values"] = {
                str(k): go_template(str(v), params, missing) for k, v in values.items()
            }
        else:
            params = {
                "name": cluster.name,
                "nameNormalized": normalize_name(cluster.name),
                "server": cluster.server,
                "project": cluster.project,
                **{f"metadata.labels.{k}": v for k, v in cluster.labels.items()},
                **{f"metadata.annotations.{k}": v for k, v in cluster.annotations.items()},
            }
            params.update({f"values.{k}": fasttemplate(str(v), params) for k, v in values.items()})
        found.append(params)
    return found
