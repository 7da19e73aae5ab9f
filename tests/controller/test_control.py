"""The control namespace as the controller keeps it: Applications, AppProjects, Secrets and
ConfigMaps without ``metadata.managedFields`` and with their short strings shared, whether they
arrive by list, by watch or as the answer to one of the controller's own writes."""

from __future__ import annotations

from typing import Any

from tether.cluster.client import ClusterClient
from tether.controller.control import ControlNamespace, bootstrap
from tether.localcluster.testing import eventually
from tether.names import APPLICATION, ARGO_API_VERSION, CONTROLLER_FIELD_MANAGER


def application(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": APPLICATION,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/r.git", "path": name},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"},
        },
    }


def control_namespace(
    client: ClusterClient, namespace: str, seen: list[dict[str, Any]], compact: bool = True
) -> ControlNamespace:
    def note(event_type: str, obj: dict[str, Any]) -> None:
        seen.append(obj)

    return ControlNamespace(
        client,
        namespace,
        on_application=note,
        on_project=note,
        on_secret=note,
        on_configmap=note,
        compact=compact,
    )


async def test_applications_are_kept_without_managed_fields_and_share_strings(
    client: ClusterClient, namespace: str
) -> None:
    await bootstrap(client, namespace, CONTROLLER_FIELD_MANAGER)
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    for name in ("one", "two"):
        await client.apply(info, application(name, namespace), field_manager="kubectl", force=True)
    seen: list[dict[str, Any]] = []
    control = control_namespace(client, namespace, seen)
    await control.start()
    try:
        listed = control.application_objects()
        assert set(listed) == {"one", "two"}
        one, two = listed["one"], listed["two"]
        assert "managedFields" not in one["metadata"] and "managedFields" not in two["metadata"]
        assert one["spec"]["destination"]["server"] is two["spec"]["destination"]["server"]
        assert one["spec"]["source"] == {"repoURL": "https://git.example.com/r.git", "path": "one"}
        assert control.project_objects() and all(
            "managedFields" not in p["metadata"] for p in control.project_objects().values()
        )

        # a change the watch delivers (the controller's own status write) is lightened too
        status = {"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}
        written = await client.patch(
            info,
            "one",
            status,
            namespace,
            field_manager=CONTROLLER_FIELD_MANAGER,
            subresource="status",
        )
        assert written["metadata"]["managedFields"]
        watched = await eventually(
            lambda: (control.application("one") or {}).get("status"), what="status by watch"
        )
        assert watched == status["status"]
        assert "managedFields" not in (control.application("one") or {})["metadata"]
        assert seen and all("managedFields" not in obj["metadata"] for obj in seen)

        # the answer to an own write is kept lightened; the writer's copy is left whole
        control.remember(written)
        kept = control.application("one")
        assert kept is not None and "managedFields" not in kept["metadata"]
        assert kept["status"] == status["status"]
        assert written["metadata"]["managedFields"]
    finally:
        await control.stop()


async def test_compact_false_keeps_applications_as_the_server_sent_them(
    client: ClusterClient, namespace: str
) -> None:
    await bootstrap(client, namespace, CONTROLLER_FIELD_MANAGER)
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    await client.apply(info, application("whole", namespace), field_manager="kubectl", force=True)
    control = control_namespace(client, namespace, [], compact=False)
    await control.start()
    try:
        kept = control.application("whole")
        assert kept is not None and kept["metadata"]["managedFields"][0]["manager"] == "kubectl"
    finally:
        await control.stop()
