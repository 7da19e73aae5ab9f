"""Flux's GitRepository and Kustomization specs, read as Flux reads them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.corpora import CORPORA
from tether.fields import InvalidSpecError
from tether.flux.specs import (
    DEFAULT_BRANCH,
    GitInclude,
    GitRef,
    ObjectRef,
    Unsupported,
    VarsFrom,
    parse_git_repository,
    parse_kustomization,
)


def _corpus_objects(*folders: str) -> list[dict[str, Any]]:
    objects = []
    for folder in folders:
        for path in sorted((CORPORA / folder).rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not isinstance(doc, dict) or not str(doc.get("apiVersion")).endswith(
                    "fluxcd.io/v1"
                ):
                    continue
                # a kustomize patch of a Kustomization (tenants/*/dev-team-patch.yaml) is not one
                if doc["kind"] != "Kustomization" or "sourceRef" in doc.get("spec", {}):
                    objects.append(doc)
    return objects


def test_the_multi_tenancy_example_reads_whole() -> None:
    objects = _corpus_objects("flux2-multi-tenancy")
    kinds = {o["kind"] for o in objects}
    assert {"GitRepository", "Kustomization"} <= kinds
    for obj in objects:
        namespace = obj["metadata"].get("namespace", "flux-system")
        if obj["kind"] == "GitRepository":
            repo = parse_git_repository(obj["spec"])
            assert repo.url.startswith("https://")
        elif obj["kind"] == "Kustomization":
            ks = parse_kustomization(obj["spec"], namespace)
            assert ks.source.kind in ("GitRepository", "OCIRepository")
            assert ks.interval > 0
    tenant = next(
        o for o in objects if o["kind"] == "Kustomization" and o["metadata"]["name"] == "dev-team"
    )
    spec = parse_kustomization(tenant["spec"], "apps")
    assert spec.service_account == "dev-team"
    assert spec.source == ObjectRef("GitRepository", "dev-team", "apps")
    assert spec.prune and spec.path == ""
    assert spec.timeout == 270.0  # interval 5m - 30s, as Flux derives it


def test_the_helm_example_reads_whole() -> None:
    """Its Kustomizations read ExternalArtifacts (Flux 2.7's ArtifactGenerator)."""
    objects = [
        o for o in _corpus_objects("flux2-kustomize-helm-example") if o["kind"] == "Kustomization"
    ]
    assert objects
    for obj in objects:
        parsed = parse_kustomization(obj["spec"], "flux-system")
        assert parsed.source.kind == obj["spec"]["sourceRef"]["kind"]
    configs = next(o for o in objects if o["metadata"]["name"] == "infra-configs")
    spec = {**configs["spec"], "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
    parsed = parse_kustomization(spec, "flux-system")
    assert parsed.depends_on == (ObjectRef("Kustomization", "infra-controllers", "flux-system"),)
    assert (parsed.interval, parsed.retry_interval, parsed.timeout) == (3600.0, 120.0, 300.0)
    assert parsed.path == "configs"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (None, GitRef("branch", DEFAULT_BRANCH)),
        ({"branch": "main"}, GitRef("branch", "main")),
        ({"branch": "main", "tag": "v1"}, GitRef("tag", "v1")),
        ({"tag": "v1", "semver": ">=1.0.0"}, GitRef("semver", ">=1.0.0")),
        ({"semver": "1.x", "name": "refs/pull/4/head"}, GitRef("name", "refs/pull/4/head")),
        ({"branch": "main", "name": "x", "commit": "a" * 40}, GitRef("commit", "a" * 40, "main")),
    ],
)
def test_the_ref_that_wins_is_flux_s(ref: dict[str, str] | None, expected: GitRef) -> None:
    spec: dict[str, Any] = {"url": "https://example.com/r.git", "interval": "1m"}
    if ref is not None:
        spec["ref"] = ref
    parsed = parse_git_repository(spec)
    assert parsed.ref == expected
    assert parsed.timeout == 60.0


def test_git_repository_fields() -> None:
    parsed = parse_git_repository(
        {
            "url": "ssh://git@example.com/r.git",
            "interval": "30s",
            "timeout": "2m",
            "secretRef": {"name": "ssh-key"},
            "ignore": "/*\n!/deploy",
            "suspend": True,
        }
    )
    assert (parsed.interval, parsed.timeout, parsed.secret_ref) == (30.0, 120.0, "ssh-key")
    assert parsed.ignore == "/*\n!/deploy" and parsed.suspend and parsed.includes == ()


