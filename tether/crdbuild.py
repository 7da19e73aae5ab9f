"""Building CustomResourceDefinitions that keep what they do not describe: the Argo CD kinds
(`tether/controller/crds.py`) and Flux's image kinds (`tether/images/crds.py`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def open_object(
    properties: dict[str, Any] | None = None,
    *,
    required: list[str] | None = None,
    description: str | None = None,
    default: Any = None,
) -> dict[str, Any]:
    """An object schema that keeps fields it does not describe."""
    schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        schema["description"] = description
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    if default is not None:
        schema["default"] = default
    return schema


def top_schema(description: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """A kind's whole schema: apiVersion, kind, metadata, then its ``spec`` and ``status``."""
    return {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def namespaced_crd(
    group: str,
    version: str,
    kind: str,
    plural: str,
    short_names: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
    categories: Sequence[str] = (),
    older: Sequence[str] = (),
) -> dict[str, Any]:
    """One served and stored version with a status subresource, labelled as Tether's;
    ``older`` versions are served too, with the same schema and no conversion (as Flux serves
    its beta versions: the fields did not change, only the version's name)."""
    served: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
    }
    if columns:
        served["additionalPrinterColumns"] = columns
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": short_names,
    }
    if categories:
        names["categories"] = list(categories)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {
                "app.kubernetes.io/name": f"{plural}.{group}",
                "app.kubernetes.io/part-of": "tether",
            },
        },
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [served, *({**served, "name": v, "storage": False} for v in older)],
        },
    }
    # Builders share sub-schemas; a JSON round trip gives every node its own dict, so nothing
    # aliases and the YAML written from it has no anchors.
    result: dict[str, Any] = json.loads(json.dumps(crd))
    return result
