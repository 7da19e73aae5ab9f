"""The image run for real: runc on the unpacked image, host network, in-cluster configuration.

The controller's container comes from ``tether install --print`` (args, env, user, read-only
root, emptyDir volumes); the install's namespace, CRDs, ServiceAccount and RBAC are applied to a
local cluster of this module, and the container authenticates with a ``kubectl create token``
token of the install's ServiceAccount mounted where Kubernetes mounts it. It must answer
``/healthz`` and ``/readyz`` and sync the mission's payment-service from a loopback Git server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from tests.image.conftest import PulledImage, UnpackedImage, free_port
from tests.image.runc import Runc, pod_config
from tether.cli.install import install_command
from tether.demo.apps import DemoApp, demo_application
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import Kubectl, kubectl_runner, wait_until
from tether.source.gitserver import GitHTTPServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CONTROL_NAMESPACE = "argocd"
CONTROLLER = "tether-controller"
MISSION_APP = DemoApp("payment-service", "staging")
#: listening flags of the install's Deployment; host network shares the ports, so each gets a
#: free loopback port here
LISTEN_FLAGS = ("--listen", "--metrics-listen")

#: imports every top-level module of every library installed in the image; prints failures
IMPORT_EVERYTHING = """
import importlib, importlib.metadata, json
failed = {}
for dist in importlib.metadata.distributions(path=["/usr/local/lib/python3.11/dist-packages"]):
    tops = (dist.read_text("top_level.txt") or "").split()
    if not tops:
        tops = {str(f).split("/")[0].split(".")[0] for f in dist.files or []
                if str(f).endswith((".py", ".so")) and ".dist-info" not in str(f)}
    for name in sorted(tops):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = repr(exc)
print(json.dumps(failed))
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of its own: the control namespace is argocd, as the install makes it."""
    workdir = tmp_path_factory.mktemp("image-cluster")
    cluster = LocalCluster(port=0, kubeconfig=workdir / "kubeconfig").start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    """runc with state in the test's folder; every container it started is removed after."""
    runner = Runc(tmp_path / "runc-state")
    try:
        yield runner
    finally:
        runner.remove_all()


def install_documents(image: str) -> list[dict[str, Any]]:
    """What ``tether install --print --image IMAGE`` would apply."""
    result = CliRunner().invoke(install_command, ["--print", "--image", image])
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.output) if doc]


def controller_deployment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        doc
        for doc in documents
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == CONTROLLER
    )


def apply_all_but_workloads(kubectl: Kubectl, documents: list[dict[str, Any]]) -> None:
    """CRDs, namespace, ServiceAccounts, RBAC, Services: the Deployments are what runc runs."""
    kept = [doc for doc in documents if doc["kind"] != "Deployment"]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(kept))
    for doc in kept:
        if doc["kind"] == "CustomResourceDefinition":
            kubectl("wait", "--for=condition=Established", f"crd/{doc['metadata']['name']}")


def service_account_volume(kubectl: Kubectl, cluster: LocalCluster, folder: Path) -> Path:
    """token, ca.crt and namespace as kubelet projects them for the controller's pod."""
    folder.mkdir()
    token = kubectl("create", "token", CONTROLLER, "-n", CONTROL_NAMESPACE).stdout.strip()
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_bytes(cluster.creds.ca_pem)
    (folder / "namespace").write_text(CONTROL_NAMESPACE)
    return folder


def loopback_args(args: list[str]) -> tuple[list[str], dict[str, int]]:
    """The container's args with each listening flag moved to a free loopback port."""
    out, ports = list(args), {}
    for flag in LISTEN_FLAGS:
        if flag in out:
            ports[flag] = free_port()
            out[out.index(flag) + 1] = f"127.0.0.1:{ports[flag]}"
    return out, ports


