"""An OCIRepository's ``verify`` on the real stack: artifacts and cosign signatures pushed to
Debian's docker-registry on loopback, the controller given a stand-in Sigstore's trusted root
(tests/sigstore/standin.py). A signed artifact feeds a Kustomization; an unsigned one pushed
over the same tag is refused with Flux's condition and the last verified artifact stays
applied; public keys from a Secret; a signature of an identity matchOIDCIdentity does not
list is refused. A HelmRelease's ``chart.spec.verify``: the podinfo chart pushed by the
pinned ``helm push``, signed, installed; an unsigned version refused, the generated HelmChart
saying why."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.charts.ociregistry import push_flux_artifact
from tests.charts.servers import run_helm
from tests.controller.stack import Env
from tests.corpora import CORPORA
from tests.sigstore.standin import StandInSigstore, public_pem, push_signatures, sign_with_key
from tether.images.testing import OCI_MANIFEST, RunningRegistry, docker_registry
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOURCE_API = "source.toolkit.fluxcd.io/v1"
SUBJECT = "https://github.com/tether-test/manifests/.github/workflows/release.yml@refs/tags/v1"


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of its own: the HelmReleases here are not other modules' business."""
    with LocalCluster(
        port=0, kubeconfig=tmp_path_factory.mktemp("verify") / "kubeconfig"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def env(verifying_env: Env) -> Env:
    return verifying_env


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with docker_registry(tmp_path_factory.mktemp("verify-oci")) as running:
        yield running


def push_manifests(registry: RunningRegistry, repository: str, tag: str, answer: str) -> str:
    """A ConfigMap ``signed`` with ``data.answer``, as ``flux push artifact`` lays it out."""
    files = {"./cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: signed\n"
                           f"data:\n  answer: '{answer}'\n").encode()}  # fmt: skip
    with httpx.Client(timeout=10) as http:
        return push_flux_artifact(http, registry, repository, tag, files)


async def conditions(env: Env, name: str, ns: str) -> dict[str, dict[str, Any]]:
    obj = await env.live("OCIRepository", name, ns, SOURCE_API)
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or ()}


async def namespace(env: Env) -> str:
    name = f"verify-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    return name


def oci_repository(name: str, ns: str, url: str, verify: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": name, "namespace": ns},
            "spec": {"url": url, "insecure": True, "interval": "10m", "ref": {"tag": "v1"},
                     "verify": verify}}  # fmt: skip


async def request_reconcile(env: Env, name: str, ns: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).isoformat()
    await env.kube("annotate", "--overwrite", "-n", ns, f"ocirepository/{name}",
                   f"reconcile.fluxcd.io/requestedAt={stamp}")  # fmt: skip


async def test_a_signed_artifact_is_applied_and_an_unsigned_one_over_its_tag_is_refused(
    env: Env, registry: RunningRegistry, sigstore: StandInSigstore
) -> None:
    ns = await namespace(env)
    repository = f"manifests/{ns}"
    first = push_manifests(registry, repository, "v1", "signed")
    with httpx.Client(timeout=10) as http:
        push_signatures(http, registry, repository, first,
                        sigstore.sign_keyless(first, f"{registry.host}/{repository}"))  # fmt: skip
    verify = {"provider": "cosign", "matchOIDCIdentity": [
        {"issuer": "^https://token.actions.githubusercontent.com$",
         "subject": "^https://github.com/tether-test/manifests/"}]}  # fmt: skip
    await env.apply(
        oci_repository("app", ns, f"oci://{registry.host}/{repository}", verify),
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "app", "namespace": ns},
         "spec": {"interval": "10m", "prune": True, "path": "./", "targetNamespace": ns,
                  "sourceRef": {"kind": "OCIRepository", "name": "app"}}},
    )  # fmt: skip

    async def applied() -> dict[str, Any] | None:
        return await env.live("ConfigMap", "signed", ns, "v1")

    assert (await eventually(applied, 90, "the signed artifact applied"))["data"] == {
        "answer": "signed"
    }
    verified = (await conditions(env, "app", ns))["SourceVerified"]
    assert verified["status"] == "True" and verified["reason"] == "Succeeded"
    assert verified["message"] == (
        f"verified signature of revision v1@{first} (subject {SUBJECT} from issuer "
        "https://token.actions.githubusercontent.com)"
    )

    # someone who can push to the registry moves the tag to content nobody signed
    hijacked = push_manifests(registry, repository, "v1", "injected")
    await request_reconcile(env, "app", ns)

    async def refused() -> dict[str, dict[str, Any]] | None:
        found = await conditions(env, "app", ns)
        return found if found.get("Ready", {}).get("status") == "False" else None

    found = await eventually(refused, 60, "the unsigned artifact refused")
    assert found["Ready"]["reason"] == "VerificationError"
    assert found["SourceVerified"]["status"] == "False"
    assert found["Ready"]["message"] == (
        "failed to verify the signature using provider 'cosign keyless': no matching "
        f"signatures were found for '{registry.host}/{repository}@{hijacked}'"
    )
    source = await env.live("OCIRepository", "app", ns, SOURCE_API)
    assert source is not None and source["status"]["artifact"]["revision"] == f"v1@{first}"
    await env.controller.extras.ready()
    configmap = await env.live("ConfigMap", "signed", ns, "v1")
    assert configmap is not None and configmap["data"] == {"answer": "signed"}


