"""HelmRepository and HelmRelease specs read with Flux's defaults; what Flux refuses is refused
naming the field, and what Tether does not carry out says so."""

from __future__ import annotations

from typing import Any

import pytest

from tether.fields import InvalidSpecError
from tether.flux.helmspecs import parse_helm_release, parse_helm_repository, release_name
from tether.flux.specs import Unsupported


def release(**spec: Any) -> dict[str, Any]:
    return {
        "interval": "10m",
        "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository",
                                                             "name": "podinfo"}}},
        **spec,
    }  # fmt: skip


def test_defaults_are_flux_defaults() -> None:
    spec = parse_helm_release(release(), "apps", "web")
    assert spec.release_name == "web"
    assert spec.target_namespace == spec.storage_namespace == "apps"
    assert spec.chart.version == "*"
    assert spec.chart.source.namespace == "apps"
    assert spec.timeout == 300.0 and spec.max_history == 5
    assert spec.install.skip_crds is False  # install creates CRDs by default
    assert spec.install_remediation.retries == 0
    assert spec.install_remediation.must_remediate_last_failure is False
    assert spec.upgrade_remediation.strategy == "rollback"
    assert spec.test.enable is False


def test_release_name_takes_the_target_namespace_and_is_shortened_as_flux_does() -> None:
    assert release_name("web", "prod") == "prod-web"
    long = release_name("a" * 40, "b" * 20)
    assert len(long) == 53 and long.startswith("b" * 20 + "-" + "a" * 19)
    assert release_name("a" * 40, "b" * 20) == long  # stable


def test_remediation_defaults_follow_retries() -> None:
    spec = parse_helm_release(
        release(upgrade={"remediation": {"retries": 2, "strategy": "uninstall"}},
                install={"remediation": {"retries": -1}, "crds": "Skip"}),
        "apps", "web",
    )  # fmt: skip
    assert spec.upgrade_remediation.must_remediate_last_failure is True
    assert spec.upgrade_remediation.strategy == "uninstall"
    assert spec.upgrade_remediation.exhausted(2) is False
    assert spec.upgrade_remediation.exhausted(3) is True
    assert spec.install_remediation.retries_infinite
    assert spec.install_remediation.exhausted(1000) is False
    assert spec.install.skip_crds is True


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"interval": None}, "spec.interval"),
        ({"chart": {"spec": {"chart": "x"}}}, "spec.chart.spec.sourceRef"),
        ({"chart": {"spec": {"chart": "x", "sourceRef": {"kind": "Git", "name": "r"}}}},
         "spec.chart.spec.sourceRef.kind"),
        ({"releaseName": "Not_Valid"}, "spec.releaseName"),
        ({"valuesFrom": [{"kind": "Pod", "name": "x"}]}, "spec.valuesFrom[0].kind"),
        ({"upgrade": {"remediation": {"strategy": "explode"}}}, "spec.upgrade.remediation.strategy"),
        ({"install": {"strategy": {"name": "Sometimes"}}}, "spec.install.strategy.name"),
    ],
)  # fmt: skip
def test_invalid_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in release(**spec).items() if v is not None}
    with pytest.raises(InvalidSpecError) as caught:
        parse_helm_release(body, "apps", "web")
    assert field.split("[")[0] in caught.value.message


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"chart": None, "chartRef": {"kind": "HelmChart", "name": "x"}}, "spec.chartRef.kind"),
        ({"postRenderers": [{"kustomize": {"patchesJson6902": []}}]}, "patchesJson6902"),
        (
            {
                "driftDetection": {
                    "mode": "warn",
                    "ignore": [{"paths": ["/spec"], "target": {"labelSelector": "a=b"}}],
                }
            },
            "labelSelector",
        ),
        ({"kubeConfig": {"configMapRef": {"name": "x"}}}, "spec.kubeConfig.configMapRef"),
        ({"storageNamespace": "other"}, "spec.storageNamespace"),
        ({"test": {"enable": True, "filters": [{"name": "x"}]}}, "spec.test.filters"),
    ],
)
def test_what_tether_does_not_carry_out_is_named(spec: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in release(**spec).items() if v is not None}
    with pytest.raises(Unsupported) as caught:
        parse_helm_release(body, "apps", "web")
    assert field in caught.value.message


def test_helm_repositories() -> None:
    plain = parse_helm_repository({"url": "https://charts.example.com", "interval": "5m"})
    assert not plain.oci and plain.interval == 300.0
    oci = parse_helm_repository(
        {"url": "oci://ghcr.io/org/charts", "type": "oci", "insecure": True}
    )
    assert oci.oci and oci.insecure
    with pytest.raises(InvalidSpecError, match="oci:// URL"):
        parse_helm_repository({"url": "https://x", "type": "oci"})
    with pytest.raises(InvalidSpecError, match=r"spec\.url"):
        parse_helm_repository({"url": "ftp://x"})


def test_drift_detection_and_its_ignore_rules() -> None:
    spec = parse_helm_release(
        release(driftDetection={"mode": "enabled", "ignore": [
            {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
            {"paths": ["/metadata/annotations/x"]}]}),
        "apps", "web",
    )  # fmt: skip
    assert spec.drift_mode == "enabled"
    deployment, anything = spec.drift_ignore
    assert deployment.matches("apps", "Deployment", "apps", "web")
    assert not deployment.matches("", "Service", "apps", "web")
    assert anything.matches("", "Service", "apps", "web")
    assert parse_helm_release(release(), "apps", "web").drift_mode == "disabled"
    with pytest.raises(InvalidSpecError, match="must start with '/'"):
        parse_helm_release(release(driftDetection={"ignore": [{"paths": ["spec"]}]}), "a", "b")
    with pytest.raises(InvalidSpecError, match=r"spec\.driftDetection\.mode"):
        parse_helm_release(release(driftDetection={"mode": "sometimes"}), "a", "b")


def test_chart_ref_names_an_oci_repository() -> None:
    body = {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}
    spec = parse_helm_release(body, "apps", "web")
    assert (spec.chart.source.kind, spec.chart.source.name, spec.chart.source.namespace) == (
        "OCIRepository", "podinfo", "apps",
    )  # fmt: skip
    with pytest.raises(InvalidSpecError, match="only one of them"):
        parse_helm_release(release(chartRef={"kind": "OCIRepository", "name": "x"}), "a", "b")


def test_post_renderers_keep_inline_patches_and_images() -> None:
    spec = parse_helm_release(release(postRenderers=[{"kustomize": {
        "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /x"}],
        "images": [{"name": "nginx", "newTag": "2"}]}}]), "apps", "web")  # fmt: skip
    assert spec.post_renderers == (
        {"patches": [{"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /x"}],
         "images": [{"name": "nginx", "newTag": "2"}]},
    )  # fmt: skip
    with pytest.raises(InvalidSpecError, match="inline patch"):
        parse_helm_release(release(postRenderers=[{"kustomize": {"patches": [{"path": "x.yaml"}]}}]),
                           "apps", "web")  # fmt: skip
