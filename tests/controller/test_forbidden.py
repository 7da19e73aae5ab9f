"""The controller under least privilege: what the cluster's 403s become, on the local cluster with
RBAC, the controller running as a ServiceAccount token of its own.

A missing ``list``/``watch`` verb is a ComparisonError naming the resource (and the controller
keeps running the other apps); a missing write verb is the sync's per-object SyncError with
kube-apiserver's message (user, verb, resource, namespace) and nothing of that revision applied.
The helpers here are shared by ``test_impersonation.py`` and ``test_namespaced.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube.config.kubeconfig import KubeConfig

from tether.cluster.cache import cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.control import bootstrap
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import commit_and_push, create_repository
from tether.localcluster.cluster import LocalCluster, identity_kubeconfig
from tether.localcluster.testing import eventually
from tether.names import RESOURCES_FINALIZER
from tether.source.gitserver import GitHTTPServer

ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
TERMINAL = ("Succeeded", "Failed", "Error")

# ---- shared helpers ----------------------------------------------------------------------------


def uid() -> str:
    return uuid.uuid4().hex[:8]


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


#: what a controller needs in its control namespace (Applications, projects, settings, Events)
CONTROL_RULES = [
    rule(["argoproj.io"], ["*"], ["*"]),
    rule([""], ["configmaps", "secrets", "events"], ALL_VERBS),
    rule(["events.k8s.io"], ["events"], ALL_VERBS),
]


#: a controller that may do anything to ConfigMaps but delete them
NO_CONFIGMAP_DELETE = [
    rule(["argoproj.io"], ["*"], ["*"]),
    rule([""], ["secrets", "events"], ALL_VERBS),
    rule([""], ["configmaps"], [v for v in ALL_VERBS if v != "delete"]),
    rule(["events.k8s.io"], ["events"], ALL_VERBS),
]


def role(name: str, namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }


def cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def bind(role_doc: dict[str, Any], sa_namespace: str, sa_name: str) -> dict[str, Any]:
    """A (Cluster)RoleBinding of ``role_doc`` to a ServiceAccount, named like the role."""
    meta = role_doc["metadata"]
    namespaced = role_doc["kind"] == "Role"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespaced else "ClusterRoleBinding",
        "metadata": {
            "name": meta["name"],
            **({"namespace": meta["namespace"]} if namespaced else {}),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_doc["kind"],
            "name": meta["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
    }


def service_account(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    }


def namespace_doc(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


async def apply_all(client: ClusterClient, docs: Iterable[dict[str, Any]]) -> None:
    for doc in docs:
        info = await client.resource_for_object(doc)
        await client.apply(info, doc, force=True)


async def token_of(client: ClusterClient, namespace: str, name: str) -> str:
    """A token of ServiceAccount ``namespace/name`` from the TokenRequest API (what ``kubectl
    create token`` asks for)."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = await client.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        verb="create",
        body=request,
    )
    return str(answer["status"]["token"])


def client_with_token(cluster: LocalCluster, token: str) -> ClusterClient:
    """A client of ``cluster`` authenticated by ``token`` alone."""
    doc = identity_kubeconfig(cluster.url, cluster.creds.ca_pem, "sa", {"token": token})
    config = KubeConfig.from_dict(doc).get()
    assert config is not None
    return ClusterClient(config)


async def controller_identity(
    admin: ClusterClient, cluster: LocalCluster, sa_namespace: str, rbac: list[dict[str, Any]]
) -> ClusterClient:
    """A client of a new ServiceAccount ``tether`` in ``sa_namespace`` granted exactly ``rbac``
    (roles, each bound to it)."""
    await apply_all(admin, [service_account(sa_namespace, "tether")])
    await apply_all(admin, rbac + [bind(r, sa_namespace, "tether") for r in rbac])
    return client_with_token(cluster, await token_of(admin, sa_namespace, "tether"))


@asynccontextmanager
async def running_controller(
    client: ClusterClient, root: Path, control_ns: str, **config: Any
) -> AsyncIterator[Controller]:
    """A started controller of ``control_ns`` talking through ``client``."""
    settings: dict[str, Any] = {
        "namespace": control_ns,
        "reconcile_interval": 1.0,
        "leader_election": False,
        "cache_dir": root / f"cache-{control_ns}",
        "wave_timeout": 60,
        **config,
    }
    controller = Controller(client, ControllerConfig(**settings))
    await controller.start()
    try:
        yield controller
    finally:
        await controller.stop()


async def control_namespace(admin: ClusterClient) -> str:
    """A fresh control namespace with the CRDs and its default AppProject (installed as
    ``tether install`` would, so a least-privileged controller finds them)."""
    name = f"ctl-{uid()}"
    await bootstrap(admin, name, "tether")
    return name


