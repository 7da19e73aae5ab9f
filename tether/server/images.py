"""``/api/v1/images`` and ``/api/v1/applications/{name}/images``: Flux's image automation
(ImageRepository, ImagePolicy, ImageUpdateAutomation of the control namespace) through the API.

The three kinds are listed from the cluster on each request through the face's client: a server
replica does not follow them. Answers carry summaries (`tether.server.image_views`), never the
objects. RBAC: the Tether resource ``images``, objects ``<kind>/<name>``
(``repositories/payment-service``), ``get`` to list, ``update`` to ask for a run; an
application's images need ``applications, get`` on the app only. A kind the cluster does not
serve (Flux's CRDs not installed) or refuses to list becomes a note in the answer, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound, UnknownKind
from tether.images.automationspec import GIT_REPOSITORY, source_ref
from tether.names import (
    APPLICATION,
    FLUX_IMAGE_API_VERSION,
    FLUX_RECONCILE_REQUEST_ANNOTATION,
    FLUX_SOURCE_API_VERSION,
    IMAGE_POLICY,
    IMAGE_REPOSITORY,
    IMAGE_UPDATE_AUTOMATION,
)
from tether.server.errors import BadRequest, NotFoundError, cluster_error
from tether.server.http import JSONResponse, check_name, shown
from tether.server.image_views import (
    application_images,
    automation_summary,
    policy_summary,
    repository_summary,
)
from tether.server.state import Context
from tether.source.urls import repo_match_key

#: the kinds by the word the routes and RBAC objects use
KINDS = {
    "repositories": IMAGE_REPOSITORY,
    "policies": IMAGE_POLICY,
    "automations": IMAGE_UPDATE_AUTOMATION,
}
_PLURALS = {kind: plural for plural, kind in KINDS.items()}
#: the image loop's name of each kind (`ControllerFace.request_image_reconcile`)
_LOOP_KINDS = {"repositories": "repository", "policies": "policy", "automations": "automation"}
NOT_INSTALLED = (
    f"Flux's image automation CRDs ({FLUX_IMAGE_API_VERSION}) are not installed in this "
    "cluster: `tether install` (or the controller's first start) installs them"
)
RBAC_RESOURCE = "images"


@dataclass
class ImageObjects:
    """The objects of the three kinds by route word and name, and what could not be listed."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {plural: {} for plural in KINDS}
    )
    notes: list[str] = field(default_factory=list)


async def read_image_objects(client: ClusterClient, namespace: str) -> ImageObjects:
    """Every ImageRepository, ImagePolicy and ImageUpdateAutomation of ``namespace``."""
    found = ImageObjects()
    for plural, kind in KINDS.items():
        try:
            info = await client.resource_for(FLUX_IMAGE_API_VERSION, kind)
            listing = await client.list(info, namespace)
        except UnknownKind:
            if NOT_INSTALLED not in found.notes:
                found.notes.append(NOT_INSTALLED)
            continue
        except ClusterError as exc:
            found.notes.append(f"the {kind} objects of {namespace} cannot be listed: {exc.message}")
            continue
        found.objects[plural] = {obj["metadata"]["name"]: obj for obj in listing.items}
    return found


def summaries(found: ImageObjects, namespace: str) -> list[dict[str, Any]]:
    """Repositories, then policies, then automations, each by name."""
    repositories = found.objects["repositories"]
    policies = found.objects["policies"]
    automations = found.objects["automations"]
    items = [repository_summary(repositories[n]) for n in sorted(repositories)]
    items += [policy_summary(policies[n], repositories, namespace) for n in sorted(policies)]
    items += [automation_summary(automations[n], policies) for n in sorted(automations)]
    return items


def rbac_object(item: dict[str, Any]) -> str:
    """The RBAC object of a summary: ``<kind>/<name>`` (``policies/payment-service``)."""
    return f"{_PLURALS[item['kind']]}/{item['name']}"


async def list_images(ctx: Context) -> JSONResponse:
    """The image objects the caller may ``get``, summarised; notes say what could not be read."""
    namespace = ctx.state.namespace
    found = await read_image_objects(ctx.state.controller.client, namespace)
    policy = ctx.state.policy()
    held = policy.roles_of(ctx.caller.subjects)
    items = [
        item
        for item in summaries(found, namespace)
        if policy.allowed_for_roles(held, RBAC_RESOURCE, "get", rbac_object(item))
    ]
    return JSONResponse({"items": items, "notes": found.notes})