async def test_public_keys_of_a_secret_and_identities_not_listed(
    env: Env, registry: RunningRegistry, sigstore: StandInSigstore
) -> None:
    ns = await namespace(env)
    key, stranger = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    by_key, by_identity = f"keyed/{ns}", f"keyless/{ns}"
    keyed = push_manifests(registry, by_key, "v1", "keyed")
    other = push_manifests(registry, by_identity, "v1", "keyless")
    with httpx.Client(timeout=10) as http:
        push_signatures(http, registry, by_key, keyed, sign_with_key(stranger, keyed, by_key))
        push_signatures(http, registry, by_identity, other, sigstore.sign_keyless(
            other, by_identity, subject="https://github.com/someone-else/repo/.github/workflows/x.yml@refs/heads/main"))  # fmt: skip
    await env.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cosign-pub", "namespace": ns},
         "stringData": {"cosign.pub": public_pem(key).decode()}},
        oci_repository("keyed", ns, f"oci://{registry.host}/{by_key}",
                       {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}),
        oci_repository("keyless", ns, f"oci://{registry.host}/{by_identity}",
                       {"provider": "cosign", "matchOIDCIdentity": [
                           {"issuer": ".*", "subject": "^https://github.com/tether-test/"}]}),
    )  # fmt: skip

    async def both_refused() -> tuple[dict[str, Any], dict[str, Any]] | None:
        a, b = (await conditions(env, "keyed", ns)), (await conditions(env, "keyless", ns))
        if (
            a.get("Ready", {}).get("reason")
            == b.get("Ready", {}).get("reason")
            == "VerificationError"
        ):
            return a["Ready"], b["Ready"]
        return None

    keyed_ready, keyless_ready = await eventually(both_refused, 60, "both refused")
    assert keyed_ready["message"].startswith(
        "failed to verify the signature using provider 'cosign': "
    )
    assert (
        "(1 signature(s): signature verifies with none of the public keys)"
        in keyed_ready["message"]
    )
    assert "someone-else/repo" in keyless_ready["message"]
    assert "matches no matchOIDCIdentity entry" in keyless_ready["message"]

    # signed again, with the key the Secret holds: taken at the next reconcile
    with httpx.Client(timeout=10) as http:
        push_signatures(http, registry, by_key, keyed, sign_with_key(key, keyed, by_key))
    await request_reconcile(env, "keyed", ns)

    async def keyed_ok() -> dict[str, Any] | None:
        found = await conditions(env, "keyed", ns)
        return found if found.get("Ready", {}).get("status") == "True" else None

    found = await eventually(keyed_ok, 60, "the key-signed artifact taken")
    # the key Secret itself missing is a verification error too, naming the Secret
    await env.apply(oci_repository("no-keys", ns, f"oci://{registry.host}/{by_key}",
                                   {"provider": "cosign", "secretRef": {"name": "missing"}}))  # fmt: skip

    async def no_keys() -> dict[str, Any] | None:
        ready = (await conditions(env, "no-keys", ns)).get("Ready", {})
        return ready if ready.get("status") == "False" else None

    ready = await eventually(no_keys, 60, "the OCIRepository without its key Secret refused")
    assert ready["reason"] == "VerificationError"
    assert ready["message"] == ("failed to verify the signature using provider 'cosign': "
                                f"failed to get secret '{ns}/missing': not found")  # fmt: skip
    assert (
        found["SourceVerified"]["message"]
        == f"verified signature of revision v1@{keyed} (key cosign.pub)"
    )


