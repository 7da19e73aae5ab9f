"""The Flux build copies only the Kustomization's folder when nothing in it can reach outside."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

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
