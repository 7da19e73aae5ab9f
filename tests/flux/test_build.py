"""The Flux build copies only the Kustomization's folder when nothing in it can reach outside."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.corpora import CORPORA
from tether.flux import sourceignore
from tether.flux.build import BuildInput, build, self_contained
from tether.flux.kustomizations import parse_build_options


def _cm(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})


def _input(path: str, **spec: object) -> BuildInput:
    return BuildInput("flux-system", "app", path, parse_build_options(spec))


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_plain_folder_is_copied_alone_and_builds(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"apps/a/cm.yaml": _cm("a"), "apps/b/cm.yaml": _cm("b")})
    assert self_contained(tree, _input("apps/a")) == "apps/a"
    objects = build(tree, _input("apps/a", targetNamespace="team"))
    assert [(o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [("a", "team")]
    assert objects[0]["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"


def test_a_folder_reaching_outside_gets_the_whole_source(tmp_path: Path) -> None:
    kustomization = yaml.safe_dump({"resources": ["../../base"]})
    tree = _tree(
        tmp_path,
        {
            "base/cm.yaml": _cm("base"),
            "base/kustomization.yaml": yaml.safe_dump({"resources": ["cm.yaml"]}),
            "apps/a/kustomization.yaml": kustomization,
        },
    )
    assert self_contained(tree, _input("apps/a")) == ""
    assert [o["metadata"]["name"] for o in build(tree, _input("apps/a"))] == ["base"]
    assert self_contained(tree, _input("base", components=["../x"])) == ""
    assert self_contained(tree, _input("")) == ""


def test_a_link_in_the_folder_gets_the_whole_source(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"shared/cm.yaml": _cm("shared"), "apps/a/own.yaml": _cm("own")})
    os.symlink("../../shared/cm.yaml", tree / "apps" / "a" / "shared.yaml")
    assert self_contained(tree, _input("apps/a")) == ""
    names = sorted(o["metadata"]["name"] for o in build(tree, _input("apps/a")))
    assert names == ["own", "shared"]


@pytest.mark.parametrize("case", ["basic", "with-gitlab-ci", "with-sops"])
def test_what_flux_artifacts_leave_out_never_reaches_the_build(tmp_path: Path, case: str) -> None:
    """fluxcd/pkg's ignore-tests: CI and SOPS configuration beside the manifests are not part
    of a Flux artifact, so the generated kustomization lists the Deployment alone."""
    tree = tmp_path / "tree"
    shutil.copytree(CORPORA / "fluxcd-pkg" / "testdata" / "ignore-tests" / case, tree / "app")
    (tree / "app" / ".github" / "workflows").mkdir(parents=True)
    (tree / "app" / ".github" / "workflows" / "ci.yaml").write_text("on: push\n")
    assert [o["kind"] for o in build(tree, _input("app"))] == ["Deployment"]


def test_sourceignore_files_and_spec_ignore_leave_out_more(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "app/cm.yaml": _cm("kept"),
            "app/draft.yaml": _cm("draft"),
            "app/tests/fixture.yaml": _cm("fixture"),
            "app/values.yaml": "replicas: 3\n",
            "app/.sourceignore": "tests/\n*.yaml\n!cm.yaml\n!draft.yaml\n",
        },
    )
    names = [o["metadata"]["name"] for o in build(tree, _input("app"))]
    assert sorted(names) == ["draft", "kept"]
    ignoring = BuildInput("flux-system", "app", "app", parse_build_options({}), ignore="draft.yaml")
    assert [o["metadata"]["name"] for o in build(tree, ignoring)] == ["kept"]


def test_ignore_rules_read_as_gitignore() -> None:
    rules = sourceignore.parse("/deploy/secret.yaml\n*.md\n!keep.md\nbuild/\n**/tmp/*.yaml\n# c\n")
    ignore = sourceignore.SourceIgnore(
        sourceignore.parse("\n".join(sourceignore.DEFAULT_PATTERNS)) + rules
    )
    cases = {
        (".github", True): True,
        ("a/.github", True): True,
        ("x/.sops.yaml", False): True,
        ("logo.png", False): True,
        ("deploy/secret.yaml", False): True,
        ("x/deploy/secret.yaml", False): False,  # anchored to its folder
        ("README.md", False): True,
        ("keep.md", False): False,  # included again
        ("build", True): True,
        ("build", False): False,  # folders only
        ("tmp/x.yaml", False): True,
        ("a/b/tmp/x.yaml", False): True,
        ("app/cm.yaml", False): False,
    }
    assert {case: ignore.ignored(*case) for case in cases} == cases
    nested = sourceignore.SourceIgnore(sourceignore.parse("*.yaml", "app"))
    assert nested.ignored("app/a.yaml", False) and not nested.ignored("other/a.yaml", False)
