"""Helpers of the install tests: running ``tether install`` and cleaning up after it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tether.cli.install import install_command
from tether.localcluster.testing import Kubectl


def run_install(kubeconfig: Path, *args: str) -> Result:
    """``tether install --kubeconfig K ARGS`` in this process."""
    return CliRunner().invoke(install_command, ["--kubeconfig", str(kubeconfig), *args])


def exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl("get", *args, "-o", "name", check=False).returncode == 0


def get(kubectl: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)


@pytest.fixture
def install_ns(kubeconfig: Path, kubectl: Kubectl) -> Iterator[str]:
    """A fresh control namespace name; whatever an install put there (and its cluster-scoped
    bindings) is removed afterwards. The CRDs stay: the session's cluster shares them."""
    name = f"tether-{uuid.uuid4().hex[:8]}"
    yield name
    run_install(kubeconfig, "--namespace", name, "--uninstall")
    for kind, obj in (
        ("clusterrolebinding", f"tether-controller-read-{name}"),
        ("clusterrole", f"tether-controller-read-{name}"),
    ):
        kubectl("delete", kind, obj, "--ignore-not-found", check=False)
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
