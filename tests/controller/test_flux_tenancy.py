"""Flux's multi-tenancy example (shared/corpora/flux2-multi-tenancy) on the real stack: its
``tenants`` Kustomization, applied as the platform admin's ``kustomize-controller`` account,
creates the tenant's namespace, account and GitRepository/Kustomization; the tenant's own
Kustomization then applies the tenant's repository as the tenant's ServiceAccount
(impersonated), so what the tenant may write lands and what it may not is refused by the API
server with nothing applied.

Changed from the corpus: only the tenant repository's Git URL (a loopback one, branch
``dev-team`` as in the example), and ``dependsOn: kyverno-policies`` is left out of the
``tenants`` Kustomization: Kyverno's manifests come from an OCI registry (ghcr.io) this machine
cannot reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.stack import Env
from tether.demo.repo import create_repository, push_branch
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "flux2-multi-tenancy"
UPSTREAM = "https://github.com/fluxcd/flux2-multi-tenancy"


def _corpus_files(tenant_url: str) -> dict[str, str]:
    files = {}
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            text = path.read_text()
            files[str(path.relative_to(CORPUS))] = text.replace(UPSTREAM, tenant_url)
    return files


def _configmap(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"tenant": "dev"}}


async def _ready(env: Env, name: str, namespace: str) -> dict[str, Any]:
    info = await env.client.resource_for("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    from tether.cluster.errors import NotFound

    try:
        obj = await env.client.get(info, name, namespace)
    except NotFound:
        return {}
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {}
    )


async def test_a_tenant_applies_its_repository_as_its_own_account(env: Env) -> None:
    await env.controller.extras.ready()
    # the tenant's repository: branch dev-team, the staging folder the example's patch names
    tenant_bare = env.root / "dev-team.git"
    tenant_work = env.root / "dev-team"
    create_repository(tenant_bare, tenant_work, {"README.md": "dev team\n"})
    tenant_url = env.git.url("dev-team.git")
    push_branch(
        tenant_work,
        "dev-team",
        {"staging/cm.yaml": yaml.safe_dump(_configmap("team-settings", "apps"))},
    )
    url, _ = env.new_repo(_corpus_files(tenant_url))

    tenants = yaml.safe_load((CORPUS / "clusters" / "staging" / "tenants.yaml").read_text())
    tenants["spec"].pop("dependsOn")
    await env.kube("create", "namespace", "flux-system", check=False)
    await env.apply(
        # what Flux's installation gives its kustomize-controller: cluster-admin
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "kustomize-controller", "namespace": "flux-system"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "flux-kustomize-controller"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "kustomize-controller",
                       "namespace": "flux-system"}]},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}}},
        tenants,
    )  # fmt: skip

    async def tenant_applied() -> bool:
        ready = (await _ready(env, "dev-team", "apps")).get("status") == "True"
        info = await env.client.resource_for("v1", "ConfigMap")
        from tether.cluster.errors import NotFound

        try:
            cm = await env.client.get(info, "team-settings", "apps")
        except NotFound:
            return False
        return ready and cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "dev-team"

    try:
        await eventually(tenant_applied, 90, "the tenant's ConfigMap applied by its Kustomization")
    except AssertionError as exc:
        tenants_ready = await _ready(env, "tenants", "flux-system")
        raise AssertionError(
            f"{exc}; tenants: {tenants_ready}; dev-team: {await _ready(env, 'dev-team', 'apps')}"
        ) from None
    assert (await _ready(env, "tenants", "flux-system")).get("status") == "True"

    # the tenant reaches outside its namespace: refused by the API server, nothing applied
    push_branch(
        tenant_work,
        "dev-team",
        {
            "staging/cm.yaml": yaml.safe_dump(_configmap("team-settings-2", "apps")),
            "staging/outside.yaml": yaml.safe_dump(_configmap("escape", "default")),
        },
    )
    await env.kube("annotate", "--overwrite", "gitrepository", "dev-team", "-n", "apps",
                   "reconcile.fluxcd.io/requestedAt=escape")  # fmt: skip

    async def refused() -> bool:
        ready = await _ready(env, "dev-team", "apps")
        return ready.get("status") == "False" and "forbidden" in ready.get("message", "").lower()

    await eventually(refused, 90, "the tenant's write outside its namespace refused")
    message = (await _ready(env, "dev-team", "apps"))["message"]
    assert "system:serviceaccount:apps:dev-team" in message, message
    info = await env.client.resource_for("v1", "ConfigMap")
    names = {o["metadata"]["name"] for o in (await env.client.list(info, "apps")).items}
    assert "team-settings-2" not in names  # nothing of the refused revision applied
