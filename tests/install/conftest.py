"""Helpers of the install tests: running ``tether install`` and cleaning up after it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tether.cli.install import install_command
from tether.cluster.client import ClusterClient
from tether.cluster.errors import Forbidden
from tether.localcluster.testing import Kubectl

CONTROLLER = "tether-controller"


def run_install(kubeconfig: Path, *args: str) -> Result:
    """``tether install --kubeconfig K ARGS`` in this process."""
    return CliRunner().invoke(install_command, ["--kubeconfig", str(kubeconfig), *args])


def exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl("get", *args, "-o", "name", check=False).returncode == 0


def get(kubectl: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)


def token_kubeconfig(
    kubectl: Kubectl, admin: Path, namespace: str, out: Path, account: str = CONTROLLER
) -> Path:
    """The admin kubeconfig with its user replaced by a ``kubectl create token`` token of
    ``account`` (the install's controller by default)."""
    token = kubectl("create", "token", account, "-n", namespace).stdout.strip()
    doc = yaml.safe_load(admin.read_text())
    for user in doc["users"]:
        user["user"] = {"token": token}
    out.write_text(yaml.safe_dump(doc))
    return out


def record_refusals(client: ClusterClient) -> list[str]:
    """Every request of ``client`` the API server refused (403), as it happens."""
    refused: list[str] = []
    send = client.request

    async def request(*args: Any, **kwargs: Any) -> Any:
        try:
            return await send(*args, **kwargs)
        except Forbidden as exc:
            refused.append(str(exc))
            raise

    client.request = request  # type: ignore[method-assign]
    return refused


@pytest.fixture
def install_ns(kubeconfig: Path, kubectl: Kubectl) -> Iterator[str]:
    """A fresh control namespace name; whatever an install put there (and its cluster-scoped
    bindings) is removed afterwards. The CRDs stay: the session's cluster shares them."""
    name = f"tether-{uuid.uuid4().hex[:8]}"
    yield name
    # removes what either mode installed in it (and their cluster-scoped bindings)
    run_install(kubeconfig, "--namespace", name, "--uninstall")
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
