"""Real kubectl (the pinned v1.37) against the local cluster, with no flags to soften it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.corpora import CORPORA
from tether.localcluster.testing import Kubectl

PODINFO = CORPORA / "podinfo" / "kustomize"


@pytest.fixture
def podinfo_manifest(kubectl: Kubectl, tmp_path: Path) -> Path:
    rendered = kubectl("kustomize", str(PODINFO)).stdout
    path = tmp_path / "podinfo.yaml"
    path.write_text(rendered)
    return path


def _set_image(manifest: Path, image: str) -> Path:
    docs = list(yaml.safe_load_all(manifest.read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = image
    out = manifest.with_name("changed.yaml")
    out.write_text(yaml.safe_dump_all(docs))
    return out


def test_server_side_apply_of_podinfo_then_get_shows_server_defaults(
    kubectl: Kubectl, namespace: str, podinfo_manifest: Path
) -> None:
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", str(podinfo_manifest)).stdout
    assert "deployment.apps/podinfo serverside-applied" in out
    assert "service/podinfo serverside-applied" in out
    assert "horizontalpodautoscaler.autoscaling/podinfo serverside-applied" in out
    deploy = yaml.safe_load(
        kubectl(
            "get", "deploy", "podinfo", "-n", namespace, "-o", "yaml", "--show-managed-fields"
        ).stdout
    )
    assert deploy["metadata"]["generation"] == 1
    assert deploy["spec"]["replicas"] == 1  # podinfo leaves replicas to the HPA: server default
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert deploy["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    managers = {e["manager"] for e in deploy["metadata"]["managedFields"]}
    assert managers == {"kubectl"}
    svc = yaml.safe_load(kubectl("get", "svc", "podinfo", "-n", namespace, "-o", "yaml").stdout)
    assert svc["spec"]["clusterIP"]
    assert svc["spec"]["sessionAffinity"] == "None"


def test_client_side_apply_then_image_change_bumps_generation(
    kubectl: Kubectl, namespace: str, podinfo_manifest: Path
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(podinfo_manifest))
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        str(_set_image(podinfo_manifest, "ghcr.io/stefanprodan/podinfo:6.15.0")),
    )
    deploy = yaml.safe_load(
        kubectl("get", "deploy", "podinfo", "-n", namespace, "-o", "yaml").stdout
    )
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.15.0")
    assert deploy["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in deploy["metadata"]["annotations"]
    # the ports the client-side patch did not restate survive: containers merged by name
    assert len(deploy["spec"]["template"]["spec"]["containers"][0]["ports"]) == 3


@pytest.mark.parametrize("server_side", [True, False], ids=["server-side", "client-side"])
def test_diff_exits_zero_when_equal_and_one_after_a_change(
    kubectl: Kubectl, namespace: str, podinfo_manifest: Path, server_side: bool
) -> None:
    mode = ["--server-side"] if server_side else []
    kubectl("apply", *mode, "-n", namespace, "-f", str(podinfo_manifest))
    same = kubectl("diff", *mode, "-n", namespace, "-f", str(podinfo_manifest), check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    changed = _set_image(podinfo_manifest, "ghcr.io/stefanprodan/podinfo:9.9.9")
    differs = kubectl("diff", *mode, "-n", namespace, "-f", str(changed), check=False)
    assert differs.returncode == 1, differs.stderr
    assert "+        image: ghcr.io/stefanprodan/podinfo:9.9.9" in differs.stdout
    # a diff is a dry run: nothing changed on the server
    live = kubectl(
        "get",
        "deploy",
        "podinfo",
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert live.stdout.endswith(":6.14.1")


def test_delete_waits_until_objects_are_gone(
    kubectl: Kubectl, namespace: str, podinfo_manifest: Path
) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", str(podinfo_manifest))
    out = kubectl("delete", "--wait", "-n", namespace, "-f", str(podinfo_manifest)).stdout
    assert 'deployment.apps "podinfo" deleted' in out
    missing = kubectl("get", "deploy", "podinfo", "-n", namespace, check=False)
    assert missing.returncode == 1
    assert 'deployments.apps "podinfo" not found' in missing.stderr


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.tether.test}
spec:
  group: tether.test
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList, shortNames: [gdg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
              color: {type: string}
    subresources: {status: {}}
"""

