"""Every route of the API in one table: the router and the OpenAPI document both read it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import PlainTextResponse, Response

from tether.server import (
    app_objects,
    app_writes,
    appset_views,
    appsets,
    dependencies,
    flux,
    images,
    operations,
    previews,
    receivers,
    resources,
    session,
    stream,
    webhook,
    windows,
)
from tether.server import applications as apps
from tether.server.metrics import metrics_endpoint
from tether.server.state import Context, Handler


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    public: bool = False
    #: the name of the request body schema in the OpenAPI document
    body: str | None = None
    #: (name, description) of query parameters
    query: tuple[tuple[str, str], ...] = ()
    status: int = 200


async def healthz(ctx: Context) -> Response:
    return PlainTextResponse("ok")


async def readyz(ctx: Context) -> Response:
    if not ctx.state.bootstrapped or not ctx.state.controller.ready():
        return PlainTextResponse("not ready", status_code=503)
    return PlainTextResponse("ok")


async def openapi_document(ctx: Context) -> Response:
    from tether.server.http import JSONResponse
    from tether.server.openapi import build_document

    return JSONResponse(build_document(ENDPOINTS))


APP = "/api/v1/applications/{name}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", healthz, "Liveness: the process answers", "health", public=True),
    Endpoint("GET", "/readyz", readyz, "Readiness: watches synced", "health", public=True),
    Endpoint("GET", "/api/openapi.json", openapi_document, "This OpenAPI document", "meta"),
    Endpoint(
        "POST",
        "/api/v1/session",
        session.sign_in,
        "Sign in; returns a token and sets the tether_token cookie",
        "session",
        public=True,
        body="SessionRequest",
    ),
    Endpoint("DELETE", "/api/v1/session", session.sign_out, "Sign out", "session"),
    Endpoint("GET", "/api/v1/session/userinfo", session.user_info, "The signed-in user", "session"),
    Endpoint("GET", "/api/v1/account", session.list_accounts, "Local accounts", "account"),
    Endpoint(
        "PUT",
        "/api/v1/account/password",
        session.update_password,
        "Change a local account's password",
        "account",
        body="PasswordRequest",
    ),
    Endpoint(
        "POST",
        "/api/v1/account/token",
        session.create_token,
        "Create an API token for the current account (or ?account=, with accounts/update)",
        "account",
        body="TokenRequest",
        query=(("account", "another account"),),
        status=201,
    ),
    Endpoint(
        "GET",
        "/api/v1/account/tokens",
        session.list_tokens,
        "API tokens of the current account (ids and dates, never the tokens)",
        "account",
        query=(("account", "another account"),),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/account/tokens/{id}",
        session.delete_token,
        "Revoke an API token",
        "account",
        query=(("account", "another account"),),
    ),
    Endpoint(
        "GET",
        "/api/v1/applications",
        apps.list_applications,
        "Applications the caller may see",
        "applications",
        query=(
            ("project", "repeatable"),
            ("sync", "Synced, OutOfSync, Unknown (repeatable)"),
            ("health", "Healthy, Progressing, Degraded, ... (repeatable)"),
            ("selector", "label selector k=v,k!=v,k,!k"),
            ("name", "glob"),
            ("search", "text in name, repo, path, namespace or project"),
        ),
    ),
    Endpoint(
        "POST",
        "/api/v1/applications",
        app_writes.create_application,
        "Create an Application",
        "applications",
        body="Application",
        query=(("upsert", "replace an existing one"),),
        status=201,
    ),
    Endpoint(
        "GET",
        APP,
        apps.get_application,
        "One Application",
        "applications",
        query=(("refresh", "normal or hard: answer it as compared after this request"),),
    ),
    Endpoint(
        "PUT",
        APP,
        app_writes.update_application,
        "Replace spec and metadata",
        "applications",
        body="Application",
    ),
    Endpoint(
        "DELETE",
        APP,
        app_writes.delete_application,
        "Delete (cascade: the resources finalizer removes its objects first)",
        "applications",
        query=(("cascade", "true (default) or false"),),
    ),
    Endpoint(
        "POST",
        f"{APP}/sync",
        operations.sync_application,
        "Request a sync",
        "applications",
        body="SyncRequest",
    ),
    Endpoint(
        "GET",
        f"{APP}/dependencies",
        dependencies.application_dependencies,
        "The apps it depends on (tether.io/depends-on) and that depend on it: whether its syncs "
        "may run, what they wait for, the graph around it",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/syncwindows",
        windows.application_windows,
        "The project's sync windows that apply to the app: active ones, whether a manual and "
        "an automated sync may run now, why, and when that next changes",
        "applications",
    ),
    Endpoint(
        "POST",
        f"{APP}/rollback",
        operations.rollback_application,
        "Sync to a history entry's revision (refused while automated sync is on)",
        "applications",
        body="RollbackRequest",
    ),
    Endpoint(
        "POST",
        f"{APP}/refresh",
        operations.refresh_application,
        "Compare again now (hard: check Git first); answers it as compared after the request",
        "applications",
        body="RefreshRequest",
    ),
    Endpoint(
        "DELETE",
        f"{APP}/operation",
        operations.terminate_operation,
        "Terminate the running operation",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/managed-resources",
        app_objects.managed_resources,
        "Per-resource comparison: unified and structured diffs (Secrets masked)",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/manifests",
        app_objects.manifests,
        "Desired manifests (masked)",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/resource-tree",
        app_objects.resource_tree,
        "Live objects and what they own",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/resource",
        app_objects.live_resource,
        "One live object of the app (masked)",
        "applications",
        query=(
            ("group", ""),
            ("version", ""),
            ("kind", "required"),
            ("namespace", ""),
            ("name", "required"),
        ),
    ),
    Endpoint("GET", f"{APP}/events", app_objects.application_events, "Events", "applications"),
    Endpoint("GET", f"{APP}/history", apps.application_history, "Sync history", "applications"),
    Endpoint(
        "GET",
        "/api/v1/applicationsets",
        appset_views.list_appsets,
        "ApplicationSets the caller may see, with their Applications and rollout",
        "applicationsets",
    ),
    Endpoint(
        "GET",
        "/api/v1/applicationsets/{name}",
        appset_views.get_appset,
        "One ApplicationSet, with its Applications and rollout",
        "applicationsets",
    ),
    Endpoint(
        "POST",
        "/api/v1/applicationsets/preview",
        appsets.preview_appset,
        "What applying an ApplicationSet would do (nothing is applied)",
        "applicationsets",
        body="ApplicationSet",
    ),
    Endpoint(
        "GET",
        f"{APP}/previews/{{number}}",
        previews.application_preview,
        "What merging a pull request would do to the app (its preview, Secrets masked)",
        "applications",
    ),
    Endpoint(
        "GET",
        f"{APP}/images",
        images.list_application_images,
        "Container images of the desired manifests, the ImagePolicies that follow them and the "
        "pull requests of the ImageUpdateAutomations of the app",
        "applications",
    ),
    Endpoint(
        "GET",
        "/api/v1/images",
        images.list_images,
        "ImageRepositories, ImagePolicies and ImageUpdateAutomations of the control namespace, "
        "summarised (notes say what could not be listed)",
        "images",
    ),
    Endpoint(
        "POST",
        "/api/v1/images/{kind}/{name}/reconcile",
        images.reconcile_image,
        "Scan, evaluate or run now (kind: repositories, policies or automations); Flux's "
        "requestedAt annotation",
        "images",
    ),
    Endpoint(
        "GET",
        "/api/v1/flux",
        flux.list_flux,
        "Flux Kustomizations, HelmReleases and their sources the caller may get, summarised",
        "flux",
    ),
    Endpoint(
        "GET",
        "/api/v1/flux/kustomizations/{namespace}/{name}",
        flux.get_kustomization,
        "One Kustomization, with the live objects of its inventory and their health",
        "flux",
    ),
    Endpoint(
        "GET",
        "/api/v1/flux/kustomizations/{namespace}/{name}/diff",
        flux.diff_kustomization,
        "What applying a Kustomization's current revision would change (server-side dry run)",
        "flux",
    ),
    Endpoint(
        "GET",
        "/api/v1/flux/helmreleases/{namespace}/{name}",
        flux.get_helm_release,
        "One HelmRelease, with its Helm history and the live objects of its deployed manifest",
        "flux",
    ),
    Endpoint(
        "POST",
        "/api/v1/flux/{kind}/{namespace}/{name}/reconcile",
        flux.reconcile_flux,
        "Reconcile now (kind: kustomizations, helmreleases or a source kind): "
        "reconcile.fluxcd.io/requestedAt",
        "flux",
    ),
    Endpoint("GET", "/api/v1/projects", resources.list_projects, "AppProjects", "projects"),
    Endpoint(
        "POST",
        "/api/v1/projects",
        resources.create_project,
        "Create an AppProject",
        "projects",
        body="AppProject",
        query=(("upsert", "replace an existing one"),),
        status=201,
    ),
    Endpoint("GET", "/api/v1/projects/{name}", resources.get_project, "One AppProject", "projects"),
    Endpoint(
        "GET",
        "/api/v1/projects/{name}/syncwindows",
        windows.project_windows,
        "A project's sync windows, each with whether it is active now",
        "projects",
    ),
    Endpoint(
        "DELETE",
        "/api/v1/projects/{name}",
        resources.delete_project,
        "Delete an unused AppProject",
        "projects",
    ),
    Endpoint("GET", "/api/v1/clusters", resources.list_clusters, "Clusters", "clusters"),
    Endpoint(
        "POST",
        "/api/v1/clusters",
        resources.add_cluster,
        "Register a cluster (credentials stored in a Secret)",
        "clusters",
        body="ClusterRequest",
        query=(("upsert", "replace an existing one"),),
        status=201,
    ),
    Endpoint(
        "GET", "/api/v1/repositories", resources.list_repositories, "Repositories", "repositories"
    ),
    Endpoint(
        "POST",
        "/api/v1/repositories",
        resources.add_repository,
        "Register a repository (credentials stored in a Secret)",
        "repositories",
        body="RepositoryRequest",
        query=(("upsert", "replace an existing one"),),
        status=201,
    ),
    Endpoint("GET", "/api/v1/version", resources.version, "Version", "meta"),
    Endpoint("GET", "/api/v1/settings", resources.server_settings, "Settings", "meta"),
    Endpoint(
        "GET",
        "/api/v1/stream/applications",
        stream.stream_applications,
        "Server-Sent Events: data {type, application}",
        "applications",
    ),
    Endpoint(
        "POST",
        "/api/webhook",
        webhook.receive_webhook,
        "Git push webhooks (GitHub, GitLab, Bitbucket, Gitea, Gogs, generic)",
        "webhook",
        public=True,
        body="WebhookPayload",
    ),
    Endpoint(
        "POST",
        "/hook/{digest}",
        receivers.receive_hook,
        "Flux Receivers: the path a Receiver's status names; reconciles its resources",
        "webhook",
        public=True,
    ),
    Endpoint("GET", "/metrics", metrics_endpoint, "Prometheus metrics", "meta"),
)
