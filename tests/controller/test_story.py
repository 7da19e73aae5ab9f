"""The GitOps story every user expects, end to end: local cluster, real git server, real pushes.

The Application manifest is the one from the issue, with only ``repoURL`` pointed at the test's
git server. The controller runs in this event loop; kubectl runs in a thread so it never blocks it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.controller.stack import APPLICATION, CONTROL_NS, Env, status_of, synced_healthy
from tests.corpora import CORPORA
from tether.cluster.client import ClusterClient
from tether.demo.repo import commit_and_push, create_repository, git
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest, eventually
from tether.source.webhooks import WebhookSecrets, parse_webhook

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "s3cret-webhook"


def production_image(work: Path, tag: str) -> dict[str, str]:
    path = "apps/payment-service/production/kustomization.yaml"
    doc = yaml.safe_load((work / path).read_text())
    doc["images"][0]["newTag"] = tag
    return {path: yaml.safe_dump(doc, sort_keys=False)}


async def deployment_image(env: Env, namespace: str) -> str | None:
    deploy = await env.live("Deployment", "payment-service", namespace, "apps/v1")
    if deploy is None:
        return None
    return str(deploy["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.asyncio(loop_scope="session")
async def test_the_issue_manifest_becomes_synced_and_healthy(env: Env) -> None:
    url, work = env.new_repo()
    head = git(["rev-parse", "HEAD"], work)
    await env.kube("create", "namespace", "payment-service", check=False)
    await env.application("payment-service", url, "payment-service")
    await eventually(
        lambda: synced_healthy(env, "payment-service", head), what="Synced and Healthy"
    )
    app = await env.app("payment-service")
    status = app["status"]
    kinds = sorted((r["kind"], r["name"]) for r in status["resources"])
    assert kinds == [
        ("ConfigMap", "payment-service-config"),
        ("Deployment", "payment-service"),
        ("Service", "payment-service"),
    ]
    assert status["sourceType"] == "Kustomize"
    assert status["summary"]["images"] == ["ghcr.io/example/payment-service:1.4.0"]
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["history"][0]["revision"] == head
    deploy = await env.live("Deployment", "payment-service", "payment-service", "apps/v1")
    assert deploy is not None and deploy["spec"]["replicas"] == 2
    assert (
        deploy["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
        == "payment-service:apps/Deployment:payment-service/payment-service"
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_commit_reaches_the_cluster_through_a_webhook_and_through_polling(env: Env) -> None:
    url, work = env.new_repo()
    ns = f"pay-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("hook-app", url, ns)
    await eventually(lambda: synced_healthy(env, "hook-app"), what="first sync")
    # a webhook: verified, parsed, then only that repository is polled
    env.controller.config.reconcile_interval = 3600  # polling off for the webhook half
    sha = commit_and_push(work, "bump to 1.5.0", production_image(work, "1.5.0"))
    started = time.monotonic()
    payload = orjson.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": sha,
            "repository": {"clone_url": url, "html_url": url},
            "commits": [{"modified": ["apps/payment-service/production/kustomization.yaml"]}],
        }
    )
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    event = parse_webhook(
        {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
        payload,
        WebhookSecrets(github=WEBHOOK_SECRET),
    )
    touched = await env.controller.on_webhook(event.repo_urls)
    assert touched == ["hook-app"]
    await eventually(
        lambda: _image_is(env, ns, "ghcr.io/example/payment-service:1.5.0"),
        timeout=10,
        what="image 1.5.0",
    )
    # how fast is for bench/controller.py to measure (p50/p95); the test proves the path works
    print(f"webhook push to cluster: {time.monotonic() - started:.2f}s")
    # polling alone, with a short interval
    env.controller.config.reconcile_interval = 1.0
    commit_and_push(work, "bump to 1.6.0", production_image(work, "1.6.0"))
    await eventually(
        lambda: _image_is(env, ns, "ghcr.io/example/payment-service:1.6.0"),
        timeout=10,
        what="image 1.6.0 via polling",
    )


async def _image_is(env: Env, ns: str, image: str) -> bool:
    return await deployment_image(env, ns) == image


@pytest.mark.asyncio(loop_scope="session")
async def test_self_heal_reverts_a_scale_and_without_self_heal_drift_is_reported(env: Env) -> None:
    url, _work = env.new_repo()
    ns = f"heal-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("heal-app", url, ns)
    await eventually(lambda: synced_healthy(env, "heal-app"), what="first sync")
    await env.kube("scale", "deployment/payment-service", "--replicas=5", "-n", ns)
    started = time.monotonic()

    async def reverted() -> bool:
        deploy = await env.live("Deployment", "payment-service", ns, "apps/v1")
        return deploy is not None and deploy["spec"]["replicas"] == 2

    await eventually(reverted, what="replicas reverted to 2")
    print(f"selfHeal revert: {time.monotonic() - started:.2f}s")
    # selfHeal off: the drift is reported with its diff and left alone
    await env.application("heal-app", url, ns, **{"spec.syncPolicy.automated.selfHeal": False})
    await eventually(lambda: synced_healthy(env, "heal-app"), what="synced again")
    await env.kube("scale", "deployment/payment-service", "--replicas=4", "-n", ns)

    async def out_of_sync() -> bool:
        app = await env.app("heal-app")
        return status_of(app)[0] == "OutOfSync"

    await eventually(out_of_sync, what="OutOfSync")
    runtime = env.controller.apps["heal-app"]
    assert runtime.last_compare is not None
    drifted = [r for r in runtime.last_compare.resources if r.status == "OutOfSync"]
    assert [r.key.kind for r in drifted] == ["Deployment"]
    assert "-  replicas: 4" in drifted[0].diff and "+  replicas: 2" in drifted[0].diff
    await asyncio.sleep(1.0)
    deploy = await env.live("Deployment", "payment-service", ns, "apps/v1")
    assert deploy is not None and deploy["spec"]["replicas"] == 4  # nothing reverted


@pytest.mark.asyncio(loop_scope="session")
async def test_a_deleted_service_comes_back(env: Env) -> None:
    url, _work = env.new_repo()
    ns = f"svc-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("svc-app", url, ns)
    await eventually(lambda: synced_healthy(env, "svc-app"), what="first sync")
    await env.kube("delete", "service", "payment-service", "-n", ns)
    await eventually(lambda: env.live("Service", "payment-service", ns), what="Service recreated")


@pytest.mark.asyncio(loop_scope="session")
async def test_a_file_removed_from_git_is_pruned_or_reported_as_extraneous(env: Env) -> None:
    for prune in (True, False):
        url, work = env.new_repo()
        ns = f"prune-{str(prune).lower()}-{uuid.uuid4().hex[:6]}"
        app = f"prune-{str(prune).lower()}"
        await env.kube("create", "namespace", ns)
        await env.application(app, url, ns, **{"spec.syncPolicy.automated.prune": prune})
        await eventually(lambda app=app: synced_healthy(env, app), what="first sync")
        kustomization = "apps/payment-service/base/kustomization.yaml"
        doc = yaml.safe_load((work / kustomization).read_text())
        doc["resources"].remove("configmap.yaml")
        deployment = yaml.safe_load(
            (work / "apps/payment-service/base/deployment.yaml").read_text()
        )
        deployment["spec"]["template"]["spec"]["containers"][0].pop("envFrom")
        overlay_path = "apps/payment-service/production/kustomization.yaml"
        overlay = yaml.safe_load((work / overlay_path).read_text())
        overlay.pop("patches")  # they patched the ConfigMap that leaves
        commit_and_push(
            work,
            "drop the config map",
            {
                kustomization: yaml.safe_dump(doc, sort_keys=False),
                "apps/payment-service/base/configmap.yaml": None,
                "apps/payment-service/base/deployment.yaml": yaml.safe_dump(
                    deployment, sort_keys=False
                ),
                overlay_path: yaml.safe_dump(overlay, sort_keys=False),
            },
        )
        if prune:
            await eventually(
                lambda ns=ns: _gone(env, "ConfigMap", "payment-service-config", ns),
                what="ConfigMap pruned",
            )
            await eventually(lambda app=app: synced_healthy(env, app), what="synced after prune")
        else:

            async def extraneous(app: str = app) -> bool:
                status = (await env.app(app)).get("status") or {}
                return (
                    any(r.get("requiresPruning") for r in status.get("resources") or [])
                    and status.get("sync", {}).get("status") == "OutOfSync"
                )

            await eventually(extraneous, what="reported as requiring pruning")
            assert await env.live("ConfigMap", "payment-service-config", ns) is not None


async def _gone(env: Env, kind: str, name: str, ns: str) -> bool:
    return await env.live(kind, name, ns) is None


@pytest.mark.asyncio(loop_scope="session")
async def test_revert_restores_history_records_and_rollback_works_when_automation_is_off(
    env: Env,
) -> None:
    url, work = env.new_repo()
    ns = f"hist-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("hist-app", url, ns)
    first = git(["rev-parse", "HEAD"], work)
    await eventually(lambda: synced_healthy(env, "hist-app", first), what="first sync")
    second = commit_and_push(work, "bump to 2.0.0", production_image(work, "2.0.0"))
    await eventually(
        lambda: _image_is(env, ns, "ghcr.io/example/payment-service:2.0.0"), what="2.0.0 deployed"
    )
    git(["revert", "--no-edit", "HEAD"], work)
    git(["push", "-q", "origin", "HEAD:main"], work)
    reverted = git(["rev-parse", "HEAD"], work)
    await eventually(lambda: synced_healthy(env, "hist-app", reverted), what="revert synced")
    assert await deployment_image(env, ns) == "ghcr.io/example/payment-service:1.4.0"
    history = (await env.app("hist-app"))["status"]["history"]
    assert [h["revision"] for h in history] == [first, second, reverted]
    assert [h["id"] for h in history] == [0, 1, 2]
    # rollback to the 2.0.0 entry: refused while automated, allowed once it is off
    await env.application("hist-app", url, ns, **{"spec.syncPolicy": None})
    rollback = {"operation": {"sync": {"revision": second}, "initiatedBy": {"username": "admin"}}}
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    await env.client.patch(info, "hist-app", rollback, CONTROL_NS)
    await eventually(
        lambda: _image_is(env, ns, "ghcr.io/example/payment-service:2.0.0"),
        what="rolled back to 2.0.0",
    )

    async def recorded() -> bool:
        status = (await env.app("hist-app"))["status"]
        return (
            status["history"][-1]["revision"] == second
            and status["operationState"]["phase"] == "Succeeded"
        )

    await eventually(recorded, what="rollback in history")

    async def out_of_sync() -> bool:
        # Git says 1.4.0, the cluster runs the rolled-back 2.0.0
        return status_of(await env.app("hist-app"))[0] == "OutOfSync"

    await eventually(out_of_sync, what="OutOfSync after rollback")


@pytest.mark.asyncio(loop_scope="session")
async def test_invalid_yaml_is_a_comparison_error_and_nothing_is_applied(env: Env) -> None:
    url, work = env.new_repo()
    ns = f"bad-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("bad-app", url, ns)
    await eventually(lambda: synced_healthy(env, "bad-app"), what="first sync")
    before = await env.live("ConfigMap", "payment-service-config", ns)
    commit_and_push(
        work,
        "broken yaml",
        {
            "apps/payment-service/base/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: payment-service-config\ndata: [\n"
        },
    )

    async def comparison_error() -> str | None:
        status = (await env.app("bad-app")).get("status") or {}
        for cond in status.get("conditions") or []:
            if cond["type"] == "ComparisonError":
                return str(cond["message"])
        return None

    message = await eventually(comparison_error, what="ComparisonError")
    assert "configmap.yaml" in message
    after = await env.live("ConfigMap", "payment-service-config", ns)
    assert after is not None and before is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    good = commit_and_push(
        work,
        "fix yaml",
        {
            "apps/payment-service/base/configmap.yaml": yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "payment-service-config"},
                    "data": {"LOG_LEVEL": "error"},
                }
            )
        },
    )
    await eventually(lambda: synced_healthy(env, "bad-app", good), what="next good commit synced")
    assert await comparison_error() is None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_destination_the_project_forbids_is_an_invalid_spec_and_nothing_is_applied(
    env: Env,
) -> None:
    url, _work = env.new_repo()
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "restricted", "namespace": CONTROL_NS},
        "spec": {
            "sourceRepos": ["https://git.example.com/*"],
            "destinations": [
                {"server": "https://kubernetes.default.svc", "namespace": "allowed-*"}
            ],
        },
    }
    await env.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump(project))
    ns = f"denied-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("denied-app", url, ns, **{"spec.project": "restricted"})

    async def invalid_spec() -> str | None:
        status = (await env.app("denied-app")).get("status") or {}
        for cond in status.get("conditions") or []:
            if cond["type"] == "InvalidSpecError":
                return str(cond["message"])
        return None

    message = await eventually(invalid_spec, what="InvalidSpecError")
    assert "not permitted in project 'restricted'" in message
    assert await env.live("Deployment", "payment-service", ns, "apps/v1") is None


@pytest.mark.asyncio(loop_scope="session")
async def test_deleting_an_application_with_the_finalizer_removes_its_resources(env: Env) -> None:
    for finalizer in (True, False):
        url, _work = env.new_repo()
        ns = f"del-{str(finalizer).lower()}-{uuid.uuid4().hex[:6]}"
        name = f"del-{str(finalizer).lower()}"
        await env.kube("create", "namespace", ns)
        await env.application(
            name,
            url,
            ns,
            **(
                {"metadata.finalizers": ["resources-finalizer.argocd.argoproj.io"]}
                if finalizer
                else {}
            ),
        )
        await eventually(lambda name=name: synced_healthy(env, name), what="first sync")
        await env.kube(
            "delete", "application", name, "-n", CONTROL_NS, "--wait=true", "--timeout=30s"
        )
        if finalizer:
            await eventually(lambda ns=ns: _all_gone(env, ns), what="resources deleted")
        else:
            await asyncio.sleep(0.5)
            assert await env.live("Deployment", "payment-service", ns, "apps/v1") is not None


async def _all_gone(env: Env, ns: str) -> bool:
    return all(
        [
            await env.live("Deployment", "payment-service", ns, "apps/v1") is None,
            await env.live("Service", "payment-service", ns) is None,
            await env.live("ConfigMap", "payment-service-config", ns) is None,
        ]
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_second_cluster_registered_by_secret_receives_its_app(env: Env) -> None:
    import base64

    url, _work = env.new_repo()
    with LocalCluster() as second:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "cluster-second",
                "namespace": CONTROL_NS,
                "labels": {"argocd.argoproj.io/secret-type": "cluster"},
            },
            "type": "Opaque",
            "stringData": {
                "name": "second",
                "server": second.url,
                "config": orjson.dumps(
                    {
                        "bearerToken": second.admin_token,
                        "tlsClientConfig": {
                            "caData": base64.b64encode(second.creds.ca_pem).decode()
                        },
                    }
                ).decode(),
            },
        }
        await env.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump(secret))
        await env.application(
            "remote-app",
            url,
            "remote",
            **{
                "spec.destination.server": None,
                "spec.destination.name": "second",
                "spec.syncPolicy.syncOptions": ["CreateNamespace=true"],
            },
        )
        await eventually(
            lambda: synced_healthy(env, "remote-app"),
            timeout=30,
            what="remote app Synced and Healthy",
        )
        async with ClusterClient.from_kubeconfig(str(second.kubeconfig)) as remote:
            info = await remote.resource_for("apps/v1", "Deployment")
            deploy = await remote.get(info, "payment-service", "remote")
            assert deploy["spec"]["replicas"] == 2
        assert await env.live("Deployment", "payment-service", "remote", "apps/v1") is None
        await env.kube("delete", "application", "remote-app", "-n", CONTROL_NS)


@pytest.mark.asyncio(loop_scope="session")
async def test_sync_events_are_recorded_and_the_refresh_annotation_is_honoured(env: Env) -> None:
    url, work = env.new_repo()
    ns = f"evt-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    env.controller.config.reconcile_interval = 3600  # no polling: only the annotation can notice
    try:
        await env.application("evt-app", url, ns)
        await eventually(lambda: synced_healthy(env, "evt-app"), what="first sync")
        events_info = await env.client.resource_for("v1", "Event")

        async def reasons() -> list[tuple[str, str]]:
            items = (
                await env.client.list(
                    events_info, CONTROL_NS, field_selector="involvedObject.name=evt-app"
                )
            ).items
            return [(e["reason"], e["message"]) for e in items]

        found = await eventually(lambda: _has_completed(reasons), what="OperationCompleted event")
        assert any(r == "OperationStarted" and "Initiated automated sync" in m for r, m in found)
        new_sha = commit_and_push(work, "bump", production_image(work, "7.7.7"))
        await env.kube(
            "annotate",
            "application",
            "evt-app",
            "-n",
            CONTROL_NS,
            "argocd.argoproj.io/refresh=hard",
        )
        await eventually(
            lambda: _image_is(env, ns, "ghcr.io/example/payment-service:7.7.7"),
            what="hard refresh picked the commit",
        )
        app = await env.app("evt-app")
        assert "argocd.argoproj.io/refresh" not in (app["metadata"].get("annotations") or {})
        await eventually(
            lambda: synced_healthy(env, "evt-app", new_sha), what="synced at the new commit"
        )
    finally:
        env.controller.config.reconcile_interval = 1.0


async def _has_completed(reasons: Callable[[], Any]) -> list[tuple[str, str]] | None:
    found = await reasons()
    return found if any(r == "OperationCompleted" for r, _ in found) else None


SOPS_CORPUS = CORPORA / "kustomize-controller-sops" / "sops"


@pytest.mark.asyncio(loop_scope="session")
async def test_sops_encrypted_secret_is_decrypted_at_render_time_and_masked(env: Env) -> None:
    name = f"sops-{uuid.uuid4().hex[:8]}"
    work = env.root / name
    create_repository(
        env.root / f"{name}.git",
        work,
        {"secrets/age.yaml": (SOPS_CORPUS / "algorithms" / "age.yaml").read_text()},
    )
    url = env.git.url(f"{name}.git")
    key_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{name}-age",
            "namespace": CONTROL_NS,
            # the key may be used by Applications of these projects only
            "annotations": {"tether.io/projects": "default"},
        },
        "stringData": {"age.agekey": (SOPS_CORPUS / "keys" / "age.txt").read_text()},
    }
    await env.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump(key_secret))
    ns = f"sops-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application(
        name,
        url,
        ns,
        **{
            "spec.source.path": "secrets",
            "metadata.annotations": {"tether.io/sops-secret": f"{name}-age"},
        },
    )
    await eventually(lambda: synced_healthy(env, name), what="SOPS app synced")
    secret = await env.live("Secret", "age", ns)
    assert secret is not None
    import base64

    assert base64.b64decode(secret["data"]["key"]).decode() == "value"  # the corpus's plaintext
    runtime = env.controller.apps[name]
    assert runtime.last_compare is not None
    assert "value" not in repr([r.desired for r in runtime.last_compare.resources])


@pytest.mark.asyncio(loop_scope="session")
async def test_an_app_with_a_crd_and_its_custom_resources_syncs_in_one_go(env: Env) -> None:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    group = f"{name}.tether.test"
    crd = crd_manifest(group, "Widget", "widgets")
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    work = env.root / name
    create_repository(
        env.root / f"{name}.git",
        work,
        {
            "manifests/crd.yaml": yaml.safe_dump(crd),
            "manifests/widget.yaml": yaml.safe_dump(widget),
        },
    )
    ns = f"crd-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application(name, env.git.url(f"{name}.git"), ns, **{"spec.source.path": "manifests"})
    await eventually(lambda: synced_healthy(env, name), what="CRD and CR synced")
    assert await env.live("Widget", "w1", ns, f"{group}/v1") is not None
    history = (await env.app(name))["status"]["history"]
    assert len(history) == 1  # synced once, not again and again


PODINFO_CHART = CORPORA / "podinfo" / "charts" / "podinfo"


@pytest.mark.asyncio(loop_scope="session")
async def test_a_helm_chart_app_syncs_and_its_test_hooks_are_skipped(env: Env) -> None:
    name = f"chart-{uuid.uuid4().hex[:8]}"
    files = {
        f"charts/podinfo/{p.relative_to(PODINFO_CHART)}": p.read_text()
        for p in PODINFO_CHART.rglob("*")
        if p.is_file()
    }
    create_repository(env.root / f"{name}.git", env.root / name, files)
    ns = f"chart-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application(
        name,
        env.git.url(f"{name}.git"),
        ns,
        **{
            "spec.source.path": "charts/podinfo",
            "spec.source.helm": {"valueFiles": ["values-prod.yaml"], "releaseName": "podinfo"},
        },
    )
    await eventually(lambda: synced_healthy(env, name), what="chart app Synced and Healthy")
    status = (await env.app(name))["status"]
    assert status["sourceType"] == "Helm"
    kinds = {r["kind"] for r in status["resources"]}
    assert {"Deployment", "Service"} <= kinds
    assert "Pod" not in kinds  # the chart's helm test pods are hooks Argo CD never runs
    deploy = await env.live("Deployment", "podinfo", ns, "apps/v1")
    assert deploy is not None


@pytest.mark.asyncio(loop_scope="session")
async def test_app_of_apps_creates_child_applications_that_sync(env: Env) -> None:
    child_url, _work = env.new_repo()
    name = f"parent-{uuid.uuid4().hex[:6]}"
    ns = f"child-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    child = yaml.safe_load(APPLICATION)
    child["metadata"]["name"] = f"{name}-child"
    child["spec"]["source"]["repoURL"] = child_url
    child["spec"]["destination"]["namespace"] = ns
    work = env.root / name
    create_repository(env.root / f"{name}.git", work, {"apps/child.yaml": yaml.safe_dump(child)})
    await env.application(
        name,
        env.git.url(f"{name}.git"),
        CONTROL_NS,
        **{"spec.source.path": "apps"},
    )
    await eventually(
        lambda: synced_healthy(env, f"{name}-child"), what="child app Synced and Healthy"
    )
    await eventually(lambda: synced_healthy(env, name), what="parent Synced and Healthy")
    parent = (await env.app(name))["status"]
    assert [(r["kind"], r["name"]) for r in parent["resources"]] == [
        ("Application", f"{name}-child")
    ]
    assert len(parent["history"]) == 1  # the child's status writes are not drift for the parent


@pytest.mark.asyncio(loop_scope="session")
async def test_application_kustomize_options_override_the_overlay(env: Env) -> None:
    url, _work = env.new_repo()
    ns = f"kopt-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application(
        "kopt-app",
        url,
        ns,
        **{
            "spec.source.kustomize": {
                "images": ["ghcr.io/example/payment-service:3.0.0"],
                "namePrefix": "eu-",
                "commonLabels": {"region": "eu"},
            }
        },
    )
    await eventually(lambda: synced_healthy(env, "kopt-app"), what="Synced and Healthy")
    deploy = await env.live("Deployment", "eu-payment-service", ns, "apps/v1")
    assert deploy is not None
    assert (
        deploy["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/example/payment-service:3.0.0"
    )
    assert deploy["metadata"]["labels"]["region"] == "eu"


@pytest.mark.asyncio(loop_scope="session")
async def test_a_manual_sync_of_a_broken_revision_fails_with_the_reason(env: Env) -> None:
    url, work = env.new_repo()
    ns = f"msync-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.application("msync-app", url, ns, **{"spec.syncPolicy": None})
    commit_and_push(work, "broken", {"apps/payment-service/base/service.yaml": "kind: [\n"})
    await env.controller.refresh("msync-app", hard=True)
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    await env.client.patch(
        info,
        "msync-app",
        {"operation": {"sync": {}, "initiatedBy": {"username": "admin"}}},
        CONTROL_NS,
    )

    async def failed() -> dict[str, Any] | None:
        state = ((await env.app("msync-app")).get("status") or {}).get("operationState") or {}
        return state if state.get("phase") in ("Failed", "Error") else None

    state = await eventually(failed, what="the sync fails")
    assert "service.yaml" in state["message"]
    assert await env.live("Deployment", "payment-service", ns, "apps/v1") is None
