"""An Application's helm options reach ``helm template`` as Argo CD passes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.render.conftest import write
from tether.render import RenderError, render

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  numberKind: {{ kindOf .Values.number | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  file: {{ .Values.fileContent | default "" | quote }}
  list: {{ .Values.list | default "" | quote }}
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true}]
"""
HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox}]
"""
TEST_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers: [{name: t, image: busybox}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n"
            "- name: common\n  version: 0.1.0\n  repository: file://../common\n",
            "chart/values.yaml": "greeting: from-values-yaml\nnumber: 1\n",
            "chart/values-a.yaml": "greeting: from-value-file\n",
            "chart/greeting.txt": "file content",
            "chart/crds/widget.yaml": CRD,
            "chart/templates/cm.yaml": CONFIGMAP,
            "chart/templates/hook.yaml": HOOK,
            "chart/templates/tests/test.yaml": TEST_POD,
            "common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 0.1.0\n",
            "common/templates/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\n"
            "metadata:\n  name: {{ .Release.Name }}-common\n",
        },
    )


def helm(repo: Path, options: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    result = render(repo, "chart", {"helm": options}, **kwargs)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in result.objects}


def test_release_name_defaults_to_app_name_and_namespace_to_destination(repo: Path) -> None:
    objs = helm(repo, {}, app_name="shop", namespace="prod")
    cm = objs["ConfigMap/shop-cfg"]
    assert cm["metadata"]["namespace"] == "prod"
    objs = helm(repo, {"releaseName": "rel", "namespace": "other"}, app_name="shop")
    assert objs["ConfigMap/rel-cfg"]["metadata"]["namespace"] == "other"


def test_local_file_dependency_is_built_without_network(repo: Path) -> None:
    objs = helm(repo, {}, app_name="shop")
    assert "ServiceAccount/shop-common" in objs


def test_remote_dependency_that_is_not_vendored_is_an_error(repo: Path) -> None:
    (repo / "chart" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n"
        "- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n"
    )
    with pytest.raises(RenderError, match=r"^chart/Chart.yaml: chart dependency redis"):
        helm(repo, {})


def test_crds_and_hooks_and_tests_are_kept_by_default(repo: Path) -> None:
    objs = helm(repo, {}, app_name="shop")
    assert "CustomResourceDefinition/widgets.example.com" in objs
    job = objs["Job/shop-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert objs["Pod/shop-test"]["metadata"]["annotations"] == {"helm.sh/hook": "test"}


def test_skip_crds_and_skip_tests(repo: Path) -> None:
    objs = helm(repo, {"skipCrds": True, "skipTests": True}, app_name="shop")
    assert "CustomResourceDefinition/widgets.example.com" not in objs
    assert "Pod/shop-test" not in objs
    assert "Job/shop-migrate" in objs


def data(objs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return next(o for k, o in objs.items() if k.startswith("ConfigMap/"))["data"]


def test_value_precedence_files_then_inline_then_parameters(repo: Path) -> None:
    assert data(helm(repo, {}))["greeting"] == "from-values-yaml"
    assert data(helm(repo, {"valueFiles": ["values-a.yaml"]}))["greeting"] == "from-value-file"
    options: dict[str, Any] = {"valueFiles": ["values-a.yaml"], "values": "greeting: inline\n"}
    assert data(helm(repo, options))["greeting"] == "inline"
    options["valuesObject"] = {"greeting": "object"}
    assert data(helm(repo, options))["greeting"] == "object"
    options["parameters"] = [{"name": "greeting", "value": "param"}]
    assert data(helm(repo, options))["greeting"] == "param"


def test_parameters_keep_commas_and_force_string(repo: Path) -> None:
    options = {
        "parameters": [
            {"name": "greeting", "value": "a,b"},
            {"name": "number", "value": "42", "forceString": True},
            {"name": "list", "value": "{x,y}"},
        ]
    }
    d = data(helm(repo, options))
    assert d["greeting"] == "a,b"
    assert d["numberKind"] == "string"
    assert d["list"] == "[x y]"
    assert (
        data(helm(repo, {"parameters": [{"name": "number", "value": "42"}]}))["numberKind"]
        == "int64"
    )


def test_file_parameters_read_files_of_the_repository(repo: Path) -> None:
    options = {"fileParameters": [{"name": "fileContent", "path": "greeting.txt"}]}
    assert data(helm(repo, options))["file"] == "file content"


def test_kube_version_and_api_versions(repo: Path) -> None:
    d = data(helm(repo, {"kubeVersion": "1.31.2", "apiVersions": ["monitoring.coreos.com/v1"]}))
    assert d["kube"] == "v1.31.2"
    assert d["monitoring"] == "true"
    d = data(helm(repo, {}, kube_version="1.29.0"))
    assert d["kube"] == "v1.29.0"
    assert d["monitoring"] == "false"


def test_inline_values_that_are_not_yaml_name_the_field(repo: Path) -> None:
    with pytest.raises(RenderError, match=r"^spec.source.helm.values:2: invalid YAML"):
        helm(repo, {"values": "a: 1\n b: [\n"})


def test_remote_value_file_is_refused(repo: Path) -> None:
    with pytest.raises(RenderError, match="remote files are not fetched"):
        helm(repo, {"valueFiles": ["https://example.com/values.yaml"]})


def test_value_files_of_another_source_are_read_through_its_ref(repo: Path, tmp_path: Path) -> None:
    values = write(tmp_path / "values-repo", {"envs/prod.yaml": "greeting: from-ref\n"})
    out = helm(
        repo,
        {"valueFiles": ["values-a.yaml", "$values/envs/prod.yaml"]},
        app_name="r",
        value_refs={"values": values},
    )
    assert out["ConfigMap/r-cfg"]["data"]["greeting"] == "from-ref"  # later files win
    with pytest.raises(RenderError, match=r"no source has ref 'other' \(refs: \$values\)"):
        helm(repo, {"valueFiles": ["$other/x.yaml"]}, value_refs={"values": values})
    with pytest.raises(RenderError, match="resolves outside the repository"):
        helm(repo, {"valueFiles": ["$values/../../etc/passwd"]}, value_refs={"values": values})
    with pytest.raises(RenderError, match="only in value files of a multi-source"):
        helm(repo, {"valueFiles": ["$values/envs/prod.yaml"]})
    missing = render(
        repo,
        "chart",
        {"helm": {"valueFiles": ["$values/nope.yaml"], "ignoreMissingValueFiles": True}},
        value_refs={"values": values},
    )
    assert any("$values/nope.yaml" in w for w in missing.warnings)
