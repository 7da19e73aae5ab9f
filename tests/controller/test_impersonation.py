"""Sync with impersonation: AppProject ``destinationServiceAccounts`` and the ``argocd-cm`` flag.

The derivation is pure (Argo CD's rules); the story runs on the local cluster with RBAC: the
controller (allowed to impersonate) writes as a tenant's ServiceAccount that may only touch
ConfigMaps, so a Deployment in the tenant's revision is a clear SyncError and nothing is applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller import test_forbidden
from tests.controller.test_forbidden import (
    ALL_VERBS,
    CONTROL_RULES,
    app_status,
    application,
    apply_all,
    bind,
    cluster_role,
    condition,
    config_map,
    control_namespace,
    controller_identity,
    deployment,
    exists,
    files,
    namespace_doc,
    project,
    push,
    repository,
    role,
    rule,
    running_controller,
    service_account,
    sync_and_wait,
    uid,
    wait_revision,
)
from tether.cluster.client import ClusterClient
from tether.cluster.errors import Forbidden
from tether.controller.impersonation import (
    IMPERSONATION_ENABLED_SETTING,
    ImpersonationError,
    impersonation_enabled,
    service_account_user,
)
from tether.controller.project import DestinationServiceAccount, Project, parse_project
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.names import RESOURCES_FINALIZER
from tether.source.gitserver import GitHTTPServer

IN_CLUSTER = "https://kubernetes.default.svc"


def tenant_project(*entries: tuple[str, str, str]) -> Project:
    return parse_project(
        {
            "metadata": {"name": "tenant"},
            "spec": {
                "destinationServiceAccounts": [
                    {"server": s, "namespace": n, "defaultServiceAccount": a} for s, n, a in entries
                ]
            },
        }
    )


# ---- the derivation (pure) ---------------------------------------------------------------------


def test_project_reads_destination_service_accounts() -> None:
    proj = tenant_project((IN_CLUSTER, "team-*", "deployer"))
    assert proj.destination_service_accounts == (
        DestinationServiceAccount(IN_CLUSTER, "team-*", "deployer"),
    )


def test_first_matching_entry_wins_and_a_bare_name_lives_in_the_destination_namespace() -> None:
    proj = tenant_project(
        ("https://other.example", "*", "elsewhere"),
        (IN_CLUSTER, "team-?", "first"),
        (IN_CLUSTER, "*", "catch-all"),
    )
    user = service_account_user(proj, IN_CLUSTER, "team-a", "argocd")
    assert user == "system:serviceaccount:team-a:first"
    other = service_account_user(proj, IN_CLUSTER, "billing", "argocd")
    assert other == "system:serviceaccount:billing:catch-all"


def test_namespace_colon_name_names_the_account_namespace() -> None:
    proj = tenant_project(("*", "*", "deployers:team-a"))
    user = service_account_user(proj, IN_CLUSTER, "team-a", "argocd")
    assert user == "system:serviceaccount:deployers:team-a"


def test_without_a_destination_namespace_the_account_lives_in_the_apps_namespace() -> None:
    proj = tenant_project(("*", "", "deployer"))
    user = service_account_user(proj, IN_CLUSTER, "", "argocd")
    assert user == "system:serviceaccount:argocd:deployer"


@pytest.mark.parametrize("name", ["", "  ", "dep*", "a/b", "{x}", "!x"])
def test_invalid_service_account_names_are_refused(name: str) -> None:
    proj = tenant_project(("*", "*", name))
    with pytest.raises(ImpersonationError, match="invalid chars"):
        service_account_user(proj, IN_CLUSTER, "team-a", "argocd")


def test_no_match_refuses_with_argo_cds_message() -> None:
    proj = tenant_project((IN_CLUSTER, "team-a", "deployer"))
    with pytest.raises(ImpersonationError) as caught:
        service_account_user(proj, IN_CLUSTER, "team-b", "argocd")
    assert (
        "failed to find a matching service account to impersonate: no matching service account "
        f"found for destination server {IN_CLUSTER} and namespace team-b"
    ) in caught.value.message


def test_an_invalid_glob_is_an_error_not_a_miss() -> None:
    proj = tenant_project((IN_CLUSTER, "team-[", "deployer"), ("*", "*", "catch-all"))
    with pytest.raises(ImpersonationError, match="invalid glob pattern for destination namespace"):
        service_account_user(proj, IN_CLUSTER, "team-a", "argocd")


@pytest.mark.parametrize(
    ("value", "enabled"), [("true", True), ("True", False), ("1", False), ("", False)]
)
def test_the_flag_is_on_only_for_the_string_true(value: str, enabled: bool) -> None:
    assert impersonation_enabled({IMPERSONATION_ENABLED_SETTING: value}) is enabled
    assert impersonation_enabled({}) is False


# ---- the client's impersonating view -----------------------------------------------------------


async def test_as_user_sends_requests_as_that_user_over_the_same_pool(
    client: ClusterClient, namespace: str
) -> None:
    await apply_all(client, [service_account(namespace, "nobody")])
    user = f"system:serviceaccount:{namespace}:nobody"
    view = client.as_user(user)
    info = await client.resource_for("v1", "ConfigMap")
    before = client.stats.by_verb["apply"]
    with pytest.raises(Forbidden) as caught:
        await view.apply(
            info, config_map("x") | {"metadata": {"name": "x", "namespace": namespace}}
        )
    assert f'User "{user}" cannot patch resource "configmaps"' in caught.value.message
    # counted by the client it was made from; closing the view leaves that client working
    assert client.stats.by_verb["apply"] == before + 1
    await view.aclose()
    await client.get(await client.resource_for("v1", "Namespace"), namespace)


#: the git server fixture of the least-privilege tests
git = test_forbidden.git


# ---- the story on the cluster ------------------------------------------------------------------


async def impersonating_setup(client: ClusterClient, mapped: str = "deployer") -> tuple[str, str]:
    """A fresh control namespace with impersonation on and a fresh destination namespace, its
    ``tenant`` project mapping the destination to ``mapped`` (``{dest}`` is replaced); the
    ServiceAccount ``deployer`` there may do anything to ConfigMaps and nothing else."""
    control = await control_namespace(client)
    dest = f"team-{uid()}"
    mapped = mapped.format(dest=dest)
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": control},
        "data": {IMPERSONATION_ENABLED_SETTING: "true"},
    }
    deployer_role = role("configmaps-only", dest, [rule([""], ["configmaps"], ALL_VERBS)])
    entries = [{"server": IN_CLUSTER, "namespace": dest, "defaultServiceAccount": mapped}]
    await apply_all(
        client,
        [
            namespace_doc(dest),
            service_account(dest, "deployer"),
            deployer_role,
            bind(deployer_role, dest, "deployer"),
            settings,
            project("tenant", control, destinationServiceAccounts=entries),
        ],
    )
    return control, dest


async def test_sync_runs_as_the_projects_service_account(
    client: ClusterClient, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, dest = await impersonating_setup(client)
    url, work = repository(git, files(config_map("settings"), deployment("web")))
    async with running_controller(client, tmp_path, control):
        await apply_all(client, [application("tenant-app", control, url, dest, project="tenant")])
        state = await sync_and_wait(client, control, "tenant-app")
        assert state["phase"] == "Failed"
        user = f"system:serviceaccount:{dest}:deployer"
        steps = {r["kind"]: r for r in state["syncResult"]["resources"]}
        assert (
            f'User "{user}" cannot patch resource "deployments" in API group "apps"'
            in (steps["Deployment"]["message"])
        )
        sync_error = await condition(client, control, "tenant-app", "SyncError")
        assert sync_error is not None and user in sync_error
        # nothing of the revision was applied, not even the ConfigMap the account may write
        assert not await exists(client, "v1", "ConfigMap", "settings", dest)
        assert not await exists(client, "apps/v1", "Deployment", "web", dest)

        deploy_file = next(iter(files(deployment("web"))))
        sha = push(work, {deploy_file: None})
        await wait_revision(client, control, "tenant-app", sha)
        assert (await sync_and_wait(client, control, "tenant-app"))["phase"] == "Succeeded"
        assert await exists(client, "v1", "ConfigMap", "settings", dest)


async def test_the_same_revision_mapped_to_another_account_is_refused_as_that_account(
    client: ClusterClient, git: GitHTTPServer, tmp_path: Path
) -> None:
    """The ConfigMap-only revision the deployer may sync fails as ``ns:nobody``: the writes
    really go out as the mapped account, not as the controller (which may do anything)."""
    control, dest = await impersonating_setup(client, "{dest}:nobody")
    url, _ = repository(git, files(config_map("settings")))
    async with running_controller(client, tmp_path, control):
        await apply_all(client, [application("nobody-app", control, url, dest, project="tenant")])
        state = await sync_and_wait(client, control, "nobody-app")
        assert state["phase"] == "Failed"
        assert f'User "system:serviceaccount:{dest}:nobody" cannot patch' in state["message"]
        assert not await exists(client, "v1", "ConfigMap", "settings", dest)


async def test_no_matching_service_account_refuses_the_sync(
    client: ClusterClient, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, _ = await impersonating_setup(client)
    other = f"other-{uid()}"
    await apply_all(client, [namespace_doc(other)])
    url, _ = repository(git, files(config_map("settings")))
    async with running_controller(client, tmp_path, control):
        await apply_all(client, [application("unmapped", control, url, other, project="tenant")])
        state = await sync_and_wait(client, control, "unmapped")
        assert state["phase"] == "Error"
        assert "failed to find a matching service account to impersonate" in state["message"]
        assert f"namespace {other}" in state["message"]
        assert not await exists(client, "v1", "ConfigMap", "settings", other)
        # the comparison itself is not refused: the app still shows what it would deploy
        assert (await app_status(client, control, "unmapped")).get("sync", {}).get("status") == (
            "OutOfSync"
        )


async def test_a_controller_without_the_impersonate_verb_gets_a_clear_error(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, dest = await impersonating_setup(client)
    # the controller may write ConfigMaps everywhere itself, but may not impersonate
    rbac = [cluster_role(f"tether-{control}", CONTROL_RULES)]
    identity = await controller_identity(client, local_cluster, control, rbac)
    url, _ = repository(git, files(config_map("settings")))
    async with identity, running_controller(identity, tmp_path, control):
        await apply_all(client, [application("no-verb", control, url, dest, project="tenant")])
        state = await sync_and_wait(client, control, "no-verb")
        assert state["phase"] == "Failed"
        controller_user = f"system:serviceaccount:{control}:tether"
        assert (
            f'User "{controller_user}" cannot impersonate resource "serviceaccounts"'
            in (state["message"])
        )
        assert not await exists(client, "v1", "ConfigMap", "settings", dest)


async def test_deletion_runs_as_the_projects_service_account(
    client: ClusterClient, git: GitHTTPServer, tmp_path: Path
) -> None:
    control, dest = await impersonating_setup(client)
    url, _ = repository(git, files(config_map("settings")))
    app = application("leaving", control, url, dest, project="tenant")
    app["metadata"]["finalizers"] = [RESOURCES_FINALIZER]
    async with running_controller(client, tmp_path, control):
        await apply_all(client, [app])
        assert (await sync_and_wait(client, control, "leaving"))["phase"] == "Succeeded"

        def mapped_to(account: str) -> dict[str, object]:
            entry = {"server": IN_CLUSTER, "namespace": dest, "defaultServiceAccount": account}
            return project("tenant", control, destinationServiceAccounts=[entry])

        await apply_all(client, [mapped_to(f"{dest}:nobody")])
        info = await client.resource_for("argoproj.io/v1alpha1", "Application")
        await client.delete(info, "leaving", control)
        message = await eventually(
            lambda: condition(client, control, "leaving", "DeletionError"),
            what="the deletion refused to the unprivileged account",
        )
        assert f'User "system:serviceaccount:{dest}:nobody" cannot delete' in message
        assert await exists(client, "v1", "ConfigMap", "settings", dest)

        await apply_all(client, [mapped_to("deployer")])
        await eventually(
            lambda: not_there(client, "argoproj.io/v1alpha1", "Application", "leaving", control),
            timeout=60,
            what="the app deleted once its account may delete",
        )
        assert not await exists(client, "v1", "ConfigMap", "settings", dest)


async def not_there(client: ClusterClient, api_version: str, kind: str, name: str, ns: str) -> bool:
    return not await exists(client, api_version, kind, name, ns)
