"""Projects, clusters, repositories, version and settings.

Cluster and repository credentials are written as Argo CD-style Secrets (labelled
``argocd.argoproj.io/secret-type``) in the control namespace and never returned.
"""

from __future__ import annotations

import base64
import hashlib
import platform
from typing import Any

import orjson

import tether
from tether.cluster.errors import AlreadyExists, ClusterError
from tether.cluster.tracking import TrackingMethod
from tether.controller import project as projects
from tether.controller.models import InvalidSpecError
from tether.errors import TetherError
from tether.names import (
    APP_PROJECT,
    ARGO_API_VERSION,
    INSTANCE_LABEL,
    INSTANCE_LABEL_KEY_SETTING,
    SECRET_TYPE_CLUSTER,
    SECRET_TYPE_LABEL,
    SECRET_TYPE_REPOSITORY,
    SERVER_FIELD_MANAGER,
    SETTINGS_CONFIGMAP,
    TRACKING_METHOD_SETTING,
)
from tether.server.errors import BadRequest, ConflictError, NotFoundError
from tether.server.http import JSONResponse, check_fields, check_name, query_bool, read_json, typed
from tether.server.state import Context, project_of
from tether.source.errors import SourceError

#: ``argocd-cm`` keys the settings answer reports
#: the name a cluster Secret is checked under before it is written (cut from the message)
PROBE_NAME = "probe"


# ---- projects -----------------------------------------------------------------------------------


async def list_projects(ctx: Context) -> JSONResponse:
    items = [
        p
        for name, p in sorted(ctx.state.projects().items())
        if ctx.state.can(ctx.caller, "projects", "get", name)
    ]
    return JSONResponse({"items": items})


async def get_project(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "project name")
    ctx.state.enforce(ctx.caller, "projects", "get", name)
    found = ctx.state.projects().get(name)
    if found is None:
        raise NotFoundError(f"project {name} not found")
    return JSONResponse(found)