async def least_privileged(
    admin: ClusterClient, cluster: LocalCluster, rules: list[dict[str, Any]]
) -> tuple[str, str, ClusterClient]:
    """A fresh control namespace, a fresh destination namespace, and a client of a controller
    ServiceAccount holding a ClusterRole of exactly ``rules``."""
    control = await control_namespace(admin)
    dest = f"dest-{uid()}"
    await apply_all(admin, [namespace_doc(dest)])
    rbac = [cluster_role(f"tether-{control}", rules)]
    return control, dest, await controller_identity(admin, cluster, control, rbac)


def config_map(name: str, data: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": data},
    }


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def files(*docs: dict[str, Any]) -> dict[str, str]:
    """Repository files: one manifest per object under ``app/``."""
    return {
        f"app/{d['kind'].lower()}-{d['metadata']['name']}.yaml": yaml.safe_dump(d) for d in docs
    }


def repository(git: GitHTTPServer, content: dict[str, str]) -> tuple[str, Path]:
    """A new repository served by ``git`` with ``content``: its URL and working clone."""
    name = f"repo-{uid()}"
    root = Path(git.root)
    create_repository(root / f"{name}.git", root / "work" / name, content)
    return git.url(f"{name}.git"), root / "work" / name


def push(work: Path, changes: dict[str, str | None]) -> str:
    return commit_and_push(work, "change", changes)


def application(
    name: str, control_ns: str, repo_url: str, dest_ns: str, project: str = "default", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": control_ns},
        "spec": {
            "project": project,
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": "app"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": dest_ns},
            **spec,
        },
    }


def project(name: str, control_ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": control_ns},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            **spec,
        },
    }


async def app_status(admin: ClusterClient, control_ns: str, name: str) -> dict[str, Any]:
    info = await admin.resource_for("argoproj.io/v1alpha1", "Application")
    try:
        obj = await admin.get(info, name, control_ns)
    except NotFound:
        return {}
    return dict(obj.get("status") or {})


async def condition(admin: ClusterClient, control_ns: str, name: str, kind: str) -> str | None:
    for cond in (await app_status(admin, control_ns, name)).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("message"))
    return None


async def sync_and_wait(
    admin: ClusterClient, control_ns: str, name: str, **sync: Any
) -> dict[str, Any]:
    """Request a sync (as ``argocd app sync`` does) and return its finished operationState."""
    info = await admin.resource_for("argoproj.io/v1alpha1", "Application")
    # the requester's name tells this operation's state from the last one's (both may start
    # within the same second)
    requester = f"alice-{uid()}"
    await admin.patch(
        info,
        name,
        {"operation": {"sync": sync, "initiatedBy": {"username": requester}}},
        control_ns,
    )

    async def finished() -> dict[str, Any] | None:
        state = (await app_status(admin, control_ns, name)).get("operationState") or {}
        by = ((state.get("operation") or {}).get("initiatedBy") or {}).get("username")
        return state if by == requester and state.get("phase") in TERMINAL else None

    try:
        result: dict[str, Any] = await eventually(finished, timeout=60, what=f"{name}'s sync")
    except AssertionError as exc:
        status = await app_status(admin, control_ns, name)
        raise AssertionError(f"{exc}; operationState: {status.get('operationState')}") from None
    return result


async def wait_revision(admin: ClusterClient, control_ns: str, name: str, sha: str) -> None:
    """Wait until the app has been compared at commit ``sha`` (the controller polled it)."""

    async def compared() -> bool:
        status = await app_status(admin, control_ns, name)
        return (status.get("sync") or {}).get("revision") == sha

    await eventually(compared, timeout=60, what=f"{name} compared at {sha[:12]}")


async def exists(client: ClusterClient, api_version: str, kind: str, name: str, ns: str) -> bool:
    info = await client.resource_for(api_version, kind)
    try:
        await client.get(info, name, ns)
    except NotFound:
        return False
    return True


@contextmanager
def serve_git(root: Path) -> Iterator[GitHTTPServer]:
    server = GitHTTPServer(root / "git").start()
    try:
        yield server
    finally:
        server.stop()


# ---- the tests ---------------------------------------------------------------------------------


@pytest.fixture
def git(tmp_path: Path) -> Iterator[GitHTTPServer]:
    """A git server for this test's repositories."""
    with serve_git(tmp_path) as server:
        yield server


