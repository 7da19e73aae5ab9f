"""Namespaced mode (Argo CD's namespace-install): the controller manages only listed namespaces.

Admission refuses other namespaces and cluster-scoped kinds (pure); the live cache lists and
watches each managed namespace on its own; on the local cluster with RBAC the controller runs as
a ServiceAccount holding only Roles (it could not list anything cluster-wide) and still syncs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller import test_forbidden
from tests.controller.test_forbidden import (
    ALL_VERBS,
    CONTROL_RULES,
    application,
    apply_all,
    condition,
    config_map,
    control_namespace,
    controller_identity,
    exists,
    files,
    namespace_doc,
    repository,
    role,
    rule,
    running_controller,
    uid,
)
from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.cluster.errors import CacheSyncError, Forbidden
from tether.controller import admission, clusters
from tether.controller.destinations import namespace_limits
from tether.controller.project import ProjectViolation, parse_project
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.source.gitserver import GitHTTPServer

IN_CLUSTER = "https://kubernetes.default.svc"


def scope(managed: tuple[str, ...], cluster_resources: bool = False) -> admission.WriteScope:
    everything = parse_project(
        {
            "metadata": {"name": "default"},
            "spec": {
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        }
    )
    return admission.WriteScope(
        everything, IN_CLUSTER, managed_namespaces=managed, cluster_resources=cluster_resources
    )


def obj(kind: str, name: str, namespace: str | None = None, api: str = "v1") -> dict[str, object]:
    meta: dict[str, str] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


# ---- admission (pure) --------------------------------------------------------------------------


def test_an_object_outside_the_managed_namespaces_is_refused_naming_them() -> None:
    with pytest.raises(ProjectViolation) as caught:
        admission.check_objects(scope(("team-a", "team-b")), [obj("ConfigMap", "x", "billing")])
    message = caught.value.message
    assert "namespace billing is not managed by this controller" in message
    assert "(managed namespaces: team-a, team-b)" in message
    admission.check_objects(scope(("team-a", "team-b")), [obj("ConfigMap", "x", "team-b")])


@pytest.mark.parametrize(
    "cluster_scoped",
    [
        obj("Namespace", "team-a"),
        obj("ClusterRole", "reader", api="rbac.authorization.k8s.io/v1"),
    ],
)
def test_cluster_scoped_kinds_are_refused_unless_cluster_resources(
    cluster_scoped: dict[str, object],
) -> None:
    with pytest.raises(ProjectViolation, match=r"cluster-scoped resource .* is not managed"):
        admission.check_object(scope(("team-a",)), cluster_scoped)
    admission.check_object(scope(("team-a",), cluster_resources=True), cluster_scoped)
    admission.check_object(scope(()), cluster_scoped)


def test_limits_come_from_the_controller_on_its_cluster_and_from_cluster_secrets_elsewhere() -> (
    None
):
    in_cluster = clusters.in_cluster_entry()
    assert namespace_limits(in_cluster, ("a", "b")) == (("a", "b"), False)
    assert namespace_limits(in_cluster, ()) == ((), False)
    remote = clusters.ClusterEntry(
        name="prod", server="https://prod.example", namespaces=("x",), cluster_resources=True
    )
    assert namespace_limits(remote, ("a",)) == (("x",), True)


# ---- the live cache, one list+watch per namespace ------------------------------------------------


async def test_cache_watches_only_the_managed_namespaces(client: ClusterClient) -> None:
    managed = (f"ns-{uid()}", f"ns-{uid()}")
    outside = f"ns-{uid()}"
    await apply_all(client, [namespace_doc(n) for n in (*managed, outside)])
    info = await client.resource_for("v1", "ConfigMap")
    for ns in (*managed, outside):
        await client.apply(
            info, config_map("here") | {"metadata": {"name": "here", "namespace": ns}}
        )
    seen: list[tuple[str, str]] = []
    async with LiveCache(client, namespaces=managed) as cache:
        cache.subscribe_type(
            ("", "ConfigMap"), lambda kind, o: seen.append((kind, o["metadata"]["namespace"]))
        )
        await cache.track([info])
        listed = {o["metadata"]["namespace"] for o in cache.objects("", "ConfigMap")}
        assert listed == set(managed)
        assert cache.stats(info).lists == 2
        for ns in (outside, managed[1]):
            await client.apply(
                info, config_map("later") | {"metadata": {"name": "later", "namespace": ns}}
            )
        await eventually(
            lambda: ("ADDED", managed[1]) in seen, what="the managed namespace's event"
        )
        assert all(ns != outside for _, ns in seen)
        with pytest.raises(CacheSyncError, match="cluster-scoped: not watched in namespaced mode"):
            await cache.track([await client.resource_for("v1", "Namespace")])


#: the git server fixture of the least-privilege tests
git = test_forbidden.git


# ---- on the cluster with RBAC: the controller holds Roles only -----------------------------------


async def test_namespaced_controller_syncs_inside_and_refuses_outside(
    client: ClusterClient, local_cluster: LocalCluster, git: GitHTTPServer, tmp_path: Path
) -> None:
    control = await control_namespace(client)
    managed = f"team-{uid()}"
    outside = f"other-{uid()}"
    await apply_all(client, [namespace_doc(managed), namespace_doc(outside)])
    rbac = [
        role("tether", control, CONTROL_RULES),
        role("tether", managed, [rule(["*"], ["*"], ALL_VERBS)]),
    ]
    identity = await controller_identity(client, local_cluster, control, rbac)
    url, _ = repository(git, files(config_map("settings")))
    automated = {"syncPolicy": {"automated": {}}}
    async with identity:
        # the identity could not run a cluster-wide controller: no list outside its Roles
        info = await identity.resource_for("v1", "ConfigMap")
        with pytest.raises(Forbidden, match="cannot list resource"):
            await identity.list(info)
        async with running_controller(identity, tmp_path, control, managed_namespaces=(managed,)):
            await apply_all(
                client,
                [
                    application("inside", control, url, managed, **automated),
                    application("outside", control, url, outside, **automated),
                ],
            )
            await eventually(
                lambda: exists(client, "v1", "ConfigMap", "settings", managed),
                what="the ConfigMap in the managed namespace",
            )
            refusal = await eventually(
                lambda: condition(client, control, "outside", "InvalidSpecError"),
                what="the refusal of the destination outside",
            )
            assert f"namespace {outside} is not managed by this controller" in refusal
            assert f"(managed namespaces: {managed})" in refusal
            assert not await exists(client, "v1", "ConfigMap", "settings", outside)
