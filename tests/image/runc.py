"""Run the image with runc on the bundle ``umoci unpack`` makes, as a kubelet would run the pod.

This sandbox forbids setrlimit and has no network namespaces to give (shared/reference
containers.md), so the bundle's ``config.json`` loses ``process.rlimits``, ``linux.resources``
and the network namespace (host network, as ``hostNetwork: true``). Everything else of the
container spec is applied: user, read-only root, no capabilities, no new privileges, emptyDir
volumes as fresh host folders, and the service-account volume at the path Kubernetes mounts it.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: a runc call that does not return in this time is hung, not slow
RUNC_TIMEOUT = 60


def unpack(image_ref: str, bundle: Path) -> dict[str, Any]:
    """``umoci unpack`` the image into ``bundle`` and return the generated ``config.json``."""
    subprocess.run(
        ["umoci", "unpack", "--image", image_ref, str(bundle)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    return config


def empty_dir(volumes: Path, name: str) -> Path:
    """An emptyDir volume as kubelet makes it: a fresh host folder anyone in the pod may write.

    (A tmpfs mount will not do: runc gives it the mode of the image's folder, root-owned.)
    """
    folder = volumes / name
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    return folder


def _bind(source: Path, destination: str, read_only: bool = True) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "ro" if read_only else "rw"],
    }


def pod_config(
    image_config: dict[str, Any],
    entrypoint: list[str],
    container: dict[str, Any],
    pod_security: dict[str, Any],
    args: list[str],
    env: dict[str, str],
    service_account: Path | None,
    volumes: Path,
) -> dict[str, Any]:
    """``config.json`` for ``container`` (a Deployment's container spec) with ``args`` after
    the image's ``entrypoint`` (as a pod's ``args`` replace the image's command) and ``env``
    added to the image's environment. Its volumes (all emptyDir in the install) are folders
    under ``volumes``."""
    config = json.loads(json.dumps(image_config))
    process = config["process"]
    process.pop("rlimits", None)
    config["linux"].pop("resources", None)
    config["linux"]["namespaces"] = [
        ns for ns in config["linux"]["namespaces"] if ns["type"] != "network"
    ]
    process["args"] = [*entrypoint, *args]
    process["terminal"] = False
    process["env"] = [*process["env"], *(f"{k}={v}" for k, v in env.items())]
    security = container.get("securityContext", {})
    process["user"] = {
        "uid": pod_security.get("runAsUser", process["user"]["uid"]),
        "gid": pod_security.get("runAsGroup", process["user"]["gid"]),
    }
    process["noNewPrivileges"] = security.get("allowPrivilegeEscalation") is False
    if security.get("capabilities", {}).get("drop") == ["ALL"]:
        process["capabilities"] = {
            kind: [] for kind in ("bounding", "effective", "inheritable", "permitted", "ambient")
        }
    config["root"]["readonly"] = bool(security.get("readOnlyRootFilesystem"))
    config["mounts"] += [
        _bind(empty_dir(volumes, mount["name"]), mount["mountPath"], read_only=False)
        for mount in container.get("volumeMounts", [])
    ]
    if service_account is not None:
        config["mounts"].append(_bind(service_account, SERVICE_ACCOUNT_DIR))
    return config


@dataclass
class Runc:
    """runc with its state in a folder of the test (never the host's /run/runc)."""

    state: Path
    started: list[str] = field(default_factory=list)

    def _command(self, *args: str) -> list[str]:
        return ["runc", "--root", str(self.state), *args]

    def run_once(
        self, bundle: Path, timeout: float = RUNC_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run the bundle's process to its end and return what it printed."""
        name = f"tether-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        try:
            return subprocess.run(
                self._command("run", "--bundle", str(bundle), name),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            self.remove(name)

    def start(self, bundle: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
        """Start the bundle's process in the foreground of a child; its output goes to ``log``."""
        name = f"tether-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        with log.open("wb") as out:
            child = subprocess.Popen(
                self._command("run", "--bundle", str(bundle), name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return name, child

    def remove(self, name: str) -> None:
        """Kill and delete container ``name`` (nothing happens when it is already gone)."""
        for args in (("kill", name, "KILL"), ("delete", "--force", name)):
            subprocess.run(self._command(*args), capture_output=True, timeout=RUNC_TIMEOUT)
        if name in self.started:
            self.started.remove(name)

    def remove_all(self) -> None:
        """Every container this test started, even those a failure left running."""
        for name in list(self.started):
            self.remove(name)