async def create_project(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    check_fields(body, ("apiVersion", "kind", "metadata", "spec", "status"), "the AppProject")
    if body.get("apiVersion") not in (None, ARGO_API_VERSION):
        raise BadRequest(f"apiVersion must be {ARGO_API_VERSION}")
    if body.get("kind") not in (None, APP_PROJECT):
        raise BadRequest(f"kind must be {APP_PROJECT}")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be an object with a name")
    check_fields(meta, ("name", "namespace", "labels", "annotations"), "metadata")
    name = check_name(str(typed(meta, "name", str, "metadata.") or ""), "metadata.name")
    ctx.state.enforce(ctx.caller, "projects", "create", name)
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise BadRequest("spec must be an object")
    doc: dict[str, Any] = {
        "apiVersion": ARGO_API_VERSION,
        "kind": APP_PROJECT,
        "metadata": {"name": name, "namespace": ctx.state.namespace},
        "spec": spec,
    }
    for key in ("labels", "annotations"):
        if isinstance(meta.get(key), dict):
            doc["metadata"][key] = meta[key]
    try:
        projects.parse_project(doc)
    except (projects.ProjectViolation, InvalidSpecError) as exc:
        raise BadRequest(exc.message) from None
    upsert = query_bool(ctx.request, "upsert", False)
    existing = ctx.state.projects().get(name)
    if existing is not None and not upsert and existing.get("spec") != spec:
        raise ConflictError(f"project {name} already exists; use upsert=true to replace it")
    if existing is not None:
        ctx.state.enforce(ctx.caller, "projects", "update", name)
    client = ctx.state.controller.client
    info = await client.resource_for(ARGO_API_VERSION, APP_PROJECT)
    try:
        if existing is None:
            created = await client.create(info, doc, field_manager=SERVER_FIELD_MANAGER)
            return JSONResponse(created, status_code=201)
        written = await client.apply(info, doc, field_manager=SERVER_FIELD_MANAGER, force=True)
    except AlreadyExists:
        raise ConflictError(f"project {name} already exists") from None
    except ClusterError as exc:
        raise BadRequest(f"the cluster refused the project: {exc.message}") from None
    return JSONResponse(written)


async def delete_project(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "project name")
    ctx.state.enforce(ctx.caller, "projects", "delete", name)
    if name not in ctx.state.projects():
        raise NotFoundError(f"project {name} not found")
    users = [n for n, a in ctx.state.applications().items() if project_of(a) == name]
    if users:
        raise ConflictError(
            f"project {name} is referenced by {len(users)} application(s): "
            + ", ".join(sorted(users)[:10])
        )
    client = ctx.state.controller.client
    info = await client.resource_for(ARGO_API_VERSION, APP_PROJECT)
    try:
        await client.delete(info, name, ctx.state.namespace)
    except ClusterError as exc:
        raise BadRequest(f"the cluster refused: {exc.message}") from None
    return JSONResponse({})


# ---- clusters -----------------------------------------------------------------------------------


def _secrets_of_type(ctx: Context, kind: str) -> list[dict[str, Any]]:
    return [
        s
        for _, s in sorted(ctx.state.secrets().items())
        if (s["metadata"].get("labels") or {}).get(SECRET_TYPE_LABEL) == kind
    ]


def _check_cluster_secret(ctx: Context, secret: dict[str, Any]) -> None:
    """400 naming what the controller would refuse in this cluster Secret."""
    try:
        ctx.state.controller.check_cluster_secret(secret)
    except TetherError as exc:
        raise BadRequest(exc.message.replace(f"cluster secret {PROBE_NAME}: ", "")) from None


async def list_clusters(ctx: Context) -> JSONResponse:
    items = []
    seen = set()
    for entry in ctx.state.controller.clusters():
        if entry.server in seen or not ctx.state.can(ctx.caller, "clusters", "get", entry.server):
            continue
        seen.add(entry.server)
        item: dict[str, Any] = {"name": entry.name, "server": entry.server}
        if entry.namespaces:
            item["namespaces"] = list(entry.namespaces)
        if entry.project:
            item["project"] = entry.project
        items.append(item)
    return JSONResponse({"items": items})


def _secret_name(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


async def _write_secret(
    ctx: Context, name: str, kind: str, string_data: dict[str, str], upsert: bool
) -> None:
    client = ctx.state.controller.client
    info = await client.resource_for("v1", "Secret")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": ctx.state.namespace,
            "labels": {SECRET_TYPE_LABEL: kind},
        },
        "stringData": string_data,
    }
    try:
        if upsert:
            await client.apply(info, body, field_manager=SERVER_FIELD_MANAGER, force=True)
        else:
            await client.create(info, body, field_manager=SERVER_FIELD_MANAGER)
    except AlreadyExists:
        raise ConflictError(
            f"a {kind} with this address is already registered; use upsert=true to replace it"
        ) from None
    except ClusterError as exc:
        raise BadRequest(
            f"the cluster refused the {kind} Secret: {exc.reason or exc.code}"
        ) from None


