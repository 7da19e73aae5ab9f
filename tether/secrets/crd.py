"""The ``bitnami.com/v1alpha1`` SealedSecret CRD as Tether defines it.

One definition serves the controller (which installs it when missing) and
``deploy/crds/sealedsecret.yaml`` (generated from :func:`sealed_secret_crd`; a test keeps the two
equal). Field names follow Bitnami's CRD so existing SealedSecrets apply unchanged.
"""

from __future__ import annotations

from typing import Any

import yaml

GROUP = "bitnami.com"
VERSION = "v1alpha1"
PLURAL = "sealedsecrets"
CRD_NAME = f"{PLURAL}.{GROUP}"

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def sealed_secret_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object (a dict)."""
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "description": "Synced: the Secret matches the spec."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastUpdateTime": {"type": "string", "format": "date-time"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    }
    template = {
        "type": "object",
        "description": "What the unsealed Secret looks like besides its encrypted values.",
        "properties": {
            "metadata": {
                "type": "object",
                "nullable": True,
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "Labels and annotations copied to the Secret.",
            },
            "type": {"type": "string", "nullable": True},
            "immutable": {"type": "boolean", "nullable": True},
            "data": {
                **_STRING_MAP,
                "nullable": True,
                "description": "Extra keys; {{ .key }} refers to a decrypted value.",
            },
        },
    }
    schema = {
        "type": "object",
        "description": "A Secret encrypted for the cluster's sealing key (kubeseal format).",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["encryptedData"],
                "properties": {
                    "encryptedData": {
                        **_STRING_MAP,
                        "x-kubernetes-preserve-unknown-fields": True,
                        "description": "Each value: base64 of the hybrid RSA-OAEP/AES-GCM "
                        "ciphertext kubeseal writes.",
                    },
                    "template": template,
                    "data": {
                        "type": "string",
                        "format": "byte",
                        "nullable": True,
                        "description": "Deprecated whole-Secret format; not unsealed by Tether.",
                    },
                },
            },
            "status": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "conditions": {"type": "array", "items": condition},
                },
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": "SealedSecret",
                "listKind": "SealedSecretList",
                "plural": PLURAL,
                "singular": "sealedsecret",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Status",
                            "type": "string",
                            "jsonPath": ".status.conditions[0].message",
                        },
                        {
                            "name": "Synced",
                            "type": "string",
                            "jsonPath": ".status.conditions[0].status",
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def sealed_secret_crd_yaml() -> str:
    """The CRD as the YAML file shipped in ``deploy/crds/sealedsecret.yaml``."""
    header = (
        "# The SealedSecret CRD (bitnami.com/v1alpha1) as Tether defines it.\n"
        "# Generated from tether/secrets/crd.py; tests/secrets keep the two equal.\n"
    )
    return header + yaml.safe_dump(sealed_secret_crd(), sort_keys=False)
