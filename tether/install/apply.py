"""Apply, upgrade, adopt and remove an install: server-side apply with field manager ``tether``.

* **Idempotent**: every object is applied with the same field manager; a second run with the same
  options changes nothing (each object is reported ``unchanged``: its resourceVersion stayed).
* **Upgrade in place**: a new image changes the Deployment's pod template, so it rolls.
* **No silent take-over**: an object Tether would write that exists and is not Tether's (no
  Tether field manager, no ``app.kubernetes.io/part-of: tether`` label: Argo CD's CRDs, a
  Bitnami SealedSecret CRD), or an Argo CD server / application controller running in the
  control namespace, stops the install before anything is written, naming what was found,
  unless ``adopt`` is set.
* **Uninstall** deletes what the install applies, newest first, but keeps the CRDs (deleting a
  CRD deletes every Application, AppProject or SealedSecret) and the control namespace (it holds
  them and the repository Secrets) unless ``delete_crds`` is set; objects that are not Tether's
  are left alone, and so are the shared ClusterRoles while another install's binding uses them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.crds import wait_established
from tether.cluster.errors import NotFound
from tether.install.errors import AdminSecretTimeout, InstallError, TakeoverRefused
from tether.install.names import (
    ARGOCD_WORKLOADS,
    INITIAL_ADMIN_PASSWORD_KEY,
    INITIAL_ADMIN_SECRET,
    PART_OF,
    PART_OF_LABEL,
)
from tether.names import (
    CONTROLLER_FIELD_MANAGER,
    SECRETS_FIELD_MANAGER,
    SERVER_FIELD_MANAGER,
    SERVER_SECRET,
)

FIELD_MANAGER = CONTROLLER_FIELD_MANAGER
#: field managers whose writes make an object Tether's (the controller's bootstrap creates the
#: CRDs, the server its Secrets, the Sealed Secrets controller its CRD)
TETHER_MANAGERS = frozenset({CONTROLLER_FIELD_MANAGER, SERVER_FIELD_MANAGER, SECRETS_FIELD_MANAGER})

Echo = Callable[[str], Any]


def describe(obj: dict[str, Any]) -> str:
    """``kind.group/name`` as kubectl prints it (``deployment.apps/tether-controller``)."""
    group = str(obj["apiVersion"]).rpartition("/")[0]
    kind = str(obj["kind"]).lower()
    name = obj["metadata"]["name"]
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


def _managers(live: dict[str, Any]) -> list[str]:
    """Who wrote the object's fields; status writers (the cluster's controllers) do not own it."""
    fields = (live.get("metadata") or {}).get("managedFields") or []
    owners = {str(f.get("manager") or "") for f in fields if f.get("subresource") != "status"}
    return sorted(owners - {""})


def is_tethers(live: dict[str, Any]) -> bool:
    """Whether a live object was written by Tether or carries Tether's part-of label."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    return labels.get(PART_OF_LABEL) == PART_OF or bool(TETHER_MANAGERS & set(_managers(live)))


def _owner_note(live: dict[str, Any]) -> str:
    """Who the object seems to belong to: its managers and part-of label."""
    notes = []
    managers = _managers(live)
    if managers:
        notes.append(f"managed by {', '.join(managers)}")
    part_of = ((live.get("metadata") or {}).get("labels") or {}).get(PART_OF_LABEL)
    if part_of:
        notes.append(f"{PART_OF_LABEL}={part_of}")
    return "; ".join(notes) or "not created by Tether"


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


