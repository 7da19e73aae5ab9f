"""The demo's Applications: each service in staging (fully automated) and production (manual
sync, drift reverted), as the mission runs them.

Production uses Tether's production mode, written in Argo CD's own schema so the manifest stays
valid there: ``syncPolicy.automated: {enabled: false, selfHeal: true}``. New commits wait for
``tether app sync``; a ``kubectl edit`` is reverted to the revision of the last sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import AlreadyExists
from tether.names import (
    APPLICATION,
    ARGO_API_VERSION,
    DEFAULT_NAMESPACE,
    DEFAULT_PROJECT,
    IN_CLUSTER_SERVER,
    RESOURCES_FINALIZER,
)

SERVICES = ("payment-service", "catalog-service")
STAGING = "staging"
PRODUCTION = "production"
ENVIRONMENTS = (STAGING, PRODUCTION)
#: who the first sync of a production app is recorded as
FIRST_SYNC_BY = "tether up"


@dataclass(frozen=True)
class DemoApp:
    """One service in one environment: the Application and the namespace it deploys into."""

    service: str
    environment: str

    @property
    def name(self) -> str:
        """The Application's name, also its destination namespace."""
        return f"{self.service}-{self.environment}"

    @property
    def automated(self) -> bool:
        """True for staging (every commit deploys), False for production (a person syncs)."""
        return self.environment == STAGING


DEMO_APPS = tuple(DemoApp(service, env) for service in SERVICES for env in ENVIRONMENTS)


def sync_policy(app: DemoApp) -> dict[str, Any]:
    """Staging: automated with prune and selfHeal. Production: manual, drift reverted."""
    if app.automated:
        return {"automated": {"prune": True, "selfHeal": True}}
    return {"automated": {"enabled": False, "selfHeal": True}}


def demo_application(
    app: DemoApp, repo_url: str, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, Any]:
    """The Application of ``app``, pointed at the demo repository's overlay for its environment."""
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": APPLICATION,
        "metadata": {"name": app.name, "namespace": namespace, "finalizers": [RESOURCES_FINALIZER]},
        "spec": {
            "project": DEFAULT_PROJECT,
            "source": {
                "repoURL": repo_url,
                "targetRevision": "HEAD",
                "path": f"apps/{app.service}/{app.environment}",
            },
            "destination": {"server": IN_CLUSTER_SERVER, "namespace": app.name},
            "syncPolicy": sync_policy(app),
        },
    }


def first_application(
    app: DemoApp, repo_url: str, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, Any]:
    """The Application as the demo creates it: a production app comes with its first sync
    requested (as ``argocd app create`` then ``argocd app sync``), so there is something to
    revert drift to."""
    obj = demo_application(app, repo_url, namespace)
    if not app.automated:
        obj["operation"] = {"initiatedBy": {"username": FIRST_SYNC_BY}, "sync": {}}
    return obj


async def ensure_demo_applications(
    client: ClusterClient,
    repo_url: str,
    previous_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> None:
    """Create the namespaces and the Applications that do not exist yet.

    An existing Application is left as the user made it (a restart must not undo ``tether app
    set``), except that one still naming ``previous_url`` (the Git server moved) follows it.
    """
    ns_info = await client.resource_for("v1", "Namespace")
    app_info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    for app in DEMO_APPS:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.name}}
        await client.apply(ns_info, ns, force=True)
        try:
            await client.create(app_info, first_application(app, repo_url, namespace), namespace)
        except AlreadyExists:
            if previous_url and previous_url != repo_url:
                existing = await client.get(app_info, app.name, namespace)
                source = (existing.get("spec") or {}).get("source") or {}
                if source.get("repoURL") == previous_url:
                    moved = {"spec": {"source": {"repoURL": repo_url}}}
                    await client.patch(app_info, app.name, moved, namespace)
