"""Flux's multi-tenancy example (shared/corpora/flux2-multi-tenancy) on the real stack, its
``infrastructure`` and ``tenants`` as ``clusters/staging`` has them: Kyverno's manifests from
an OCI registry, their cosign signature verified keyless (``verify: provider: cosign``), Kyverno
Ready (``wait``), its ClusterPolicies applied after it (``dependsOn``), then the ``tenants``
Kustomization (``dependsOn: kyverno-policies``), applied as the platform admin's
``kustomize-controller`` account, creates the tenant's namespace, account and
GitRepository/Kustomization; the tenant's own Kustomization then applies the tenant's
repository as the tenant's ServiceAccount (impersonated), so what the tenant may write lands
and what it may not is refused by the API server with nothing applied. Then the cluster moves
to ``clusters/production``: the tenant's Kustomization reads its production folder and what
only staging had is pruned.

Changed from the corpus: only URLs. The tenant repository's Git URL is a loopback one (branch
``dev-team`` as in the example) and Kyverno's OCI URL (ghcr.io, unreachable here) is Debian's
docker-registry on loopback, over https with a CA the controller trusts through
argocd-tls-certs-cm. What that registry serves stands in for Kyverno's release artifact (its
CRDs as schemaless ones, its namespace and admission Deployment), signed keyless by a stand-in
Sigstore (tests/sigstore/standin.py) whose trusted root the controller is given, as an
operator of a private Sigstore would (``--sigstore-trusted-root``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.charts.ociregistry import push_flux_artifact
from tests.controller.stack import CONTROL_NS, Env
from tests.corpora import CORPORA
from tests.images.conftest import make_certificate
from tests.sigstore.standin import StandInSigstore, push_signatures
from tether.demo.repo import create_repository, push_branch
from tether.images.testing import (
    RunningRegistry,
    docker_registry,
)
from tether.localcluster.testing import crd_manifest, eventually
from tether.names import TLS_CERTS_CONFIGMAP

pytestmark = pytest.mark.asyncio(loop_scope="session")

CORPUS = CORPORA / "flux2-multi-tenancy"
UPSTREAM = "https://github.com/fluxcd/flux2-multi-tenancy"
KYVERNO = "oci://ghcr.io/kyverno/manifests/kyverno"
KYVERNO_TAG = "v1.14.4"
KYVERNO_SIGNER = (
    "https://github.com/kyverno/kyverno/.github/workflows/release.yaml@refs/tags/v1.14.4"
)


@pytest.fixture(scope="module")
def tls_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningRegistry, Path]]:
    """A docker-registry over https (a CA of its own); the registry and the CA file."""
    root = tmp_path_factory.mktemp("kyverno-registry")
    ca = make_certificate("tenancy test CA")
    ca_file, _ = ca.write(root, "ca")
    certificate, key = make_certificate("127.0.0.1", issuer=ca, server=True).write(root, "server")
    with docker_registry(root, tls=(certificate, key, ca_file)) as registry:
        yield registry, ca_file


@pytest.fixture(scope="module")
def env(verifying_env: Env) -> Env:
    return verifying_env


def _kyverno_manifests() -> dict[str, bytes]:
    """What stands in for Kyverno's release manifests: its two policy CRDs (schemaless), its
    namespace, account and admission controller Deployment."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}}
    ]
    for kind, scope in (("ClusterPolicy", "Cluster"), ("Policy", "Namespaced")):
        docs.append(crd_manifest("kyverno.io", kind, kind.lower() + "ies", scope))
    labels = {"app.kubernetes.io/component": "admission-controller"}
    docs += [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "kyverno-admission-controller", "namespace": "kyverno"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "kyverno-admission-controller", "namespace": "kyverno"},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"serviceAccountName": "kyverno-admission-controller",
                                        "containers": [{"name": "kyverno",
                                                        "image": f"ghcr.io/kyverno/kyverno:{KYVERNO_TAG}"}]}}}},
    ]  # fmt: skip
    return {"./install.yaml": yaml.safe_dump_all(docs).encode()}


def push_kyverno(registry: RunningRegistry, ca_file: Path, sigstore: StandInSigstore) -> str:
    """Kyverno's stand-in artifact at its tag, as ``flux push artifact`` lays it out, and its
    keyless signature; the manifest's digest."""
    repository = "kyverno/manifests/kyverno"
    with httpx.Client(timeout=10, verify=ssl.create_default_context(cafile=ca_file)) as http:
        digest = push_flux_artifact(http, registry, repository, KYVERNO_TAG, _kyverno_manifests())
        signed = sigstore.sign_keyless(digest, f"ghcr.io/{repository}", subject=KYVERNO_SIGNER)
        push_signatures(http, registry, repository, digest, signed)
    return digest


def _corpus_files(tenant_url: str, kyverno_url: str) -> dict[str, str]:
    files = {}
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            text = path.read_text().replace(UPSTREAM, tenant_url).replace(KYVERNO, kyverno_url)
            files[str(path.relative_to(CORPUS))] = text
    return files


def _configmap(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"tenant": "dev"}}