def write_bundle(folder: Path, config: dict[str, Any]) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@contextmanager
def log_on_failure(log: Path) -> Iterator[None]:
    """A failed assertion inside carries the end of the container's output."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ncontainer output:\n{log.read_text()[-4000:]}") from exc


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def _app_status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    got = kubectl("get", "application", name, "-n", CONTROL_NAMESPACE, "-o", "json")
    status: dict[str, Any] = json.loads(got.stdout).get("status") or {}
    return status


def wait_for_synced_and_healthy(kubectl: Kubectl, name: str, timeout: float = 180) -> None:
    """Wait for the Application to be Synced and Healthy; a timeout shows its last status."""
    last: list[dict[str, Any]] = [{}]

    def reached() -> bool:
        last[0] = _app_status(kubectl, name)
        sync = (last[0].get("sync") or {}).get("status")
        return (sync, (last[0].get("health") or {}).get("status")) == ("Synced", "Healthy")

    try:
        wait_until(reached, timeout=timeout, what=f"{name} Synced and Healthy")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nstatus: {json.dumps(last[0], indent=1)}") from exc


def test_every_library_imports_in_the_image(
    unpacked_image: UnpackedImage, runc: Runc, tmp_path: Path
) -> None:
    config = pod_config(
        unpacked_image.config,
        ["/usr/bin/python3"],
        {"securityContext": {"readOnlyRootFilesystem": True}},
        {},
        ["-c", IMPORT_EVERYTHING],
        {},
        None,
        tmp_path / "volumes",
    )
    result = runc.run_once(write_bundle(tmp_path / "bundle", config))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}


def test_controller_in_the_image_syncs_the_mission_app(
    cluster: LocalCluster,
    pulled_image: PulledImage,
    unpacked_image: UnpackedImage,
    runc: Runc,
    tmp_path: Path,
) -> None:
    kubectl = kubectl_runner(cluster.kubeconfig, tmp_path)
    documents = install_documents(pulled_image.remote)
    apply_all_but_workloads(kubectl, documents)
    pod = controller_deployment(documents)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == pulled_image.remote
    args, ports = loopback_args(container["args"])
    env = {item["name"]: _env_value(item) for item in container.get("env", [])}
    env |= {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(cluster.port)}
    account = service_account_volume(kubectl, cluster, tmp_path / "serviceaccount")
    config = pod_config(
        unpacked_image.config,
        unpacked_image.entrypoint,
        container,
        pod.get("securityContext", {}),
        args,
        env,
        account,
        tmp_path / "volumes",
    )
    git = GitHTTPServer(tmp_path / "git").start()
    try:
        create_repository(tmp_path / "git" / "k8s-manifests.git", tmp_path / "work")
        kubectl("create", "namespace", MISSION_APP.name)
        app = demo_application(MISSION_APP, git.url("k8s-manifests.git"), CONTROL_NAMESPACE)
        kubectl("apply", "-f", "-", input=yaml.safe_dump(app))
        log = tmp_path / "controller.log"
        started = time.monotonic()
        _, child = runc.start(write_bundle(tmp_path / "bundle", config), log)
        api = f"http://127.0.0.1:{ports['--listen']}"

        def ready() -> bool:
            assert child.poll() is None, f"the container exited with {child.returncode}"
            return _status(f"{api}/readyz") == 200

        with log_on_failure(log):
            wait_until(ready, timeout=60, what="/readyz")
            print(f"\n/readyz answered {time.monotonic() - started:.2f} s after runc run")
            assert _status(f"{api}/healthz") == 200
            wait_for_synced_and_healthy(kubectl, MISSION_APP.name)
        get = ("get", "deployment", "payment-service", "-n", MISSION_APP.name, "-o", "json")
        deployment = json.loads(kubectl(*get, "--show-managed-fields").stdout)
        assert "tether" in {entry["manager"] for entry in deployment["metadata"]["managedFields"]}
    finally:
        runc.remove_all()
        git.stop()


#: the pod's name as the kubelet would give it (the install reads it through the downward API)
POD_NAME = "tether-controller-7d9f8b6c5-x2x7q"


def _env_value(item: dict[str, Any]) -> str:
    """An env entry's value, the downward API's ``metadata.name`` resolved as a kubelet would."""
    if "value" in item:
        return str(item["value"])
    field = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    assert field == "metadata.name", item  # the only one the install uses
    return POD_NAME
