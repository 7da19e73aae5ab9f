"""``tether flux`` without a cluster: ``build kustomization`` on Flux's own example repository
and on generated folders (labels, targetNamespace, inline variables), substituteFrom refused by
name when no cluster can be read, and every failure one ``✗`` line, never a traceback. The verbs
that talk to a controller are tested on the real stack in tests/controller/test_flux_cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.corpora import CORPORA
from tether.cli.main import cli

EXAMPLE = CORPORA / "flux2-kustomize-helm-example"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"


@pytest.fixture(autouse=True)
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig can be read: whatever works here works without a cluster."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


def flux(*args: str) -> Result:
    return CliRunner().invoke(cli, ["flux", *args])


def assert_failed(result: Result, fragment: str, code: int = 1) -> None:
    """One ``✗`` line on standard error holding ``fragment``, nothing on standard output."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("✗ "), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == "" and "Traceback" not in result.output


def staging_apps(tmp_path: Path, **changes: Any) -> Path:
    """The example's staging ``apps`` Kustomization, read from a GitRepository (``changes``
    merged into its spec), in a file of its own."""
    doc = yaml.safe_load((EXAMPLE / "clusters" / "staging" / "apps.yaml").read_text())
    doc["spec"]["sourceRef"] = {"kind": "GitRepository", "name": "flux-system"}
    doc["spec"].update(changes)
    path = tmp_path / f"apps-{len(list(tmp_path.glob('apps-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def objects_of(result: Result) -> dict[str, dict[str, Any]]:
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("---\n")
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in docs}


def test_build_prints_the_example_apps_with_flux_labels_and_no_cluster(tmp_path: Path) -> None:
    file = staging_apps(tmp_path)
    result = flux("build", "kustomization", "apps", "--path", str(EXAMPLE / "apps" / "staging"),
                  "--kustomization-file", str(file), "--repo-root", str(EXAMPLE))  # fmt: skip
    objects = objects_of(result)
    assert sorted(objects) == ["HelmRelease/podinfo", "HelmRepository/podinfo", "Namespace/podinfo"]
    for obj in objects.values():
        labels = obj["metadata"]["labels"]
        assert labels[NAME_LABEL] == "apps" and labels[NAMESPACE_LABEL] == "flux-system"
    release = objects["HelmRelease/podinfo"]
    assert release["metadata"]["namespace"] == "podinfo"
    # the staging overlay's patch over the base
    assert release["spec"]["values"]["httpRoute"]["hostnames"] == ["podinfo.staging"]
    assert release["spec"]["chart"]["spec"]["version"] == ">=1.0.0-alpha"
    assert objects["Namespace/podinfo"]["metadata"]["labels"]["toolkit.fluxcd.io/tenant"] == (
        "dev-team"
    )


def test_build_reads_above_the_folder_from_the_current_folder_and_ignores_the_source_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the example's own spec (an ExternalArtifact source): --path replaces the source
    monkeypatch.chdir(EXAMPLE)
    apps = str(EXAMPLE / "clusters" / "staging" / "apps.yaml")
    result = flux("build", "ks", "apps", "--path", "apps/staging", "--kustomization-file", apps)
    assert "HelmRelease/podinfo" in objects_of(result)


def test_build_applies_the_spec_to_a_folder_without_kustomization(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "deploy"
    folder.mkdir(parents=True)
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                 "data": {"env": "${cluster_env}", "region": "${region:=eu}"}}  # fmt: skip
    (folder / "cm.yaml").write_text(yaml.safe_dump(configmap))
    file = staging_apps(
        tmp_path,
        targetNamespace="shop",
        namePrefix="staging-",
        commonMetadata={"labels": {"team": "shop"}},
        postBuild={"substitute": {"cluster_env": "staging"}},
    )
    result = flux("build", "kustomization", "apps", "--path", str(folder),
                  "--kustomization-file", str(file), "-n", "ignored")  # fmt: skip
    cm = objects_of(result)["ConfigMap/staging-settings"]
    assert cm["metadata"]["namespace"] == "shop"
    assert cm["data"] == {"env": "staging", "region": "eu"}
    assert cm["metadata"]["labels"] == {
        "team": "shop",
        NAME_LABEL: "apps",
        NAMESPACE_LABEL: "flux-system",  # the file's namespace, not -n
    }


def test_a_missing_variable_fails_the_build_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                 "data": {"env": "${cluster_env}"}}  # fmt: skip
    (folder / "cm.yaml").write_text(yaml.safe_dump(configmap))
    file = staging_apps(tmp_path, postBuild={"substitute": {"other": "x"}})
    result = flux("build", "ks", "apps", "--path", str(folder), "--kustomization-file", str(file))
    assert_failed(result, "cluster_env")


def test_substitute_from_without_a_cluster_is_refused_naming_the_source(tmp_path: Path) -> None:
    postBuild = {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]}
    file = staging_apps(tmp_path, postBuild=postBuild)
    args = ("build", "ks", "apps", "--path", str(tmp_path), "--kustomization-file", str(file))
    result = flux(*args)
    assert_failed(result, "postBuild.substituteFrom ConfigMap 'flux-system/cluster-vars'")
    assert "needs the cluster" in result.stderr and "no-kubeconfig" in result.stderr
    assert_failed(flux(*args, "--dry-run"), "--dry-run reads none")


def test_build_errors_are_one_line(tmp_path: Path) -> None:
    file = staging_apps(tmp_path)
    path = ("--path", str(tmp_path))
    assert_failed(
        flux("build", "ks", "web", *path, "--kustomization-file", str(file)),
        "no Flux Kustomization named 'web' (found: apps)",
    )
    assert_failed(flux("build", "ks", "apps", *path, "--dry-run"), "requires a kustomization file")
    # without a file the Kustomization is read from the cluster: there is none
    assert_failed(flux("build", "ks", "apps", *path), "no-kubeconfig")
    broken = staging_apps(tmp_path, patchesStrategicMerge=["x.yaml"])
    assert_failed(
        flux("build", "ks", "apps", *path, "--kustomization-file", str(broken)),
        "spec.patchesStrategicMerge is not part of kustomize.toolkit.fluxcd.io/v1",
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    elsewhere = ("--kustomization-file", str(file), "--repo-root", str(outside))
    assert_failed(
        flux("build", "ks", "apps", *path, *elsewhere),
        "is not inside the repository root",
    )


def test_unknown_kinds_are_named_with_the_kinds_served() -> None:
    assert_failed(
        flux("get", "images"),
        "unknown kind 'images' for 'cli flux get': it takes helmreleases, kustomizations, "
        "sources (image automation is not handled by tether flux yet)",
    )
    assert_failed(flux("reconcile", "source", "bucket", "x"), "it takes git, helm, oci (Bucket")
    assert_failed(flux("get", "source", "bucket"), "it takes chart, git, helm, oci (Bucket")
    assert_failed(flux("suspend", "podinfo", "x"), "it takes helmrelease, kustomization, source")
    assert_failed(flux("build", "hr", "x"), "it takes kustomization")


def test_cluster_verbs_without_a_cluster_fail_in_one_line() -> None:
    for args in (
        ("get", "ks"),
        ("get", "sources", "git", "-A"),
        ("reconcile", "ks", "apps", "--with-source"),
        ("suspend", "source", "git", "flux-system"),
        ("resume", "kustomization", "apps"),
    ):
        assert_failed(flux(*args), "no-kubeconfig")
    result = flux("reconcile", "ks", "apps", "--timeout", "soon")
    assert result.exit_code == 2 and 'invalid duration "soon"' in result.output
