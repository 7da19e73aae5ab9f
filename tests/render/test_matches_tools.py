"""Renders equal what the tools print when run directly, on the shared corpora."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.render.conftest import DATA, helm_directly, kustomize_directly
from tether.render import HELM, JSONNET, KUSTOMIZE, render


def without_random_test_names(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """podinfo's test Pods end their names in ``randAlphaNum 5``: every helm run differs there."""
    out = []
    for obj in objects:
        if "test" in obj["metadata"].get("annotations", {}).get("helm.sh/hook", ""):
            name = re.sub(r"-[a-z0-9]{5}$", "-RANDOM", obj["metadata"]["name"])
            obj = {**obj, "metadata": {**obj["metadata"], "name": name}}
        out.append(obj)
    return out


def test_podinfo_kustomize_matches_kubectl_kustomize(corpora: Path) -> None:
    result = render(corpora / "podinfo", "kustomize")
    assert result.tool == KUSTOMIZE
    assert result.objects == kustomize_directly(corpora / "podinfo" / "kustomize")
    assert [o["kind"] for o in result.objects] == [
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
    ]


def test_podinfo_chart_matches_helm_template(corpora: Path) -> None:
    chart = corpora / "podinfo" / "charts" / "podinfo"
    result = render(corpora / "podinfo", "charts/podinfo", {}, app_name="podinfo")
    assert result.tool == HELM
    assert without_random_test_names(result.objects) == without_random_test_names(
        helm_directly("podinfo", chart)
    )


def test_podinfo_chart_with_prod_values_matches_helm_template(corpora: Path) -> None:
    chart = corpora / "podinfo" / "charts" / "podinfo"
    source = {"helm": {"valueFiles": ["values-prod.yaml"]}}
    result = render(corpora / "podinfo", "charts/podinfo", source, app_name="podinfo")
    expected = helm_directly("podinfo", chart, "--values", str(chart / "values-prod.yaml"))
    assert without_random_test_names(result.objects) == without_random_test_names(expected)
    plain = render(corpora / "podinfo", "charts/podinfo", {}, app_name="podinfo")
    assert len(result.objects) > len(plain.objects)


def test_helm_hooks_and_tests_are_kept_with_their_annotations(corpora: Path) -> None:
    result = render(corpora / "podinfo", "charts/podinfo", {}, app_name="podinfo")
    hooks = [o for o in result.objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    assert hooks, "helm template prints hooks; the render keeps them"
    assert all(o["metadata"]["annotations"]["helm.sh/hook"] for o in hooks)


@pytest.mark.parametrize("overlay", ["apps/staging", "apps/production"])
def test_flux_example_overlays_match_kubectl_kustomize(corpora: Path, overlay: str) -> None:
    root = corpora / "flux2-kustomize-helm-example"
    result = render(root, overlay)
    assert result.objects == kustomize_directly(root / overlay)
    kinds = sorted(o["kind"] for o in result.objects)
    assert kinds == ["HelmRelease", "HelmRepository", "Namespace"]


def test_flux_overlays_differ_in_their_helm_release_values(corpora: Path) -> None:
    root = corpora / "flux2-kustomize-helm-example"
    staging = render(root, "apps/staging").objects
    production = render(root, "apps/production").objects
    release = next(o for o in staging if o["kind"] == "HelmRelease")
    assert release != next(o for o in production if o["kind"] == "HelmRelease")


def test_jsonnet_app_with_ext_vars_and_tlas() -> None:
    source = {
        "directory": {
            "jsonnet": {
                "extVars": [
                    {"name": "env", "value": "$ARGOCD_APP_NAME"},
                    {"name": "tag", "value": "0.2"},
                ],
                "tlas": [{"name": "replicas", "value": "3", "code": True}],
            }
        }
    }
    result = render(DATA, "jsonnet-app", source, app_name="prod")
    assert result.tool == JSONNET
    names = [(o["kind"], o["metadata"]["name"]) for o in result.objects]
    # files in name order: config.jsonnet (a List, flattened) before guestbook.jsonnet
    assert names == [
        ("ConfigMap", "guestbook-settings"),
        ("Deployment", "guestbook-prod"),
        ("Service", "guestbook-prod"),
    ]
    deployment = result.objects[1]
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "gcr.io/heptio-images/ks-guestbook-demo:0.2"
    assert result.objects[0]["data"] == {"env": "prod"}
    # the output is plain JSON data, as the later stages expect
    assert orjson.loads(orjson.dumps(result.objects)) == result.objects


def test_jsonnet_string_tla_is_passed_as_string() -> None:
    source = {
        "directory": {
            "include": "guestbook.jsonnet",
            "jsonnet": {
                "extVars": [{"name": "env", "value": "dev"}, {"name": "tag", "value": "1"}],
                "tlas": [{"name": "replicas", "value": "2"}],
            },
        }
    }
    result = render(DATA, "jsonnet-app", source)
    assert result.objects[0]["spec"]["replicas"] == "2"
    assert len(result.objects) == 2
