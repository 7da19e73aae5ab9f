"""The OpenAPI 3 document of the API, built from the route table (so it lists every route)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import tether
from tether.names import APPLICATION, ARGO_API_VERSION

if TYPE_CHECKING:
    from tether.server.routes import Endpoint

_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": _STRING, "code": {"type": "integer"}},
        "required": ["error", "code"],
    },
    "SessionRequest": {
        "type": "object",
        "properties": {"username": _STRING, "password": _STRING},
        "required": ["username", "password"],
        "additionalProperties": False,
    },
    "PasswordRequest": {
        "type": "object",
        "properties": {"name": _STRING, "currentPassword": _STRING, "newPassword": _STRING},
        "required": ["currentPassword", "newPassword"],
        "additionalProperties": False,
    },
    "TokenRequest": {
        "type": "object",
        "properties": {"expiresIn": {"type": "integer"}, "id": _STRING},
        "additionalProperties": False,
    },
    "Application": {
        "type": "object",
        "description": f"{ARGO_API_VERSION} {APPLICATION} (metadata.name and spec)",
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": _OBJECT,
            "spec": _OBJECT,
            "status": _OBJECT,
        },
        "required": ["metadata", "spec"],
        "additionalProperties": False,
    },
    "ApplicationSet": {
        "type": "object",
        "description": f"{ARGO_API_VERSION} ApplicationSet (metadata.name and spec)",
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": _OBJECT,
            "spec": _OBJECT,
        },
        "required": ["metadata", "spec"],
        "additionalProperties": False,
    },
    "AppProject": {
        "type": "object",
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": _OBJECT,
            "spec": _OBJECT,
        },
        "required": ["metadata"],
    },
    "ResourceRef": {
        "type": "object",
        "properties": {"group": _STRING, "kind": _STRING, "namespace": _STRING, "name": _STRING},
        "required": ["kind", "name"],
        "additionalProperties": False,
    },
    "SyncRequest": {
        "type": "object",
        "properties": {
            "revision": _STRING,
            "prune": _BOOL,
            "dryRun": _BOOL,
            "resources": {"type": "array", "items": {"$ref": "#/components/schemas/ResourceRef"}},
            "syncOptions": {"type": "array", "items": _STRING},
        },
        "additionalProperties": False,
    },
    "RollbackRequest": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "prune": _BOOL, "dryRun": _BOOL},
        "required": ["id"],
        "additionalProperties": False,
    },
    "RefreshRequest": {
        "type": "object",
        "properties": {"hard": _BOOL},
        "additionalProperties": False,
    },
    "ClusterRequest": {
        "type": "object",
        "properties": {
            "name": _STRING,
            "server": _STRING,
            "config": _OBJECT,
            "namespaces": {"type": "array", "items": _STRING},
            "project": _STRING,
            "clusterResources": _BOOL,
        },
        "required": ["server"],
        "additionalProperties": False,
    },
    "RepositoryRequest": {
        "type": "object",
        "properties": {
            "repo": _STRING,
            "username": _STRING,
            "password": _STRING,
            "sshPrivateKey": _STRING,
            "bearerToken": _STRING,
            "insecure": _BOOL,
            "type": {"type": "string", "enum": ["git", "helm"]},
            "name": _STRING,
            "project": _STRING,
        },
        "required": ["repo"],
        "additionalProperties": False,
    },
    "WebhookPayload": {"type": "object", "description": "the forge's push payload"},
}

_PARAM = re.compile(r"{(\w+)}")


def build_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "operationId": f"{endpoint.method.lower()}_{endpoint.handler.__name__}",
            "responses": {
                str(endpoint.status): {"description": "success"},
                "default": {
                    "description": "error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": _STRING}
            for p in _PARAM.findall(endpoint.path)
        ]
        parameters += [
            {"name": name, "in": "query", "description": text, "schema": _STRING}
            for name, text in endpoint.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{endpoint.body}"}
                    }
                }
            }
        if endpoint.public:
            operation["security"] = []
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tether API", "version": tether.__version__},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "tether_token"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }
