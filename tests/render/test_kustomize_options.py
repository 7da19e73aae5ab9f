"""An Application's kustomize options change the output as Argo CD's ``kustomize edit`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.render.conftest import write
from tether.render import RenderError, render

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
      - name: sidecar
        image: registry.example.com/tools/proxy:0.1
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "app/kustomization.yaml": "namePrefix: own-\ncommonLabels:\n  tier: frontend\n"
            "images:\n- name: nginx\n  newTag: '1.1'\nresources:\n- deployment.yaml\n"
            "- service.yaml\n",
            "app/deployment.yaml": DEPLOYMENT,
            "app/service.yaml": SERVICE,
            "app/monitoring/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\ncommonAnnotations:\n  monitored: 'true'\n",
        },
    )


def by_kind(root: Path, options: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    result = render(root, "app", {"kustomize": options}, **kwargs)
    return {o["kind"]: o for o in result.objects}


def images(deployment: dict[str, Any]) -> list[str]:
    return [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]


def test_without_options_the_kustomization_is_built_as_written(app: Path) -> None:
    objs = by_kind(app, {})
    assert objs["Deployment"]["metadata"]["name"] == "own-web"
    assert images(objs["Deployment"])[0] == "nginx:1.1"


def test_name_prefix_and_suffix_replace_the_apps_own(app: Path) -> None:
    objs = by_kind(app, {"namePrefix": "argo-", "nameSuffix": "-v2"})
    assert objs["Deployment"]["metadata"]["name"] == "argo-web-v2"
    assert objs["Service"]["metadata"]["name"] == "argo-web-v2"


def test_images_override_tags_names_and_digests(app: Path) -> None:
    objs = by_kind(
        app,
        {
            "images": [
                "nginx:2.0",
                "registry.example.com/tools/proxy=mirror.local:5000/proxy@sha256:abc123",
            ]
        },
    )
    assert images(objs["Deployment"]) == ["nginx:2.0", "mirror.local:5000/proxy@sha256:abc123"]


def test_image_new_name_keeps_the_kustomization_tag(app: Path) -> None:
    objs = by_kind(app, {"images": ["nginx=quay.io/nginx/nginx"]})
    assert images(objs["Deployment"])[0] == "quay.io/nginx/nginx:1.1"


def test_image_with_build_environment_variable(app: Path) -> None:
    objs = by_kind(app, {"images": ["nginx:$ARGOCD_APP_REVISION_SHORT"]}, revision="0123456789ab")
    assert images(objs["Deployment"])[0] == "nginx:0123456"


def test_replicas_set_the_count(app: Path) -> None:
    objs = by_kind(app, {"replicas": [{"name": "web", "count": 4}]})
    assert objs["Deployment"]["spec"]["replicas"] == 4


def test_common_labels_reach_selectors(app: Path) -> None:
    objs = by_kind(app, {"commonLabels": {"team": "payments"}})
    assert objs["Deployment"]["metadata"]["labels"]["team"] == "payments"
    assert objs["Deployment"]["spec"]["selector"]["matchLabels"]["team"] == "payments"
    assert objs["Service"]["spec"]["selector"]["team"] == "payments"


def test_common_label_already_set_needs_force(app: Path) -> None:
    with pytest.raises(RenderError, match=r"^app/kustomization.yaml: label tier is already set"):
        by_kind(app, {"commonLabels": {"tier": "backend"}})
    objs = by_kind(app, {"commonLabels": {"tier": "backend"}, "forceCommonLabels": True})
    assert objs["Service"]["metadata"]["labels"]["tier"] == "backend"


def test_labels_without_selector_leave_selectors_alone(app: Path) -> None:
    objs = by_kind(app, {"commonLabels": {"team": "x"}, "labelWithoutSelector": True})
    assert objs["Deployment"]["metadata"]["labels"]["team"] == "x"
    assert "team" not in objs["Deployment"]["spec"]["selector"]["matchLabels"]


def test_common_annotations_with_envsubst(app: Path) -> None:
    options = {
        "commonAnnotations": {"owner": "$ARGOCD_APP_NAME", "raw": "$ARGOCD_APP_NAME"},
        "commonAnnotationsEnvsubst": True,
    }
    objs = by_kind(app, options, app_name="shop")
    assert objs["Service"]["metadata"]["annotations"] == {"owner": "shop", "raw": "shop"}
    objs = by_kind(app, {"commonAnnotations": {"raw": "$ARGOCD_APP_NAME"}}, app_name="shop")
    assert objs["Service"]["metadata"]["annotations"] == {"raw": "$ARGOCD_APP_NAME"}


def test_namespace_is_set_on_every_object(app: Path) -> None:
    objs = by_kind(app, {"namespace": "team-a"})
    assert {o["metadata"]["namespace"] for o in objs.values()} == {"team-a"}


def test_patches_target_names_before_the_prefix(app: Path) -> None:
    patch = {
        "target": {"kind": "Deployment", "name": "web"},
        "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: 'yes'}\n",
    }
    objs = by_kind(app, {"patches": [patch], "namePrefix": "argo-"})
    assert objs["Deployment"]["metadata"]["annotations"] == {"patched": "yes"}
    assert objs["Deployment"]["metadata"]["name"] == "argo-web"


def test_components_are_added_and_missing_ones_fail_unless_ignored(app: Path) -> None:
    objs = by_kind(app, {"components": ["monitoring"]})
    assert objs["Service"]["metadata"]["annotations"] == {"monitored": "true"}
    with pytest.raises(RenderError, match="component 'absent' not found"):
        by_kind(app, {"components": ["absent"]})
    result = render(
        app, "app", {"kustomize": {"components": ["absent"], "ignoreMissingComponents": True}}
    )
    assert any("absent" in w for w in result.warnings)
