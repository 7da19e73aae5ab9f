"""The semantics Tether's controller relies on, exercised through lightkube as the controller will."""

from __future__ import annotations

import lightkube
import pytest
from lightkube import ApiError
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import CascadeType

from tether.localcluster.testing import wait_until


def _cm(name: str, namespace: str, data: dict[str, str]) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace), data=data)


def _deploy(
    name: str, namespace: str, containers: list[Container], replicas: int | None = 1
) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels={"app": name}),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels={"app": name}), spec=PodSpec(containers=containers)
            ),
        ),
    )


def test_ssa_conflict_between_two_managers(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    lightkube_client.apply(_cm("c", namespace, {"a": "1"}), field_manager="gitops")
    with pytest.raises(ApiError) as exc:
        lightkube_client.apply(_cm("c", namespace, {"a": "2"}), field_manager="intruder")
    assert exc.value.status.code == 409
    assert (
        exc.value.status.message == 'Apply failed with 1 conflict: conflict with "gitops": .data.a'
    )
    forced = lightkube_client.apply(
        _cm("c", namespace, {"a": "2"}), field_manager="intruder", force=True
    )
    assert forced.data == {"a": "2"}


def test_field_dropped_by_one_manager_goes_while_another_managers_field_stays(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    lightkube_client.apply(_cm("d", namespace, {"mine": "1", "gone": "2"}), field_manager="gitops")
    lightkube_client.apply(_cm("d", namespace, {"theirs": "3"}), field_manager="operator")
    result = lightkube_client.apply(_cm("d", namespace, {"mine": "1"}), field_manager="gitops")
    assert result.data == {"mine": "1", "theirs": "3"}


def test_containers_merged_by_name(lightkube_client: lightkube.Client, namespace: str) -> None:
    lightkube_client.apply(
        _deploy("web", namespace, [Container(name="app", image="app:1")]), field_manager="gitops"
    )
    sidecar = Deployment(
        metadata=ObjectMeta(name="web", namespace=namespace),
        spec=DeploymentSpec(
            selector=LabelSelector(matchLabels={"app": "web"}),
            template=PodTemplateSpec(
                spec=PodSpec(containers=[Container(name="proxy", image="proxy:1")])
            ),
        ),
    )
    lightkube_client.apply(sidecar, field_manager="injector", force=True)
    live = lightkube_client.get(Deployment, "web", namespace=namespace)
    assert [c.name for c in live.spec.template.spec.containers] == ["app", "proxy"]
    assert live.spec.template.spec.containers[0].imagePullPolicy == "IfNotPresent"


def test_watch_resumed_from_a_resource_version(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    first = lightkube_client.create(_cm("r1", namespace, {}))
    lightkube_client.create(_cm("r2", namespace, {}))
    lightkube_client.patch(ConfigMap, "r1", {"data": {"x": "y"}}, namespace=namespace)
    seen = []
    for event, obj in lightkube_client.watch(
        ConfigMap, namespace=namespace, resource_version=first.metadata.resourceVersion
    ):
        seen.append((event, obj.metadata.name))
        if len(seen) == 2:
            break
    assert seen == [("ADDED", "r2"), ("MODIFIED", "r1")]


def test_cascading_deletion_of_an_owner_removes_its_dependents(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    owner = lightkube_client.create(_deploy("owner", namespace, [Container(name="a", image="a:1")]))
    ref = OwnerReference(
        apiVersion="apps/v1",
        kind="Deployment",
        name="owner",
        uid=owner.metadata.uid,
        controller=True,
    )
    for i in range(3):
        lightkube_client.create(
            ConfigMap(
                metadata=ObjectMeta(name=f"dep{i}", namespace=namespace, ownerReferences=[ref])
            )
        )
    lightkube_client.delete(
        Deployment, "owner", namespace=namespace, cascade=CascadeType.FOREGROUND
    )

    def all_gone() -> bool:
        try:
            lightkube_client.get(Deployment, "owner", namespace=namespace)
        except ApiError:  # the owner is gone: its dependents must be too
            return not list(lightkube_client.list(ConfigMap, namespace=namespace))
        return False

    wait_until(all_gone, timeout=10, what="the owner and its dependents deleted")


def test_no_op_apply_keeps_resource_version_and_generation(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    d = _deploy("same", namespace, [Container(name="a", image="a:1")], replicas=2)
    first = lightkube_client.apply(d, field_manager="gitops")
    second = lightkube_client.apply(d, field_manager="gitops")
    assert second.metadata.resourceVersion == first.metadata.resourceVersion
    assert second.metadata.generation == first.metadata.generation == 1