async def read_live(
    client: ClusterClient, manifests: list[dict[str, Any]]
) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The live copy of each manifest that exists (types not yet defined count as absent)."""
    live: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for obj in manifests:
        try:
            info = await client.resource_for_object(obj)
            found = await client.get(
                info, obj["metadata"]["name"], obj["metadata"].get("namespace")
            )
        except NotFound:
            continue
        live[_key(obj)] = found
    return live


async def _argocd_workloads(client: ClusterClient, namespace: str) -> list[str]:
    """``argocd-server`` / ``argocd-application-controller`` running in ``namespace``."""
    found = []
    for api_version, kind in (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")):
        info = await client.resource_for(api_version, kind)
        for name in ARGOCD_WORKLOADS:
            try:
                await client.get(info, name, namespace)
            except NotFound:
                continue
            found.append(f"{kind.lower()}.apps/{name} runs in namespace {namespace}")
    return found


async def find_foreign(
    client: ClusterClient,
    manifests: list[dict[str, Any]],
    live: dict[tuple[str, str, str, str], dict[str, Any]],
    namespace: str,
) -> list[str]:
    """What the install would take over from someone else, one line each."""
    found = await _argocd_workloads(client, namespace)
    for obj in manifests:
        current = live.get(_key(obj))
        # a namespace is shared ground: Argo CD's presence in it is found by its workloads
        if current is None or obj["kind"] == "Namespace" or is_tethers(current):
            continue
        found.append(f"{describe(obj)} exists ({_owner_note(current)})")
    return found


async def check_namespaces_exist(client: ClusterClient, namespaces: tuple[str, ...]) -> None:
    """Managed namespaces are the user's: the install puts Roles there but never creates them."""
    info = await client.resource_for("v1", "Namespace")
    missing = []
    for name in namespaces:
        try:
            await client.get(info, name)
        except NotFound:
            missing.append(name)
    if missing:
        raise InstallError(
            f"managed namespace(s) {', '.join(missing)} do not exist; create them first "
            f"(kubectl create namespace {missing[0]}). Nothing was changed."
        )


def takeover_message(found: list[str]) -> str:
    lines = "\n".join(f"  {line}" for line in found)
    return (
        "refusing to take over objects that are not Tether's (a running Argo CD?):\n"
        f"{lines}\n"
        "Nothing was changed. Remove Argo CD first, or run tether install --adopt to take them "
        "over (Tether then owns them; Argo CD's controller must not run beside it)."
    )