GADGET = """
apiVersion: tether.test/v1
kind: Gadget
metadata: {name: g1}
spec: {color: blue, unknownField: dropped}
"""


def test_crd_then_one_of_its_objects(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=CRD)
    kubectl("wait", "--for", "condition=established", "--timeout=20s", "crd/gadgets.tether.test")
    out = kubectl("apply", "-n", namespace, "--validate=false", "-f", "-", input=GADGET)
    assert "gadget.tether.test/g1 created" in out.stdout
    obj = yaml.safe_load(kubectl("get", "gdg", "g1", "-n", namespace, "-o", "yaml").stdout)
    assert obj["spec"] == {"color": "blue", "size": 3}  # pruned and defaulted by the schema
    assert obj["metadata"]["generation"] == 1
    strict = kubectl(
        "apply", "-n", namespace, "-f", "-", input=GADGET.replace("g1", "g2"), check=False
    )
    assert strict.returncode != 0
    assert 'unknown field "spec.unknownField"' in strict.stderr


def test_get_watch_sees_events(kubectl: Kubectl, namespace: str, local_cluster: object) -> None:
    kubeconfig = local_cluster.kubeconfig
    from tether.tools import find_tool

    watcher = subprocess.Popen(
        [
            find_tool("kubectl"),
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "configmaps",
            "-n",
            namespace,
            "-w",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {a: '1'}\n",
        )
        assert watcher.stdout is not None
        line = watcher.stdout.readline().strip()
        assert line == "configmap/watched"
    finally:
        watcher.kill()
        watcher.wait()


def test_read_only_user_can_read_but_every_write_is_refused(
    kubectl: Kubectl, namespace: str
) -> None:
    viewer = ["--context", "tether-local-viewer"]
    assert kubectl(*viewer, "get", "configmaps", "-n", namespace).returncode == 0
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\ndata: {a: '1'}\n"
    for args in (
        ["apply", "-f", "-"],
        ["apply", "--server-side", "-f", "-"],
        ["create", "-f", "-"],
    ):
        refused = kubectl(*viewer, *args, "-n", namespace, input=manifest, check=False)
        assert refused.returncode != 0
        assert 'User "viewer" cannot' in refused.stderr
    refused = kubectl(*viewer, "delete", "namespace", namespace, check=False)
    assert 'User "viewer" cannot delete resource "namespaces"' in refused.stderr
    assert kubectl("get", "configmap", "nope", "-n", namespace, check=False).returncode == 1


def test_imperative_create_commands_sent_as_protobuf(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "proto", "-n", namespace, "--from-literal=a=b")
    kubectl("create", "deployment", "web", "-n", namespace, "--image=nginx:1.27", "--replicas=2")
    kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=token=hunter2")
    kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=3")
    cm = yaml.safe_load(kubectl("get", "cm", "proto", "-n", namespace, "-o", "yaml").stdout)
    assert cm["data"] == {"a": "b"}
    deploy = yaml.safe_load(kubectl("get", "deploy", "web", "-n", namespace, "-o", "yaml").stdout)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    secret = yaml.safe_load(kubectl("get", "secret", "s", "-n", namespace, "-o", "yaml").stdout)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"token": "aHVudGVyMg=="}
    created = kubectl("create", "namespace", f"{namespace}-x").stdout
    assert f"namespace/{namespace}-x created" in created
    kubectl("delete", "namespace", f"{namespace}-x", "--wait")


def test_api_resources_lists_builtins_and_short_names(kubectl: Kubectl) -> None:
    out = kubectl("api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "customresourcedefinitions"):
        assert line in out