async def reconcile_image(ctx: Context) -> JSONResponse:
    """Ask for a scan, an evaluation or a run now (Flux's requestedAt annotation)."""
    plural = ctx.request.path_params["kind"]
    kind = KINDS.get(plural)
    if kind is None:
        raise BadRequest(f"kind {shown(plural)} is not one of {', '.join(KINDS)}")
    name = check_name(ctx.request.path_params["name"], f"{kind} name")
    ctx.state.enforce(ctx.caller, RBAC_RESOURCE, "update", f"{plural}/{name}")
    client, namespace = ctx.state.controller.client, ctx.state.namespace
    try:
        info = await client.resource_for(FLUX_IMAGE_API_VERSION, kind)
        done = await ctx.state.controller.request_image_reconcile(_LOOP_KINDS[plural], name)
        obj = await client.get(info, name, namespace) if done else None
    except UnknownKind:
        raise NotFoundError(NOT_INSTALLED) from None
    except NotFound:
        obj = None
    except ClusterError as exc:
        raise cluster_error(exc) from None
    if obj is None:
        raise NotFoundError(f"{kind} {name} not found in {namespace}")
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    requested = annotations.get(FLUX_RECONCILE_REQUEST_ANNOTATION)
    return JSONResponse({"kind": kind, "name": name, "requestedAt": requested})


# ---- an application's images ---------------------------------------------------------------------


def _repository_urls(app: dict[str, Any]) -> set[str]:
    """The app's repositories (one source or several), as `repo_match_key` spells them."""
    spec = app.get("spec") or {}
    sources = [spec.get("source") or {}, *(spec.get("sources") or [])]
    return {
        repo_match_key(source["repoURL"])
        for source in sources
        if isinstance(source, dict) and isinstance(source.get("repoURL"), str)
    }


async def _git_repository_url(
    client: ClusterClient, namespace: str, name: str, notes: list[str]
) -> str | None:
    """A Flux GitRepository's ``spec.url`` (None when it or its CRD is missing)."""
    try:
        info = await client.resource_for(FLUX_SOURCE_API_VERSION, GIT_REPOSITORY)
        obj = await client.get(info, name, namespace)
    except (UnknownKind, NotFound):
        return None
    except ClusterError as exc:
        notes.append(f"{GIT_REPOSITORY} {namespace}/{name} cannot be read: {exc.message}")
        return None
    url = (obj.get("spec") or {}).get("url")
    return url if isinstance(url, str) else None


async def _automations_of(
    ctx: Context, app: dict[str, Any], found: ImageObjects, notes: list[str]
) -> list[dict[str, Any]]:
    """Summaries of the automations whose source is the app, or a GitRepository of its URL."""
    namespace, name = ctx.state.namespace, app["metadata"]["name"]
    urls = _repository_urls(app)
    automations = found.objects["automations"]
    chosen = []
    for automation_name in sorted(automations):
        obj = automations[automation_name]
        kind, ref_namespace, ref_name = source_ref(obj)
        if kind == APPLICATION:
            matches = (ref_namespace or namespace) == namespace and ref_name == name
        elif kind == GIT_REPOSITORY:
            client = ctx.state.controller.client
            url = await _git_repository_url(client, ref_namespace or namespace, ref_name, notes)
            matches = url is not None and repo_match_key(url) in urls
        else:
            matches = False
        if matches:
            chosen.append(automation_summary(obj, found.objects["policies"]))
    return chosen


async def list_application_images(ctx: Context) -> JSONResponse:
    """The container images of the app's desired manifests, the policies that follow them and
    the pull requests of the automations that update the app."""
    app = ctx.visible_application()
    name = app["metadata"]["name"]
    namespace = ctx.state.namespace
    compared, desired = await ctx.state.comparison(name)
    found = await read_image_objects(ctx.state.controller.client, namespace)
    notes = list(found.notes)
    if compared is None:
        notes.append(
            f"application {name} has not been compared yet (its conditions say why when it "
            "cannot be): its images are listed once it has"
        )
    repositories = found.objects["repositories"]
    policies = [
        policy_summary(obj, repositories, namespace)
        for _, obj in sorted(found.objects["policies"].items())
    ]
    automations = await _automations_of(ctx, app, found, notes)
    return JSONResponse(
        {
            "application": name,
            "images": application_images(desired, policies, automations),
            "automations": automations,
            "notes": notes,
        }
    )