PODINFO = CORPORA / "podinfo" / "charts" / "podinfo"
HELM_API = "helm.toolkit.fluxcd.io/v2"


def push_chart(registry: RunningRegistry, home: Path, version: str) -> str:
    """podinfo packaged as ``version`` and pushed with the pinned helm; the manifest's digest."""
    run_helm("package", str(PODINFO), "--version", version, "-d", str(home), home=home)
    run_helm("push", str(home / f"podinfo-{version}.tgz"), f"oci://{registry.host}/charts",
             "--plain-http", home=home)  # fmt: skip
    with httpx.Client(timeout=10) as http:
        answer = http.head(registry.url(f"/v2/charts/podinfo/manifests/{version}"),
                           headers={"Accept": OCI_MANIFEST})  # fmt: skip
    return answer.headers["docker-content-digest"]


def helm_release(name: str, ns: str, version: str) -> dict[str, Any]:
    verify = {"provider": "cosign", "matchOIDCIdentity": [
        {"issuer": "^https://token.actions.githubusercontent.com$", "subject": "^https://github.com/tether-test/"}]}  # fmt: skip
    return {"apiVersion": HELM_API, "kind": "HelmRelease", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "10m", "chart": {"spec": {
                "chart": "podinfo", "version": version, "verify": verify,
                "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}  # fmt: skip


async def test_a_helm_release_installs_a_signed_chart_only(
    env: Env, registry: RunningRegistry, sigstore: StandInSigstore, tmp_path: Path
) -> None:
    ns = await namespace(env)
    signed = push_chart(registry, tmp_path, "6.14.1")
    push_chart(registry, tmp_path, "6.15.0")  # never signed
    with httpx.Client(timeout=10) as http:
        push_signatures(http, registry, "charts/podinfo", signed,
                        sigstore.sign_keyless(signed, f"{registry.host}/charts/podinfo"))  # fmt: skip
    await env.apply(
        {"apiVersion": SOURCE_API, "kind": "HelmRepository", "metadata": {"name": "charts", "namespace": ns},
         "spec": {"type": "oci", "url": f"oci://{registry.host}/charts", "insecure": True, "interval": "10m"}},
        helm_release("signed", ns, "6.14.1"),
        helm_release("unsigned", ns, "6.15.0"),
    )  # fmt: skip

    async def ready(name: str) -> dict[str, Any]:
        obj = await env.live("HelmRelease", name, ns, HELM_API)
        found = ((obj or {}).get("status") or {}).get("conditions") or []
        return next((c for c in found if c["type"] == "Ready"), {})

    async def settled() -> tuple[dict[str, Any], dict[str, Any]] | None:
        good, bad = await ready("signed"), await ready("unsigned")
        return (
            (good, bad) if good.get("status") == "True" and bad.get("status") == "False" else None
        )

    good, bad = await eventually(settled, 120, "the signed chart installed, the unsigned refused")
    assert good["reason"] == "InstallSucceeded", good
    assert (
        "failed to verify the signature using provider 'cosign keyless': no matching signatures "
        f"were found for '{registry.host}/charts/podinfo@sha256:" in bad["message"]
    ), bad
    chart = await env.live("HelmChart", f"{ns}-signed", ns, SOURCE_API)
    verified = {c["type"]: c for c in (chart or {}).get("status", {}).get("conditions", [])}
    assert verified["SourceVerified"]["message"] == (
        f"verified signature of version 6.14.1 (subject {SUBJECT} from issuer "
        "https://token.actions.githubusercontent.com)"
    )
    assert chart is not None and chart["spec"]["verify"]["provider"] == "cosign"
    refused = await env.live("HelmChart", f"{ns}-unsigned", ns, SOURCE_API)
    reasons = {
        c["type"]: c["reason"] for c in (refused or {}).get("status", {}).get("conditions", [])
    }
    assert reasons == {"Ready": "VerificationError", "SourceVerified": "VerificationError"}
    assert await env.live("Deployment", "unsigned-podinfo", ns, "apps/v1") is None
    assert await env.live("Deployment", "signed-podinfo", ns, "apps/v1") is not None
