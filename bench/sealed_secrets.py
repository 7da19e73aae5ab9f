"""Secrets benchmark: sealing and unsealing one value with an RSA-4096 key, SOPS decryption of a
corpus file, and the time the controller takes to unseal 1,000 SealedSecrets on a local cluster
started as a child process.

Baseline: Bitnami's controller (Go) unseals one value in about a millisecond, the RSA-4096
private-key operation dominating; Python calls the same OpenSSL code, so the figures compare.

Run: .venv/bin/python bench/sealed_secrets.py [--count 1000] [--values 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# this file's name shadows the standard library's ``secrets`` module for anything imported from
# its folder (Python puts the script's folder first on the path): take the folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.secrets.controller import ControllerOptions, SealedSecretsController  # noqa: E402
from tether.secrets.crd import sealed_secret_crd  # noqa: E402
from tether.secrets.keys import generate_key_pair  # noqa: E402
from tether.secrets.kubeapi import ClusterKubeApi  # noqa: E402
from tether.secrets.sealed import seal_value, unseal_value  # noqa: E402
from tether.secrets.sops import SopsKeys, decrypt  # noqa: E402

SOPS = ROOT.parent / "shared" / "corpora" / "kustomize-controller-sops" / "sops"


def per_value(values: int) -> None:
    pair = generate_key_pair()
    public, private = pair.public_key(), [pair.private_key]
    payload = b"x" * 64
    seal_times, unseal_times = [], []
    sealed = ""
    for _ in range(values):
        start = time.perf_counter()
        sealed = seal_value(public, payload, namespace="ns", name="n")
        seal_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        unseal_value(private, sealed, namespace="ns", name="n")
        unseal_times.append(time.perf_counter() - start)
    print(
        f"seal one value (RSA-4096, 64 B):   median {statistics.median(seal_times) * 1e6:8.0f} µs"
    )
    print(
        f"unseal one value (RSA-4096, 64 B): median {statistics.median(unseal_times) * 1e6:8.0f} µs"
    )
    keys = SopsKeys.from_text((SOPS / "keys" / "age.txt").read_text())
    data = (SOPS / "algorithms" / "age.yaml").read_bytes()
    sops_times = []
    for _ in range(values):
        start = time.perf_counter()
        decrypt(data, "yaml", keys)
        sops_times.append(time.perf_counter() - start)
    print(
        f"SOPS decrypt + MAC (age, 1 value): median {statistics.median(sops_times) * 1e6:8.0f} µs"
    )


async def controller_run(kubeconfig: Path, count: int) -> None:
    api = ClusterKubeApi.from_kubeconfig(str(kubeconfig))
    pair = generate_key_pair()
    namespace = "bench-sealed"
    await api.ensure_namespace(namespace)
    await api.ensure_crd(sealed_secret_crd())
    limit = asyncio.Semaphore(32)
    info = await api.client.resource_for("bitnami.com/v1alpha1", "SealedSecret")

    async def create(i: int) -> None:
        name = f"s-{i:04d}"
        obj = {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "encryptedData": {
                    "password": seal_value(
                        pair.public_key(), f"value-{i}".encode(), namespace=namespace, name=name
                    )
                }
            },
        }
        async with limit:
            await api.client.create(info, obj)

    start = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(count)))
    print(f"created {count} SealedSecrets in {time.perf_counter() - start:.1f} s (setup)")
    controller = SealedSecretsController(
        api,
        ControllerOptions(control_namespace="bench-keys", namespaces=frozenset([namespace])),
        key_factory=lambda: pair,
    )
    start = time.perf_counter()
    async with controller.running(timeout=120):
        while True:
            synced = 0
            for obj in (await api.client.list(info, namespace)).items:
                status = obj.get("status") or {}
                if any(c.get("status") == "True" for c in status.get("conditions") or []):
                    synced += 1
            if synced == count:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - start
    print(
        f"controller unsealed {count} SealedSecrets (Secret created, status written) in "
        f"{elapsed:.1f} s ({count / elapsed:.0f}/s, {elapsed / count * 1000:.1f} ms each)"
    )
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--values", type=int, default=200)
    args = parser.parse_args()
    per_value(args.values)
    with tempfile.TemporaryDirectory(prefix="tether-bench-secrets-") as tmp:
        cluster = ClusterProcess.start(Path(tmp))
        try:
            asyncio.run(controller_run(cluster.kubeconfig, args.count))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