async def test_missing_list_verb_is_a_comparison_error_and_other_apps_still_sync(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    # every verb on ConfigMaps; Deployments may be written but not listed or watched
    control, dest, identity = await least_privileged(
        client,
        local_cluster,
        [*CONTROL_RULES, rule(["apps"], ["deployments"], ["get", "create", "patch"])],
    )
    cm_url, _ = repository(git, files(config_map("settings")))
    deploy_url, _ = repository(git, files(deployment("web")))
    automated = {"syncPolicy": {"automated": {}}}
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(
            client,
            [
                application("deploys", control, deploy_url, dest, **automated),
                application("configs", control, cm_url, dest, **automated),
            ],
        )
        message = await eventually(
            lambda: condition(client, control, "deploys", "ComparisonError"),
            what="a ComparisonError for the unlistable Deployments",
        )
        assert "deployments.apps" in message
        assert f'"system:serviceaccount:{control}:tether" cannot list resource "deployments"' in (
            message
        )
        # the other app is unaffected: synced as its identity may
        await eventually(
            lambda: exists(client, "v1", "ConfigMap", "settings", dest),
            what="the ConfigMap of the other app",
        )
        assert not await exists(client, "apps/v1", "Deployment", "web", dest)


async def test_missing_watch_verb_is_a_comparison_error_not_a_stale_copy(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    deployments = rule(["apps"], ["deployments"], ["get", "list", "create", "patch"])
    control, dest, identity = await least_privileged(
        client, local_cluster, [*CONTROL_RULES, deployments]
    )
    url, _ = repository(git, files(deployment("web")))
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(client, [application("unwatched", control, url, dest)])
        message = await eventually(
            lambda: condition(client, control, "unwatched", "ComparisonError"),
            what="a ComparisonError for the unwatchable Deployments",
        )
        assert message.startswith("cannot watch deployments.apps")
        assert 'cannot watch resource "deployments"' in message


async def test_forbidden_write_is_a_per_object_sync_error_and_nothing_is_applied(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, dest, identity = await least_privileged(
        client,
        local_cluster,
        [*CONTROL_RULES, rule(["apps"], ["deployments"], ["get", "list", "watch"])],
    )
    url, _ = repository(git, files(config_map("settings"), deployment("web")))
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(client, [application("both", control, url, dest)])
        state = await sync_and_wait(client, control, "both")
        assert state["phase"] == "Failed"
        steps = {r["kind"]: r for r in state["syncResult"]["resources"]}
        refused = steps["Deployment"]
        assert refused["status"] == "SyncFailed"
        user = f"system:serviceaccount:{control}:tether"
        assert (
            f'User "{user}" cannot patch resource "deployments" in API group "apps"'
            in (refused["message"])
        )
        assert f'in the namespace "{dest}"' in refused["message"]
        sync_error = await condition(client, control, "both", "SyncError")
        assert sync_error is not None and "deployments" in sync_error
        # the dry run refused the revision before any write: the permitted ConfigMap is absent
        assert not await exists(client, "v1", "ConfigMap", "settings", dest)


async def test_forbidden_prune_stops_the_sync_before_any_write(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    """With PruneLast the prunes come after every apply: only the dry run of the prunes keeps
    the new ConfigMap from being applied when the delete is refused."""
    control, dest, identity = await least_privileged(client, local_cluster, NO_CONFIGMAP_DELETE)
    url, work = repository(git, files(config_map("old")))
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(client, [application("pruning", control, url, dest)])
        assert (await sync_and_wait(client, control, "pruning"))["phase"] == "Succeeded"
        old_file = next(iter(files(config_map("old"))))
        sha = push(work, {old_file: None, **files(config_map("new"))})
        await wait_revision(client, control, "pruning", sha)
        state = await sync_and_wait(
            client, control, "pruning", prune=True, syncOptions=["PruneLast=true"]
        )
        assert state["phase"] == "Failed"
        assert 'cannot delete resource "configmaps"' in state["message"]
        assert await exists(client, "v1", "ConfigMap", "old", dest)
        assert not await exists(client, "v1", "ConfigMap", "new", dest)


async def test_forbidden_deletion_keeps_the_app_with_a_deletion_error(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, dest, identity = await least_privileged(client, local_cluster, NO_CONFIGMAP_DELETE)
    url, _ = repository(git, files(config_map("kept")))
    app = application("deleted", control, url, dest)
    app["metadata"]["finalizers"] = [RESOURCES_FINALIZER]
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(client, [app])
        assert (await sync_and_wait(client, control, "deleted"))["phase"] == "Succeeded"
        info = await client.resource_for("argoproj.io/v1alpha1", "Application")
        await client.delete(info, "deleted", control)
        message = await eventually(
            lambda: condition(client, control, "deleted", "DeletionError"),
            what="the DeletionError of the refused delete",
        )
        assert 'cannot delete resource "configmaps"' in message
        # the finalizer stays until the objects can go: the app and its ConfigMap are still there
        assert await exists(client, "argoproj.io/v1alpha1", "Application", "deleted", control)
        assert await exists(client, "v1", "ConfigMap", "kept", dest)


async def test_a_task_that_swallows_its_cancellation_is_still_stopped() -> None:
    """The controller's workers and watches stop even when one cancellation is lost (as
    asyncio.wait_for loses it on Python 3.11 when its call finishes at that moment)."""
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed.set()  # dropped, as wait_for drops it
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait(task)
    assert swallowed.is_set() and task.cancelled()