def _outcome(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """created, configured or unchanged: the spec's generation where the object has one (a
    Deployment's status keeps changing its resourceVersion), else the resourceVersion."""
    if before is None:
        return "created"
    key = "generation" if "generation" in before["metadata"] else "resourceVersion"
    same = before["metadata"].get(key) == after["metadata"].get(key)
    return "unchanged" if same else "configured"


def stale_objects(
    manifests: list[dict[str, Any]], other_modes: list[dict[str, Any]], namespace: str
) -> list[dict[str, Any]]:
    """What another mode of the same install applies and this one does not: left behind by a
    switch of mode, it would keep rights this install no longer grants (a cluster-wide binding
    under ``--namespaced``). CRDs and namespaces hold data, and the ClusterRoles every install
    of the cluster shares (their names carry no namespace) may be in use: never stale."""
    wanted = {_key(m) for m in manifests}
    stale = []
    for obj in other_modes:
        name = obj["metadata"]["name"]
        if _key(obj) in wanted or obj["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        if obj["kind"] == "ClusterRole" and not name.endswith(f"-{namespace}"):
            continue
        stale.append(obj)
    return stale


async def _remove_stale(
    client: ClusterClient, stale: list[dict[str, Any]], dry_run: bool
) -> list[str]:
    """Delete the stale objects that exist and are Tether's; the lines to print."""
    lines = []
    live = await read_live(client, stale)
    for obj in stale:
        current = live.get(_key(obj))
        if current is None or not is_tethers(current):
            continue
        if not dry_run:
            info = await client.resource_for_object(obj)
            try:
                await client.delete(info, obj["metadata"]["name"], obj["metadata"].get("namespace"))
            except NotFound:
                continue
        lines.append(
            f"{describe(obj)} deleted (not part of this mode)" + (" (dry run)" if dry_run else "")
        )
    return lines


async def install(
    client: ClusterClient,
    manifests: list[dict[str, Any]],
    *,
    adopt: bool = False,
    dry_run: bool = False,
    timeout: float = 60.0,
    stale: list[dict[str, Any]] | None = None,
    echo: Echo = print,
) -> list[str]:
    """Server-side apply ``manifests``, then delete ``stale`` (:func:`stale_objects`); returns
    the lines printed (one per object).

    Raises :class:`TakeoverRefused` before any write when :func:`find_foreign` finds something
    and ``adopt`` is false.
    """
    namespace = next(m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace")
    live = await read_live(client, manifests)
    foreign = await find_foreign(client, manifests, live, namespace)
    if foreign and not adopt:
        raise TakeoverRefused(takeover_message(foreign))
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        echo(line)

    for line in foreign:
        say(f"adopting: {line}")
    new_namespace = dry_run and _key(manifests[0]) not in live
    for obj in manifests:
        namespace_of = obj["metadata"].get("namespace")
        if new_namespace and namespace_of == namespace:
            # the server cannot dry-run into a namespace that a dry run did not create
            say(f"{describe(obj)} created (dry run; in new namespace {namespace})")
            continue
        info = await client.resource_for_object(obj)
        after = await client.apply(
            info, obj, namespace_of, field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
        )
        outcome = _outcome(live.get(_key(obj)), after)
        say(f"{describe(obj)} {outcome}" + (" (server dry run)" if dry_run else ""))
    for line in await _remove_stale(client, stale or [], dry_run):
        say(line)
    crds = [o["metadata"]["name"] for o in manifests if o["kind"] == "CustomResourceDefinition"]
    if crds and not dry_run:
        await wait_established(client, crds, timeout, poll_interval=0.1)
        say(f"established: {', '.join(crds)}")
    return lines


async def _bindings_of(client: ClusterClient, cluster_role: str) -> list[str]:
    """The ClusterRoleBindings that still grant ``cluster_role`` (another install's)."""
    info = await client.resource_for("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
    bindings = (await client.list(info)).items
    return sorted(
        b["metadata"]["name"]
        for b in bindings
        if (b.get("roleRef") or {}).get("kind") == "ClusterRole"
        and b["roleRef"].get("name") == cluster_role
    )


async def _remove(
    client: ClusterClient, obj: dict[str, Any], current: dict[str, Any] | None
) -> str:
    """Delete one object of an install unless it is gone, not Tether's or still in use."""
    if current is None:
        return f"{describe(obj)} not found"
    if not is_tethers(current):
        return f"{describe(obj)} kept: not Tether's ({_owner_note(current)})"
    if obj["kind"] == "ClusterRole" and (
        users := await _bindings_of(client, obj["metadata"]["name"])
    ):
        # the cluster-wide ClusterRoles are shared by every install of the cluster
        return f"{describe(obj)} kept: still bound by {', '.join(users)}"
    info = await client.resource_for_object(obj)
    try:
        await client.delete(info, obj["metadata"]["name"], obj["metadata"].get("namespace"))
    except NotFound:
        return f"{describe(obj)} not found"
    return f"{describe(obj)} deleted"


async def uninstall(
    client: ClusterClient,
    manifests: list[dict[str, Any]],
    *,
    delete_crds: bool = False,
    echo: Echo = print,
) -> list[str]:
    """Delete what :func:`install` applies (see the module docstring); returns the lines.

    Newest first, so an install's own bindings are gone before its ClusterRoles are looked at.
    """
    keep_kinds = set() if delete_crds else {"CustomResourceDefinition", "Namespace"}
    live = await read_live(client, manifests)
    lines: list[str] = []
    for obj in reversed(manifests):
        if obj["kind"] in keep_kinds:
            line = f"{describe(obj)} kept (--delete-crds removes it and everything it holds)"
        else:
            line = await _remove(client, obj, live.get(_key(obj)))
        lines.append(line)
        echo(line)
    return lines


def _decoded(secret: dict[str, Any], key: str) -> str:
    """A Secret's value, "" when missing or not base64 (the API server sends base64)."""
    value = (secret.get("data") or {}).get(key)
    try:
        return base64.b64decode(str(value), validate=True).decode(errors="replace") if value else ""
    except ValueError:
        return ""


async def wait_for_admin_password(
    client: ClusterClient, namespace: str, timeout: float, poll_interval: float = 0.5
) -> str | None:
    """Wait until the controller has an admin password.

    Returns the generated one that ``argocd-initial-admin-secret`` holds, None when a password
    was set before (the server's Secret has a hash but the initial Secret is gone, as Argo CD
    advises once the password is changed). Raises :class:`AdminSecretTimeout`.
    """
    info = await client.resource_for("v1", "Secret")
    deadline = time.monotonic() + timeout
    while True:
        try:
            secret = await client.get(info, INITIAL_ADMIN_SECRET, namespace)
            password = _decoded(secret, INITIAL_ADMIN_PASSWORD_KEY)
            if password:
                return password
        except NotFound:
            pass
        try:
            server_secret = await client.get(info, SERVER_SECRET, namespace)
            if _decoded(server_secret, "admin.passwordHash"):
                return None
        except NotFound:
            pass
        if time.monotonic() >= deadline:
            raise AdminSecretTimeout(
                f"the controller did not write Secret {INITIAL_ADMIN_SECRET} in namespace "
                f"{namespace} within {timeout:g} s; everything else is installed. Is its pod "
                f"running? kubectl -n {namespace} get pods; kubectl -n {namespace} logs "
                "deployment/tether-controller"
            )
        await asyncio.sleep(poll_interval)