def _condition(obj: dict[str, Any] | None, type_: str = "Ready") -> dict[str, Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


async def _ready(env: Env, name: str, namespace: str) -> dict[str, Any]:
    return _condition(
        await env.live("Kustomization", name, namespace, "kustomize.toolkit.fluxcd.io/v1")
    )


async def _statuses(env: Env, *names: tuple[str, str]) -> str:
    return "; ".join([f"{ns}/{name}: {await _ready(env, name, ns)}" for name, ns in names])


async def test_infrastructure_then_a_tenant_applying_its_repository_as_its_own_account(
    env: Env, tls_registry: tuple[RunningRegistry, Path], sigstore: StandInSigstore
) -> None:
    registry, ca_file = tls_registry
    kyverno_digest = push_kyverno(registry, ca_file, sigstore)
    await env.apply({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": TLS_CERTS_CONFIGMAP, "namespace": CONTROL_NS},
                     "data": {"127.0.0.1": ca_file.read_text()}})  # fmt: skip
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
    kyverno_url = f"oci://{registry.host}/kyverno/manifests/kyverno"
    files = _corpus_files(tenant_url, kyverno_url)
    url, _ = env.new_repo(files)

    staging = [*yaml.safe_load_all(files["clusters/staging/infrastructure.yaml"]),
               *yaml.safe_load_all(files["clusters/staging/tenants.yaml"])]  # fmt: skip
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
        *staging,
    )  # fmt: skip

    async def tenant_applied() -> bool:
        ready = (await _ready(env, "dev-team", "apps")).get("status") == "True"
        cm = await env.live("ConfigMap", "team-settings", "apps", "v1")
        if cm is None:
            return False
        return ready and cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "dev-team"

    try:
        await eventually(tenant_applied, 180, "the tenant's ConfigMap applied by its Kustomization")
    except AssertionError as exc:
        infrastructure = [
            (n, "flux-system")
            for n in ("kyverno", "kyverno-controller", "kyverno-policies", "tenants")
        ]
        source = await env.live(
            "OCIRepository", "kyverno-controller", "flux-system", "source.toolkit.fluxcd.io/v1"
        )
        raise AssertionError(
            f"{exc}; {await _statuses(env, *infrastructure, ('dev-team', 'apps'))}; kyverno source: {_condition(source)}"
        ) from None
    # the infrastructure came first, in dependsOn order, from the verified artifact
    source = await env.live(
        "OCIRepository", "kyverno-controller", "flux-system", "source.toolkit.fluxcd.io/v1"
    )
    verified = _condition(source, "SourceVerified")
    assert verified["status"] == "True", verified
    assert verified["message"] == (f"verified signature of revision {KYVERNO_TAG}@{kyverno_digest} "
                                   f"(subject {KYVERNO_SIGNER} from issuer "
                                   "https://token.actions.githubusercontent.com)")  # fmt: skip
    since = {}
    for name in ("kyverno-controller", "kyverno", "kyverno-policies", "tenants"):
        ready = await _ready(env, name, "flux-system")
        assert ready.get("status") == "True", (name, ready)
        since[name] = ready["lastTransitionTime"]
    assert since["kyverno"] <= since["kyverno-policies"] <= since["tenants"], since
    deployment = await env.live("Deployment", "kyverno-admission-controller", "kyverno", "apps/v1")
    assert deployment is not None
    for policy in ("verify-flux-images", "verify-git-repositories"):
        assert await env.live("ClusterPolicy", policy, None, "kyverno.io/v1") is not None, policy

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

    # the cluster moves to clusters/production: the tenant's Kustomization now reads the
    # production folder of its branch; what only staging had is pruned
    push_branch(tenant_work, "dev-team",
                {"production/cm.yaml": yaml.safe_dump(_configmap("team-settings-prod", "apps"))})  # fmt: skip
    production = [*yaml.safe_load_all(files["clusters/production/infrastructure.yaml"]),
                  *yaml.safe_load_all(files["clusters/production/tenants.yaml"])]  # fmt: skip
    await env.apply(*production)
    for name, ns in (("flux-system", "flux-system"), ("dev-team", "apps")):
        await env.kube("annotate", "--overwrite", "gitrepository", name, "-n", ns,
                       "reconcile.fluxcd.io/requestedAt=production")  # fmt: skip

    async def promoted() -> set[str] | None:
        ready = await _ready(env, "dev-team", "apps")
        found = {o["metadata"]["name"] for o in (await env.client.list(info, "apps")).items}
        return found if ready.get("status") == "True" and "team-settings-prod" in found else None

    try:
        names = await eventually(promoted, 120, "the tenant's production folder applied")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; {await _statuses(env, ('tenants', 'flux-system'), ('dev-team', 'apps'))}"
        ) from None
    assert "team-settings" not in names  # staging's, pruned from the inventory
    tenant_ks = await env.live(
        "Kustomization", "dev-team", "apps", "kustomize.toolkit.fluxcd.io/v1"
    )
    assert tenant_ks is not None and tenant_ks["spec"]["path"] == "./production"
