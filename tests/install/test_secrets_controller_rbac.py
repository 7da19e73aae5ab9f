"""The Sealed Secrets controller runs as its own ServiceAccount with the ClusterRole the install
ships: it keeps its key, unseals a SealedSecret into a Secret and reports Synced, and none of its
requests is refused."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.install.conftest import record_refusals, run_install, token_kubeconfig
from tests.secrets.conftest import load_pair
from tether.cli.seal import seal_command
from tether.cluster.client import ClusterClient
from tether.localcluster.testing import Kubectl, eventually
from tether.secrets.controller import ControllerOptions, SealedSecretsController
from tether.secrets.kubeapi import ClusterKubeApi

ACCOUNT = "tether-secrets-controller"


def _sealed(cert: Path, namespace: str) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "stringData": {"password": "s3cret"},
    }
    result = CliRunner().invoke(
        seal_command, ["--cert", str(cert)], input=yaml.safe_dump(secret), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_the_secrets_controller_unseals_with_exactly_its_shipped_role(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str, namespace: str, tmp_path: Path
) -> None:
    result = await asyncio.to_thread(run_install, kubeconfig, "-n", install_ns, "--no-wait")
    assert result.exit_code == 0, result.output
    sa_config = token_kubeconfig(
        kubectl, kubeconfig, install_ns, tmp_path / "sa.kubeconfig", account=ACCOUNT
    )
    pair = load_pair(1)
    cert = tmp_path / "cert.pem"
    cert.write_bytes(pair.certificate_pem())
    client = ClusterClient.from_kubeconfig(str(sa_config))
    refused = record_refusals(client)
    api = ClusterKubeApi(client)
    keys = f"keys-{uuid.uuid4().hex[:8]}"
    options = ControllerOptions(control_namespace=keys, namespaces=frozenset({namespace}))
    controller = SealedSecretsController(api, options, key_factory=lambda: pair)
    try:
        async with controller.running():
            kubectl("apply", "-f", "-", input=_sealed(cert, namespace))

            def unsealed() -> str | None:
                found = kubectl("get", "secret", "db", "-n", namespace, "-o",
                                "jsonpath={.data.password}", check=False)  # fmt: skip
                return found.stdout if found.returncode == 0 and found.stdout else None

            value = await eventually(lambda: asyncio.to_thread(unsealed), timeout=30)
            assert base64.b64decode(value).decode() == "s3cret"
        assert refused == []
    finally:
        await api.close()
        await client.aclose()
        kubectl("delete", "namespace", keys, "--wait=false", check=False)
