"""A Kustomization's ``decryption`` on the real stack, with kustomize-controller's own SOPS test
data (shared/corpora/kustomize-controller-sops): an age-encrypted Secret, an encrypted dotenv
and an encrypted file behind secret generators, decrypted with the age key of the
Kustomization's Secret, every value ``value`` as the corpus says. Without the key Secret, or
with a key that opens nothing, the Kustomization is not Ready, says why, and nothing of the
revision is applied. (A ConfigMap generated from an encrypted file is left encrypted: Tether
decrypts for secret generators only, docs/flux.md.)"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.controller.stack import Env
from tests.corpora import CORPORA
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOPS = CORPORA / "kustomize-controller-sops" / "sops"


KS_API = "kustomize.toolkit.fluxcd.io/v1"


def repository_files() -> dict[str, str]:
    """The corpus's age-encrypted parts, as they are, under a kustomization of the test's."""
    files = {
        "kustomization.yaml": "namePrefix: sops-\nresources:\n  - age.yaml\n  - envs\n  - files\n"
    }
    files["age.yaml"] = (SOPS / "algorithms" / "age.yaml").read_text()
    for folder, names in (("envs", ("kustomization.yaml", "env.env")),
                          ("files", ("kustomization.yaml", "file.txt"))):  # fmt: skip
        for name in names:
            files[f"{folder}/{name}"] = (SOPS / folder / name).read_text()
    return files


def kustomization(name: str, ns: str, key_secret: str) -> dict[str, Any]:
    return {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "10m", "prune": True, "path": "./", "targetNamespace": ns,
                     "sourceRef": {"kind": "GitRepository", "name": "secrets"},
                     "decryption": {"provider": "sops", "secretRef": {"name": key_secret}}}}  # fmt: skip


def key_secret(name: str, ns: str, key_file: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "stringData": {"age.agekey": (SOPS / "keys" / key_file).read_text()}}  # fmt: skip


async def ready(env: Env, name: str, ns: str) -> dict[str, Any]:
    obj = await env.live("Kustomization", name, ns, KS_API)
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or ()
                 if c["type"] == "Ready"), {})  # fmt: skip


async def secrets(env: Env, ns: str) -> dict[str, dict[str, str]]:
    info = await env.client.resource_for("v1", "Secret")
    return {
        o["metadata"]["name"]: {
            k: base64.b64decode(v).decode() for k, v in (o.get("data") or {}).items()
        }
        for o in (await env.client.list(info, ns)).items
        if o["metadata"]["name"].startswith("sops-")
    }


async def namespace(env: Env) -> str:
    name = f"sops-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    return name


async def test_sops_sources_are_decrypted_with_the_age_key_of_the_kustomization(env: Env) -> None:
    ns = await namespace(env)
    url, _ = env.new_repo(repository_files())
    await env.apply(
        key_secret("age-key", ns, "age.txt"),
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "secrets", "namespace": ns},
         "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}},
        kustomization("secrets", ns, "age-key"),
    )  # fmt: skip

    async def decrypted() -> dict[str, dict[str, str]] | None:
        found = await secrets(env, ns)
        done = (await ready(env, "secrets", ns)).get("status") == "True"
        return found if done and len(found) >= 3 else None

    found = await eventually(decrypted, 90, "the decrypted Secrets applied")
    assert found["sops-age"] == {"key": "value"}
    assert found["sops-envs-secret"] == {"key": "value"}
    assert found["sops-files-secret"] == {"key": "value"}
    # a ConfigMap generated from the same file keeps it as committed (Flux would put the
    # plain text there, decrypting the file in place)
    configmap = await env.live("ConfigMap", "sops-envs-configmap", ns)
    assert configmap is not None and configmap["data"]["key"].startswith("ENC[AES256_GCM,")


async def test_a_missing_or_wrong_key_fails_the_build_and_applies_nothing(env: Env) -> None:
    ns = await namespace(env)
    url, _ = env.new_repo(repository_files())
    await env.apply(
        key_secret("other-key", ns, "age-global.txt"),  # a real age key, not the corpus's
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "secrets", "namespace": ns},
         "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}},
        kustomization("no-key", ns, "missing"),
        kustomization("wrong-key", ns, "other-key"),
    )  # fmt: skip

    async def both_failed() -> tuple[dict[str, Any], dict[str, Any]] | None:
        # (ArtifactFailed first, while the GitRepository has no artifact yet)
        missing, wrong = await ready(env, "no-key", ns), await ready(env, "wrong-key", ns)
        failed = missing.get("reason") == wrong.get("reason") == "BuildFailed"
        return (missing, wrong) if failed else None

    missing, wrong = await eventually(both_failed, 90, "both Kustomizations failed")
    assert f"decryption secret '{ns}/missing' not found" in missing["message"]
    assert wrong["message"].startswith("age.yaml: SOPS decryption failed: SOPS file: no usable key")
    assert await secrets(env, ns) == {}
