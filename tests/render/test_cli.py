"""``tether render DIR`` prints what the render stage produces for a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.render.bounded import run_tether
from tests.render.conftest import kustomize_directly, load_docs, writable_copy, write
from tether.cli.render import render_command


def test_render_kustomize_folder_prints_yaml(corpora: Path) -> None:
    result = CliRunner().invoke(render_command, [str(corpora / "podinfo" / "kustomize")])
    assert result.exit_code == 0, result.output
    assert load_docs(result.stdout) == kustomize_directly(corpora / "podinfo" / "kustomize")


def test_render_json_prints_a_kubectl_style_list(corpora: Path) -> None:
    result = CliRunner().invoke(
        render_command, [str(corpora / "podinfo" / "kustomize"), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "List"
    assert [o["kind"] for o in document["items"]] == [
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
    ]


def test_helm_values_path_relative_to_current_folder(
    corpora: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(corpora / "podinfo" / "charts")
    runner = CliRunner()
    plain = runner.invoke(render_command, ["podinfo"])
    prod = runner.invoke(render_command, ["podinfo", "--helm-values", "podinfo/values-prod.yaml"])
    assert plain.exit_code == 0 and prod.exit_code == 0, prod.output
    kinds = [o["kind"] for o in load_docs(prod.stdout)]
    assert "ConfigMap" in kinds
    assert "ConfigMap" not in [o["kind"] for o in load_docs(plain.stdout)]


def test_kustomize_image_option_changes_the_image(corpora: Path) -> None:
    result = CliRunner().invoke(
        render_command,
        [
            str(corpora / "podinfo" / "kustomize"),
            "--kustomize-image",
            "ghcr.io/stefanprodan/podinfo:9.9.9",
        ],
    )
    assert result.exit_code == 0, result.output
    deployment = next(o for o in load_docs(result.stdout) if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9.9")


def test_overlay_in_a_git_work_tree_reaches_its_base(tmp_path: Path, corpora: Path) -> None:
    repo = writable_copy(corpora / "flux2-kustomize-helm-example", tmp_path / "repo")
    (repo / ".git").mkdir()
    result = CliRunner().invoke(render_command, [str(repo / "apps" / "staging")])
    assert result.exit_code == 0, result.output
    assert sorted(o["kind"] for o in load_docs(result.stdout)) == [
        "HelmRelease",
        "HelmRepository",
        "Namespace",
    ]


def test_render_error_is_a_message_and_exit_code_one(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.yaml": "apiVersion: v1\nmetadata: {name: a}\n"})
    result = CliRunner().invoke(render_command, [str(tmp_path / "app")])
    assert result.exit_code == 1
    assert 'x.yaml:1: object has no "kind"' in result.output
    assert "Traceback" not in result.output


def test_directory_options(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "app/sub/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            "app/sub/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        },
    )
    result = CliRunner().invoke(
        render_command, [str(tmp_path / "app"), "--recurse", "--exclude", "sub/c.yaml"]
    )
    assert result.exit_code == 0, result.output
    assert [o["metadata"]["name"] for o in load_docs(result.stdout)] == ["a", "b"]


def test_application_manifest_supplies_source_and_names(tmp_path: Path, corpora: Path) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "podinfo-prod"},
        "spec": {
            "source": {
                "repoURL": "https://github.com/stefanprodan/podinfo",
                "path": "charts/podinfo",
                "helm": {"valueFiles": ["values-prod.yaml"]},
            },
            "destination": {"namespace": "prod"},
        },
    }
    app_file = tmp_path / "app.yaml"
    app_file.write_text(yaml.safe_dump(app))
    result = CliRunner().invoke(
        render_command, [str(corpora / "podinfo"), "--application", str(app_file)]
    )
    assert result.exit_code == 0, result.output
    objs = load_docs(result.stdout)
    assert all(o["metadata"]["name"].startswith("podinfo-prod") for o in objs)
    assert "ConfigMap" in {o["kind"] for o in objs}  # values-prod.yaml turns redis on
    assert "prod" in {o["metadata"].get("namespace") for o in objs}


def test_application_file_deep_or_huge_is_one_line_error(tmp_path: Path) -> None:
    write(tmp_path, {"repo/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
    deep = tmp_path / "deep.yaml"
    deep.write_text("spec: " + "[" * 50_000 + "]" * 50_000 + "\n")
    run = run_tether(["render", str(tmp_path / "repo"), "--application", str(deep)])
    assert run.returncode == 1, run.stderr.decode()[-2000:]
    assert run.stderr.decode().splitlines() == [
        f"Error: {deep}:1: nested deeper than 128 levels (YAML depth limit)"
    ]
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:
        fh.truncate(8 * 1024**3)  # sparse: read whole, it would need 8 GiB
    run = run_tether(["render", str(tmp_path / "repo"), "--application", str(huge)])
    assert run.returncode == 1, run.stderr.decode()[-2000:]
    assert run.stderr.decode().splitlines() == [
        f"Error: {huge}: larger than 10485760 bytes; not an Application"
    ]