def test_git_repository_includes_default_to_the_whole_artifact_under_its_name() -> None:
    parsed = parse_git_repository({
        "url": "https://e.com/r", "interval": "1m",
        "include": [{"repository": {"name": "shared"}},
                    {"repository": {"name": "lib"}, "fromPath": "./deploy/", "toPath": "vendor/lib"}],
    })  # fmt: skip
    assert parsed.includes == (
        GitInclude("shared", "", "shared"),
        GitInclude("lib", "deploy", "vendor/lib"),
    )


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"interval": "1m"}, InvalidSpecError, "spec.url is required"),
        ({"url": "git@github.com:x/y", "interval": "1m"}, InvalidSpecError, "scp-like"),
        ({"url": "https://e.com/r"}, InvalidSpecError, "spec.interval is required"),
        ({"url": "https://e.com/r", "interval": "soon"}, InvalidSpecError, "invalid duration"),
        ({"url": "https://e.com/r", "interval": "0s"}, InvalidSpecError, "longer than 0s"),
        (
            {"url": "https://e.com/r", "interval": "1m", "ref": {"commit": "abc"}},
            InvalidSpecError,
            "full commit SHA",
        ),
        (
            {"url": "https://e.com/r", "interval": "1m", "recurseSubmodules": True},
            Unsupported,
            "submodules",
        ),
        (
            {
                "url": "https://e.com/r",
                "interval": "1m",
                "include": [{"repository": {"name": "x"}, "toPath": "../escape"}],
            },
            InvalidSpecError,
            r"spec.include\[0\].toPath: '../escape' must stay inside the artifact",
        ),
        (
            {"url": "https://e.com/r", "interval": "1m", "include": [{"fromPath": "x"}]},
            InvalidSpecError,
            r"spec.include\[0\].repository is required",
        ),
        (
            {
                "url": "https://e.com/r",
                "interval": "1m",
                "include": [{"repository": {"name": "x"}, "fromPath": "/etc"}],
            },
            InvalidSpecError,
            "must stay inside the artifact",
        ),
        (
            {"url": "https://e.com/r", "interval": "1m", "provider": "github"},
            Unsupported,
            "provider",
        ),
    ],
)
def test_git_repository_refusals_name_the_field(
    spec: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_git_repository(spec)


def _ks(**extra: Any) -> dict[str, Any]:
    return {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        **extra,
    }


def test_kustomization_defaults_and_fields() -> None:
    parsed = parse_kustomization(_ks(), "team")
    assert parsed.source == ObjectRef("GitRepository", "repo", "team")
    assert (parsed.retry_interval, parsed.timeout) == (600.0, 570.0)
    assert parsed.deletion_policy == "MirrorPrune"
    assert not (parsed.wait or parsed.force or parsed.suspend or parsed.decrypt)
    assert parse_kustomization(_ks(interval="40s"), "team").timeout == 30.0  # at least 30s
    full = parse_kustomization(
        _ks(
            path="./apps/../apps/x/",
            dependsOn=[{"name": "infra"}, {"name": "crds", "namespace": "flux-system"}],
            healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
            postBuild={
                "substitute": {"cluster_env": "prod"},
                "substituteFrom": [
                    {"kind": "ConfigMap", "name": "vars"},
                    {"kind": "Secret", "name": "secret-vars", "optional": True},
                ],
            },
            decryption={"provider": "sops", "secretRef": {"name": "sops-age"}},
            deletionPolicy="Orphan",
            wait=True,
            force=True,
        ),
        "team",
    )
    assert full.depends_on == (
        ObjectRef("Kustomization", "infra", "team"),
        ObjectRef("Kustomization", "crds", "flux-system"),
    )
    assert full.health_checks == (ObjectRef("Deployment", "web", "team", "apps/v1"),)
    assert full.substitute == {"cluster_env": "prod"}
    assert full.substitute_from == (
        VarsFrom("ConfigMap", "vars", False),
        VarsFrom("Secret", "secret-vars", True),
    )
    assert (full.decrypt, full.decryption_secret, full.deletion_policy) == (
        True,
        "sops-age",
        "Orphan",
    )


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        ({"prune": None}, InvalidSpecError, "spec.prune is required"),
        ({"sourceRef": None}, InvalidSpecError, "spec.sourceRef is required"),
        ({"sourceRef": {"kind": "HelmRepository", "name": "x"}}, InvalidSpecError, "not one of"),
        (
            {"sourceRef": {"kind": "Bucket", "name": "x"}},
            Unsupported,
            "Bucket sources",
        ),
        (
            {"dependsOn": [{"namespace": "x"}]},
            InvalidSpecError,
            r"spec.dependsOn\[0\].name is required",
        ),
        ({"dependsOn": [{"name": "Bad_Name"}]}, InvalidSpecError, "not a valid Kubernetes name"),
        ({"dependsOn": [{"name": f"d{i}"} for i in range(101)]}, InvalidSpecError, "more than 100"),
        ({"deletionPolicy": "Keep"}, InvalidSpecError, "MirrorPrune"),
        ({"postBuild": {"substitute": {"1x": "v"}}}, InvalidSpecError, "not a valid variable name"),
        ({"postBuild": {"substitute": {"x": 1}}}, InvalidSpecError, "must be a string"),
        (
            {"postBuild": {"substituteFrom": [{"kind": "Pod", "name": "p"}]}},
            InvalidSpecError,
            "ConfigMap or Secret",
        ),
        ({"decryption": {"provider": "vault"}}, InvalidSpecError, "not sops"),
        ({"kubeConfig": {"configMapRef": {"name": "k"}}}, Unsupported, "cloud provider"),
        ({"kubeConfig": {"secretRef": {}}}, InvalidSpecError, "secretRef.name is required"),
        (
            {"healthCheckExprs": [{"apiVersion": "x/v1", "kind": "X"}]},
            InvalidSpecError,
            r"spec.healthCheckExprs\[0\].current is required",
        ),
        (
            {"healthCheckExprs": [{"apiVersion": "x/v1", "kind": "X", "current": "a ="}]},
            InvalidSpecError,
            "invalid CEL expression",
        ),
        ({"timeout": "-1m"}, InvalidSpecError, "must not be negative"),
    ],
)
def test_kustomization_refusals_name_the_field(
    extra: dict[str, Any], error: type[Exception], message: str
) -> None:
    spec = {k: v for k, v in _ks(**extra).items() if v is not None}
    with pytest.raises(error, match=message):
        parse_kustomization(spec, "team")
