"""The Sealed Secrets controller against the real local cluster: seal → apply → Secret, scopes,
key renewal, refusal to overwrite, and failures that leave Secrets alone and leak nothing."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from click.testing import CliRunner

from tests.secrets.conftest import load_pair
from tether.cli.seal import seal_command
from tether.localcluster.testing import Kubectl, eventually, wait_until
from tether.secrets.certserver import cert_app
from tether.secrets.controller import ControllerOptions, SealedSecretsController
from tether.secrets.keys import KEY_LABEL, KeyPair, private_key_pem
from tether.secrets.kubeapi import ClusterKubeApi
from tether.secrets.sealed import API_VERSION, KIND, Scope, seal_value

PLAINTEXT = "correct-horse-battery-staple"


@pytest.fixture
async def api(kubeconfig: Path) -> AsyncIterator[ClusterKubeApi]:
    client = ClusterKubeApi.from_kubeconfig(kubeconfig)
    yield client
    await client.close()


def _factory(*pairs: KeyPair) -> Callable[[], KeyPair]:
    queue = list(pairs)

    def next_key() -> KeyPair:
        return queue.pop(0)

    return next_key


def _controller(
    api: ClusterKubeApi, namespaces: list[str], *pairs: KeyPair, control: str | None = None
) -> SealedSecretsController:
    options = ControllerOptions(
        control_namespace=control or f"ctl-{uuid.uuid4().hex[:8]}",
        namespaces=frozenset(namespaces),
        workers=4,
    )
    return SealedSecretsController(api, options, key_factory=_factory(*pairs))


async def _sealed_secret(api: ClusterKubeApi, namespace: str, name: str) -> dict[str, Any]:
    info = await api.client.resource_for(API_VERSION, KIND)
    return await api.client.get(info, name, namespace)


async def _wait_synced(
    api: ClusterKubeApi, namespace: str, name: str, timeout: float = 15.0
) -> dict[str, Any]:
    """The Synced condition once it describes the current generation."""

    async def synced() -> dict[str, Any] | None:
        obj = await _sealed_secret(api, namespace, name)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"].get("generation"):
            return None
        conditions = status.get("conditions") or []
        return next((dict(c) for c in conditions if c.get("type") == "Synced"), None)

    condition: dict[str, Any] = await eventually(synced, timeout, f"{namespace}/{name} synced")
    return condition


def _secret_yaml(namespace: str, name: str, **extra: Any) -> str:
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "demo"}},
        "type": "Opaque",
        "stringData": {"password": PLAINTEXT},
        **extra,
    }
    return yaml.safe_dump(obj)


async def _seal_cli(*args: str, input: str) -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, seal_command, list(args), input=input, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def _cert_file(tmp_path: Path, pair: KeyPair) -> str:
    path = tmp_path / f"{pair.name}.pem"
    path.write_bytes(pair.certificate_pem())
    return str(path)


async def test_seal_apply_unseal_round_trip_through_the_cert_endpoint(
    api: ClusterKubeApi, namespace: str, kubectl: Kubectl
) -> None:
    controller = _controller(api, [namespace], load_pair(1))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(cert_app(lambda: controller.ring), log_level="warning", lifespan="off")
    )
    async with controller.running():
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await eventually(lambda: server.started, what="the certificate server started")
        try:
            sealed = await _seal_cli(
                "--controller",
                f"http://127.0.0.1:{port}",
                input=_secret_yaml(namespace, "db", type="kubernetes.io/basic-auth"),
            )
        finally:
            server.should_exit = True
            await serving
        assert PLAINTEXT not in sealed
        kubectl("apply", "-f", "-", input=sealed)
        condition = await _wait_synced(api, namespace, "db")
        assert condition["status"] == "True" and condition["reason"] == "Unsealed"
        secret = await api.get_secret(namespace, "db")
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]).decode() == PLAINTEXT
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"] == {"app": "demo"}
    owner = secret["metadata"]["ownerReferences"][0]
    sealed_obj = await _sealed_secret(api, namespace, "db")
    assert owner["kind"] == "SealedSecret" and owner["controller"] is True
    assert owner["uid"] == sealed_obj["metadata"]["uid"]


async def test_moved_value_fails_under_strict_and_works_cluster_wide(
    api: ClusterKubeApi, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    other_ns = f"{namespace}-b"
    kubectl("create", "namespace", other_ns)
    pair = load_pair(1)
    cert = _cert_file(tmp_path, pair)
    strict = yaml.safe_load(await _seal_cli("--cert", cert, input=_secret_yaml(namespace, "a")))
    wide = yaml.safe_load(
        await _seal_cli(
            "--cert", cert, "--scope", "cluster-wide", input=_secret_yaml(namespace, "w")
        )
    )
    controller = _controller(api, [namespace, other_ns], pair)
    async with controller.running():
        moved = []
        for ns, name, source in (
            (namespace, "renamed", strict),
            (other_ns, "a", strict),
            (namespace, "wide-renamed", wide),
            (other_ns, "wide-moved", wide),
        ):
            obj = {**source, "metadata": {**source["metadata"], "name": name, "namespace": ns}}
            kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))
            moved.append((ns, name))
        results = {key: await _wait_synced(api, *key) for key in moved}
    for key in [(namespace, "renamed"), (other_ns, "a")]:
        assert results[key]["status"] == "False"
        assert results[key]["reason"] == "NoMatchingKey"
        assert "another name or namespace" in results[key]["message"]
        assert await api.get_secret(*key) is None
    for key in [(namespace, "wide-renamed"), (other_ns, "wide-moved")]:
        assert results[key]["status"] == "True"
        secret = await api.get_secret(*key)
        assert secret is not None
        assert base64.b64decode(secret["data"]["password"]).decode() == PLAINTEXT


async def test_key_renewal_keeps_old_secrets_decryptable(
    api: ClusterKubeApi, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    control = f"ctl-{uuid.uuid4().hex[:8]}"
    first, second = load_pair(1), load_pair(2)
    controller = _controller(api, [namespace], first, second, control=control)
    async with controller.running():
        old_cert = tmp_path / "old.pem"
        old_cert.write_bytes(controller.ring.latest.certificate_pem())  # type: ignore[union-attr]
        kubectl(
            "apply",
            "-f",
            "-",
            input=await _seal_cli("--cert", str(old_cert), input=_secret_yaml(namespace, "old")),
        )
        assert (await _wait_synced(api, namespace, "old"))["status"] == "True"
        renewed = await controller.renew_key()
        assert controller.ring.latest is renewed and len(controller.ring) == 2
        new_cert = _cert_file(tmp_path, renewed)
        kubectl(
            "apply",
            "-f",
            "-",
            input=await _seal_cli("--cert", new_cert, input=_secret_yaml(namespace, "new")),
        )
        assert (await _wait_synced(api, namespace, "new"))["status"] == "True"
    keys = await api.list_secrets(control, KEY_LABEL)
    assert len(keys) == 2 and all(k["type"] == "kubernetes.io/tls" for k in keys)
    # a restarted controller reads both keys back from the cluster and generates none
    restarted = _controller(api, [namespace], control=control)
    async with restarted.running():
        assert len(restarted.ring) == 2
        kubectl("label", "sealedsecret", "old", "-n", namespace, "touched=yes")
        kubectl("annotate", "sealedsecret", "old", "-n", namespace, "bump=1")
        kubectl(
            "patch",
            "sealedsecret",
            "old",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"template":{"metadata":{"labels":{"gen":"2"}}}}}',
        )
        assert (await _wait_synced(api, namespace, "old"))["status"] == "True"
        secret = await api.get_secret(namespace, "old")
        assert secret is not None and secret["metadata"]["labels"] == {"app": "demo", "gen": "2"}


async def test_bad_input_leaves_secrets_alone_and_leaks_nothing(
    api: ClusterKubeApi,
    namespace: str,
    kubectl: Kubectl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mine, foreign = load_pair(1), load_pair(2)
    good = seal_value(mine.public_key(), PLAINTEXT.encode(), namespace=namespace, name="kept")
    raw = base64.b64decode(good)
    bad_values = {
        "truncated": base64.b64encode(raw[:200]).decode(),
        "badbase64": "%%%%not-base64%%%%",
        "length": base64.b64encode(b"\xff\xff" + raw[2:]).decode(),
        "foreign": seal_value(
            foreign.public_key(), PLAINTEXT.encode(), namespace=namespace, name="foreign"
        ),
    }
    controller = _controller(api, [namespace], mine)
    async with controller.running():

        def manifest(name: str, value: str) -> str:
            return yaml.safe_dump(
                {
                    "apiVersion": "bitnami.com/v1alpha1",
                    "kind": "SealedSecret",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"encryptedData": {"password": value}},
                }
            )

        kubectl("apply", "-f", "-", input=manifest("kept", good))
        assert (await _wait_synced(api, namespace, "kept"))["status"] == "True"
        before = await api.get_secret(namespace, "kept")
        for name, value in bad_values.items():
            kubectl("apply", "-f", "-", input=manifest(name, value))
        # corrupting an existing SealedSecret must not touch the Secret it made
        kubectl("apply", "-f", "-", input=manifest("kept", bad_values["truncated"]))
        conditions = {
            name: await _wait_synced(api, namespace, name) for name in [*bad_values, "kept"]
        }
        after = await api.get_secret(namespace, "kept")
    expected = {
        "truncated": ("CorruptedData", "2-byte length says 512 bytes"),
        "badbase64": ("CorruptedData", "not valid base64"),
        "length": ("CorruptedData", "says 65535 bytes"),
        "foreign": ("NoMatchingKey", "sealed with another key"),
        "kept": ("CorruptedData", "2-byte length says 512 bytes"),
    }
    for name, (reason, text) in expected.items():
        assert conditions[name]["status"] == "False", name
        assert conditions[name]["reason"] == reason, name
        assert text in conditions[name]["message"], name
        if name != "kept":
            assert await api.get_secret(namespace, name) is None
    assert before is not None and after is not None
    assert after["data"] == before["data"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    events = kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    assert "ErrUnsealFailed" in events
    session_hint = base64.b64encode(PLAINTEXT.encode()).decode()
    for text in (caplog.text, events, *(c["message"] for c in conditions.values())):
        assert PLAINTEXT not in text and session_hint not in text
        assert "PRIVATE KEY" not in text
        assert private_key_pem(mine.private_key).decode()[40:80] not in text


async def test_foreign_secret_is_never_overwritten(
    api: ClusterKubeApi, namespace: str, kubectl: Kubectl
) -> None:
    pair = load_pair(1)
    kubectl(
        "create", "secret", "generic", "taken", "-n", namespace, "--from-literal=password=theirs"
    )
    value = seal_value(pair.public_key(), b"ours", namespace=namespace, name="taken")
    manifest = yaml.safe_dump(
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "taken", "namespace": namespace},
            "spec": {"encryptedData": {"password": value}},
        }
    )
    controller = _controller(api, [namespace], pair)
    async with controller.running():
        kubectl("apply", "-f", "-", input=manifest)
        condition = await _wait_synced(api, namespace, "taken")
        assert condition["status"] == "False" and condition["reason"] == "SecretNotOwned"
        assert "not overwriting it" in condition["message"]
        secret = await api.get_secret(namespace, "taken")
        assert secret is not None and base64.b64decode(secret["data"]["password"]) == b"theirs"
        # handing the Secret over lets the controller take it
        kubectl(
            "annotate", "secret", "taken", "-n", namespace, "sealedsecrets.bitnami.com/managed=true"
        )
        kubectl("annotate", "sealedsecret", "taken", "-n", namespace, "retry=1")

        async def taken_over() -> dict[str, Any] | None:
            secret = await api.get_secret(namespace, "taken")
            ours = secret and base64.b64decode(secret["data"]["password"]) == b"ours"
            return secret if ours else None

        secret = await eventually(taken_over, 15, "the handed-over Secret is taken")
        assert secret["metadata"]["ownerReferences"][0]["name"] == "taken"


async def test_deleted_owned_secret_is_recreated(
    api: ClusterKubeApi, namespace: str, kubectl: Kubectl
) -> None:
    pair = load_pair(1)
    value = seal_value(pair.public_key(), b"v", scope=Scope.NAMESPACE_WIDE, namespace=namespace)
    manifest = yaml.safe_dump(
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {
                "name": "again",
                "namespace": namespace,
                "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"},
            },
            "spec": {"encryptedData": {"k": value}, "template": {"immutable": True}},
        }
    )
    controller = _controller(api, [namespace], pair)
    async with controller.running():
        kubectl("apply", "-f", "-", input=manifest)
        assert (await _wait_synced(api, namespace, "again"))["status"] == "True"
        first = await api.get_secret(namespace, "again")
        assert first is not None and first.get("immutable") is True
        kubectl("delete", "secret", "again", "-n", namespace)

        async def recreated() -> dict[str, Any] | None:
            secret = await api.get_secret(namespace, "again")
            fresh = secret is not None and secret["metadata"]["uid"] != first["metadata"]["uid"]
            return secret if fresh else None

        secret = await eventually(recreated, 15, "the deleted Secret is recreated")
    assert base64.b64decode(secret["data"]["k"]) == b"v"


def test_secrets_controller_command_serves_the_certificate(
    kubeconfig: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    import httpx

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    control = f"ctl-{uuid.uuid4().hex[:8]}"
    code = "from tether.cli.seal import secrets_controller_command; secrets_controller_command()"
    args = ["--kubeconfig", str(kubeconfig), "--control-namespace", control]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def certificate() -> httpx.Response | None:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/cert.pem", timeout=2)
            except httpx.HTTPError:
                return None  # not listening yet
            return response if response.status_code == 200 else None

        response = wait_until(certificate, 30, "the controller serves its certificate", 0.1)
        assert response.text.startswith("-----BEGIN CERTIFICATE-----")
        result = CliRunner().invoke(
            seal_command, ["--fetch-cert", "--controller", f"http://127.0.0.1:{port}"]
        )
        assert result.output == response.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
