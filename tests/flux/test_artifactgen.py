"""ArtifactGenerator specs and copy plans: the flux2-kustomize-helm-example monorepo split into
its `infrastructure` and `apps` artifacts as source-watcher splits it, and Flux's documented
composition examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.corpora import CORPORA
from tether.fields import InvalidSpecError
from tether.flux.artifactgen import CopyError, parse_generator, plan
from tether.flux.specs import Unsupported

EXAMPLE = CORPORA / "flux2-kustomize-helm-example"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_helm_example_monorepo_is_split_as_source_watcher_splits_it() -> None:
    docs = list(yaml.safe_load_all((EXAMPLE / "clusters/staging/artifacts.yaml").read_text()))
    generator = next(d for d in docs if d and d["kind"] == "ArtifactGenerator")
    spec = parse_generator(generator["spec"], "flux-system")
    files = {"monorepo": _files(EXAMPLE)}
    infrastructure, apps = (plan(a, files) for a in spec.artifacts)
    assert infrastructure["controllers/cert-manager.yaml"] == (
        "monorepo", "infrastructure/controllers/cert-manager.yaml",
    )  # fmt: skip
    assert set(infrastructure) == {p.removeprefix("infrastructure/") for p in files["monorepo"]
                                   if p.startswith("infrastructure/")}  # fmt: skip
    assert apps["base/podinfo/release.yaml"] == ("monorepo", "apps/base/podinfo/release.yaml")
    assert apps["staging/kustomization.yaml"] == ("monorepo", "apps/staging/kustomization.yaml")
    assert not any(path.startswith("production/") for path in apps)
    assert spec.artifacts[0].origin_alias == "monorepo"


def test_files_folders_globs_and_exclusions() -> None:
    spec = parse_generator(
        {"sources": [{"alias": "a", "kind": "GitRepository", "name": "r"}],
         "artifacts": [{"name": "x", "copy": [
             {"from": "@a/deploy/**/*.yaml", "to": "@artifact/app/"},
             {"from": "@a/envs/prod/configmap.yaml", "to": "@artifact/app/env.yaml"},
             {"from": "@a/envs/prod/configmap.yaml", "to": "@artifact/cfg/"},
             {"from": "@a/charts", "to": "@artifact/", "exclude": ["**/*.md"]},
         ]}]},
        "apps",
    )  # fmt: skip
    listing = ["deploy/a.yaml", "deploy/sub/b.yaml", "deploy/readme.md",
               "envs/prod/configmap.yaml", "charts/web/Chart.yaml", "charts/web/README.md"]  # fmt: skip
    placed = plan(spec.artifacts[0], {"a": listing})
    assert placed == {
        "app/a.yaml": ("a", "deploy/a.yaml"),
        "app/sub/b.yaml": ("a", "deploy/sub/b.yaml"),
        "app/env.yaml": ("a", "envs/prod/configmap.yaml"),
        "cfg/configmap.yaml": ("a", "envs/prod/configmap.yaml"),
        "charts/web/Chart.yaml": ("a", "charts/web/Chart.yaml"),
    }
    with pytest.raises(CopyError, match="matches no file"):
        plan(spec.artifacts[0], {"a": ["other.yaml"]})


@pytest.mark.parametrize(
    ("artifact", "error", "text"),
    [
        ({"name": "x", "copy": [{"from": "@b/x", "to": "@artifact/"}]}, InvalidSpecError, "names no source"),
        ({"name": "x", "copy": [{"from": "@a/../x", "to": "@artifact/"}]}, InvalidSpecError, "leaves the source"),
        ({"name": "x", "copy": [{"from": "@a/x", "to": "/etc/"}]}, InvalidSpecError, "@artifact/"),
        ({"name": "x", "copy": [{"from": "@a/x", "to": "@artifact/../../x"}]}, InvalidSpecError, "leaves"),
        ({"name": "x", "copy": [{"from": "@a/x", "to": "@artifact/", "strategy": "Merge"}]}, Unsupported, "Merge"),
        ({"name": "x", "revision": "@z", "copy": [{"from": "@a/x", "to": "@artifact/"}]}, InvalidSpecError, "@<alias>"),
    ],
)  # fmt: skip
def test_refusals(artifact: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=text.replace(".", r"\.")):
        parse_generator(
            {
                "sources": [{"alias": "a", "kind": "GitRepository", "name": "r"}],
                "artifacts": [artifact],
            },
            "apps",
        )
    with pytest.raises(Unsupported, match="Bucket"):
        parse_generator({"sources": [{"alias": "a", "kind": "Bucket", "name": "r"}],
                         "artifacts": [artifact]}, "apps")  # fmt: skip