async def add_cluster(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    check_fields(
        body, ("name", "server", "config", "namespaces", "project", "clusterResources"), "cluster"
    )
    server = str(typed(body, "server", str) or "").strip().rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise BadRequest("server must be the cluster's API URL (https://...)")
    name = str(typed(body, "name", str) or "").strip() or server
    config = typed(body, "config", dict) or {}
    ctx.state.enforce(ctx.caller, "clusters", "create", server)
    string_data = {"name": name, "server": server, "config": orjson.dumps(config).decode()}
    namespaces = typed(body, "namespaces", list)
    if namespaces:
        if not all(isinstance(n, str) for n in namespaces):
            raise BadRequest("namespaces must be a list of strings")
        string_data["namespaces"] = ",".join(namespaces)
    if typed(body, "project", str):
        string_data["project"] = body["project"]
    if typed(body, "clusterResources", bool):
        string_data["clusterResources"] = "true"
    # validate the way the controller will read it, before anything is written
    _check_cluster_secret(
        ctx,
        {
            "metadata": {"name": PROBE_NAME, "labels": {SECRET_TYPE_LABEL: SECRET_TYPE_CLUSTER}},
            "stringData": string_data,
        },
    )
    upsert = query_bool(ctx.request, "upsert", False)
    secret_name = _secret_name("cluster", server)
    await _write_secret(ctx, secret_name, SECRET_TYPE_CLUSTER, string_data, upsert)
    return JSONResponse({"items": [{"name": name, "server": server}]}, status_code=201)


# ---- repositories -------------------------------------------------------------------------------


def _field(secret: dict[str, Any], key: str) -> str:
    value = (secret.get("stringData") or {}).get(key)
    if value is not None:
        return str(value)
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return ""
    try:
        return base64.b64decode(str(raw)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


async def list_repositories(ctx: Context) -> JSONResponse:
    items = []
    for secret in _secrets_of_type(ctx, SECRET_TYPE_REPOSITORY):
        url = _field(secret, "url")
        if not url or not ctx.state.can(ctx.caller, "repositories", "get", url):
            continue
        item: dict[str, Any] = {"repo": url, "type": _field(secret, "type") or "git"}
        for key in ("username", "name", "project"):
            value = _field(secret, key)
            if value:
                item[key] = value
        item["hasCredentials"] = any(
            _field(secret, k) for k in ("password", "sshPrivateKey", "bearerToken")
        )
        items.append(item)
    return JSONResponse({"items": items})


async def add_repository(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    check_fields(
        body,
        (
            "repo",
            "username",
            "password",
            "sshPrivateKey",
            "bearerToken",
            "insecure",
            "type",
            "name",
            "project",
        ),
        "repository",
    )
    url = str(typed(body, "repo", str) or "").strip()
    if not url:
        raise BadRequest("repo (the repository URL) is required")
    try:
        # the controller's policy: a local path or file:// only where the operator allows it
        ctx.state.controller.check_repository_url(url)
    except SourceError as exc:
        raise BadRequest(exc.message) from None
    ctx.state.enforce(ctx.caller, "repositories", "create", url)
    string_data = {"url": url, "type": str(typed(body, "type", str) or "git")}
    if string_data["type"] not in ("git", "helm"):
        raise BadRequest("type must be git or helm")
    for key in ("username", "password", "sshPrivateKey", "bearerToken", "name", "project"):
        value = typed(body, key, str)
        if value:
            string_data[key] = value
    if typed(body, "insecure", bool):
        string_data["insecure"] = "true"
    upsert = query_bool(ctx.request, "upsert", False)
    await _write_secret(ctx, _secret_name("repo", url), SECRET_TYPE_REPOSITORY, string_data, upsert)
    item = {"repo": url, "type": string_data["type"]}
    if "username" in string_data:
        item["username"] = string_data["username"]
    return JSONResponse({"items": [item]}, status_code=201)


# ---- version and settings -----------------------------------------------------------------------


async def version(ctx: Context) -> JSONResponse:
    return JSONResponse(
        {
            "Version": tether.__version__,
            "Platform": f"{platform.system().lower()}/{platform.machine()}",
            "PythonVersion": platform.python_version(),
            "KubernetesServer": ctx.state.controller.client.server,
        }
    )


async def server_settings(ctx: Context) -> JSONResponse:
    cm = ctx.state.configmap_data(SETTINGS_CONFIGMAP)
    return JSONResponse(
        {
            "url": ctx.state.settings.url or cm.get("url", ""),
            "controllerNamespace": ctx.state.namespace,
            "appLabelKey": cm.get(INSTANCE_LABEL_KEY_SETTING, INSTANCE_LABEL),
            "trackingMethod": cm.get(TRACKING_METHOD_SETTING, TrackingMethod.ANNOTATION.value),
            "sessionSeconds": int(ctx.state.settings.session_seconds),
            "execEnabled": False,
            "statusBadgeEnabled": False,
            "userLoginsDisabled": False,
        }
    )
