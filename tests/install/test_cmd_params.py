"""``argocd-cmd-params-cm``: the keys Tether has a setting for are the defaults of its flags."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli.controller import (
    apply_cmd_params,
    controller_command,
    managed_namespaces_from_env,
)
from tether.controller.config import ControllerConfig
from tether.install.params import MAX_PROCESSORS, read_cmd_params
from tether.localcluster.testing import Kubectl


def test_known_keys_are_read_and_the_rest_ignored_with_the_reason() -> None:
    params = read_cmd_params(
        {
            "controller.status.processors": "30",
            "controller.operation.processors": " 12 ",
            "controller.self.heal.timeout.seconds": "2",
            "controller.self.heal.backoff.cap.seconds": "300",
            "controller.log.level": "warn",
            "redis.server": "argocd-redis:6379",
        }
    )
    assert params.values == {
        "workers": 30,
        "sync_workers": 12,
        "self_heal_delay": 2.0,
        "self_heal_max_delay": 300.0,
        "log_level": "WARNING",
    }
    assert params.ignored == {"redis.server": "Tether has no such setting"}


def test_bad_values_are_ignored_not_fatal() -> None:
    params = read_cmd_params(
        {
            "controller.status.processors": str(MAX_PROCESSORS + 1),
            "controller.operation.processors": "ten",
            "controller.self.heal.timeout.seconds": "nan",
            "controller.self.heal.backoff.cap.seconds": "-1",
            "controller.log.level": "loud",
        }
    )
    assert params.values == {}
    assert set(params.ignored) == {
        "controller.status.processors",
        "controller.operation.processors",
        "controller.self.heal.timeout.seconds",
        "controller.self.heal.backoff.cap.seconds",
        "controller.log.level",
    }
    assert "from 1 to 1000" in params.ignored["controller.status.processors"]
    assert "must be one of debug, error, info, warn" in params.ignored["controller.log.level"]


def test_a_flag_wins_over_the_configmap() -> None:
    config = ControllerConfig(workers=5)
    params = read_cmd_params(
        {"controller.status.processors": "30", "controller.operation.processors": "9"}
    )
    apply_cmd_params(config, params, frozenset({"workers"}))
    assert config.workers == 5
    assert config.sync_workers == 9


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stderr+stdout of ``proc`` up to the line holding ``marker`` (or its exit)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            break
    return "".join(seen)


def test_the_controller_reads_the_configmap_at_start(
    kubeconfig: Path, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl(
        "create", "configmap", "argocd-cmd-params-cm", "-n", namespace,
        "--from-literal=controller.status.processors=3",
        "--from-literal=controller.operation.processors=2",
        "--from-literal=repo.server=argocd-repo-server:8081",
    )  # fmt: skip
    command = [
        sys.executable, "-m", "tether", "controller", "--kubeconfig", str(kubeconfig),
        "--namespace", namespace, "--listen", "127.0.0.1:0", "--no-leader-election",
        "--cache-dir", str(tmp_path / "cache"), "--sync-workers", "4",
    ]  # fmt: skip
    managed = f"{namespace},{namespace}-team"
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HOME": str(tmp_path), "TETHER_MANAGED_NAMESPACES": managed},
    )
    try:
        output = _read_until(proc, "tether controller running", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "tether controller running" in output, output
    assert f"managing {namespace}, {namespace}-team)" in output
    assert "argocd-cmd-params-cm: workers = 3" in output
    assert "argocd-cmd-params-cm: sync_workers given as a flag wins" in output
    assert "argocd-cmd-params-cm: repo.server ignored (Tether has no such setting)" in output


def test_metrics_listen_must_be_host_and_port() -> None:
    result = CliRunner().invoke(controller_command, ["--metrics-listen", "8082"])
    assert result.exit_code == 2
    assert "Invalid value for --metrics-listen: expected HOST:PORT, not '8082'" in result.output


def test_a_taken_metrics_port_is_a_clear_error(
    kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            controller_command,
            [
                "--kubeconfig",
                str(kubeconfig),
                "--namespace",
                namespace,
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                f"127.0.0.1:{port}",
                "--no-leader-election",
                "--cache-dir",
                str(tmp_path / "cache"),
            ],
        )
    assert result.exit_code == 1, result.output
    assert "Error: cannot listen: Address already in use" in result.output
    assert f"'127.0.0.1', {port}" in result.output  # which address
    assert "Traceback" not in result.output


def test_managed_namespaces_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_MANAGED_NAMESPACES", "team-a, team-b team-a,,")
    assert managed_namespaces_from_env() == ("team-a", "team-b")
    monkeypatch.delenv("TETHER_MANAGED_NAMESPACES")
    assert managed_namespaces_from_env() == ()
