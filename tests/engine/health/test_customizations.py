"""Where Lua health checks come from: Argo CD's ConfigMap keys and folder layout, wildcards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.health.helpers import status_of
from tether.engine.health import (
    HEALTHY,
    PROGRESSING,
    HealthCustomizationError,
    HealthCustomizations,
    HealthStatus,
    health_of,
)
from tether.engine.health.lua import LuaSandbox


def says(message: str) -> str:
    return f'return {{status = "Healthy", message = "{message}"}}'


def item(api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}


def message_of(obj: dict[str, Any], customizations: HealthCustomizations) -> str | None:
    health = health_of(obj, customizations=customizations)
    return health.message if health is not None else None


def test_configmap_keys_name_group_and_kind_as_argo_cd_does() -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm"},
        "data": {
            "resource.customizations.health.argoproj.io_Rollout": says("rollout"),
            "resource.customizations.health.Pod": says("core pod"),
            "resource.customizations.health._Service": says("core service"),
            "resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers: [/spec/replicas]",
            "url": "https://argocd.example.com",
        },
    }
    customizations = HealthCustomizations.from_configmap(configmap)
    assert message_of(item("argoproj.io/v1alpha1", "Rollout"), customizations) == "rollout"
    assert message_of(item("v1", "Pod"), customizations) == "core pod"
    assert message_of(item("v1", "Service"), customizations) == "core service"
    assert [s.pattern for s in customizations.scripts] == ["argoproj.io/Rollout", "Pod", "Service"]


def test_configmap_data_alone_is_accepted() -> None:
    customizations = HealthCustomizations.from_configmap(
        {"resource.customizations.health.example.com_Widget": says("data only")}
    )
    assert message_of(item("example.com/v1", "Widget"), customizations) == "data only"


def test_legacy_resource_customizations_key_is_read_and_specific_keys_win() -> None:
    legacy = f"""
example.com/Widget:
  health.lua: |
    {says("legacy widget")}
example.com/Gadget:
  health.lua: |
    {says("legacy gadget")}
  ignoreDifferences: |
    jsonPointers: [/spec]
"""
    customizations = HealthCustomizations.from_configmap(
        {
            "data": {
                "resource.customizations": legacy,
                "resource.customizations.health.example.com_Gadget": says("new gadget"),
            }
        }
    )
    assert message_of(item("example.com/v1", "Widget"), customizations) == "legacy widget"
    assert message_of(item("example.com/v1", "Gadget"), customizations) == "new gadget"


def test_bad_configmap_keys_and_values_are_reported() -> None:
    with pytest.raises(HealthCustomizationError, match=r"health\.a_b_c"):
        HealthCustomizations.from_configmap({"resource.customizations.health.a_b_c": says("x")})
    with pytest.raises(HealthCustomizationError, match="expected Lua text"):
        HealthCustomizations.from_configmap({"resource.customizations.health.Pod": 3})
    with pytest.raises(HealthCustomizationError, match="invalid YAML"):
        HealthCustomizations.from_configmap({"resource.customizations": "a: [b"})


def test_wildcards_match_groups_and_kinds_most_specific_first() -> None:
    customizations = HealthCustomizations.from_configmap(
        {
            "resource.customizations.health.*.crossplane.io_*": says("any crossplane"),
            "resource.customizations.health.*.aws.crossplane.io_*": says("aws crossplane"),
            "resource.customizations.health.example.com_*": says("any example"),
            "resource.customizations.health.example.com_Widget": says("exact widget"),
        }
    )
    assert message_of(item("s3.aws.crossplane.io/v1", "Bucket"), customizations) == "aws crossplane"
    assert message_of(item("pkg.crossplane.io/v1", "Provider"), customizations) == "any crossplane"
    assert message_of(item("example.com/v1", "Gadget"), customizations) == "any example"
    assert message_of(item("example.com/v1", "Widget"), customizations) == "exact widget"
    # "*.crossplane.io" needs a subdomain, and no pattern reaches other groups.
    assert health_of(item("crossplane.io/v1", "Thing"), customizations=customizations) is None
    assert health_of(item("v1", "ConfigMap"), customizations=customizations) is None


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_folder_layout_is_argo_cds_resource_customizations(tmp_path: Path) -> None:
    root = tmp_path / "resource_customizations"
    _write(root, "argoproj.io/Rollout/health.lua", says("folder rollout"))
    _write(root, "argoproj.io/Rollout/actions/restart/action.lua", "return obj")
    _write(root, "argoproj.io/Rollout/testdata/health.lua", says("ignored: too deep"))
    _write(root, "Pod/health.lua", says("folder pod"))
    _write(root, "_.crossplane.io/_/health.lua", says("folder crossplane"))
    for path in (root, tmp_path):  # the folder itself, or the one that holds it
        customizations = HealthCustomizations.from_directory(path)
        assert (
            message_of(item("argoproj.io/v1alpha1", "Rollout"), customizations) == "folder rollout"
        )
        assert message_of(item("v1", "Pod"), customizations) == "folder pod"
        assert (
            message_of(item("pkg.crossplane.io/v1", "Provider"), customizations)
            == "folder crossplane"
        )
        assert len(customizations.scripts) == 3


def test_folder_script_errors_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "example.com/Widget/health.lua", "\n\nreturn obj.nothing.here")
    customizations = HealthCustomizations.from_directory(tmp_path)
    health = health_of(item("example.com/v1", "Widget"), customizations=customizations)
    assert health is not None
    assert (
        health.message
        == "example.com/Widget/health.lua:3: attempt to index field 'nothing' (a nil value)"
    )


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(HealthCustomizationError, match="not a directory"):
        HealthCustomizations.from_directory(tmp_path / "nope")


def test_configmap_scripts_take_precedence_over_folder_scripts(tmp_path: Path) -> None:
    _write(tmp_path, "example.com/Widget/health.lua", says("folder widget"))
    _write(tmp_path, "example.com/Gadget/health.lua", says("folder gadget"))
    configmap = HealthCustomizations.from_configmap(
        {"resource.customizations.health.example.com_*": says("configmap wildcard")}
    )
    folder = HealthCustomizations.from_directory(tmp_path)
    combined = HealthCustomizations.combine(configmap, folder)
    assert message_of(item("example.com/v1", "Widget"), combined) == "configmap wildcard"
    only_exact = HealthCustomizations.combine(
        HealthCustomizations.from_configmap(
            {"resource.customizations.health.example.com_Widget": says("cm")}
        ),
        folder,
    )
    assert message_of(item("example.com/v1", "Widget"), only_exact) == "cm"
    assert message_of(item("example.com/v1", "Gadget"), only_exact) == "folder gadget"


def test_customization_overrides_the_built_in_check() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 5},
        "spec": {"replicas": 3},
    }
    assert status_of(deployment) == PROGRESSING
    customizations = HealthCustomizations.from_configmap(
        {"resource.customizations.health.apps_Deployment": says("trust me")}
    )
    assert health_of(deployment, customizations=customizations) == HealthStatus(HEALTHY, "trust me")


def test_scripts_are_compiled_once_per_group_and_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    original = LuaSandbox.compile

    def counting(self: LuaSandbox, source: str, name: str) -> Any:
        compiled.append(name)
        return original(self, source, name)

    monkeypatch.setattr(LuaSandbox, "compile", counting)
    customizations = HealthCustomizations.from_configmap(
        {"resource.customizations.health.example.com_*": says("w")}
    )
    for _ in range(3):
        for kind in ("Widget", "Gadget"):
            assert message_of(item("example.com/v1", kind), customizations) == "w"
        assert health_of(item("v1", "ConfigMap"), customizations=customizations) is None
    assert compiled == ["resource.customizations.health.example.com_*"] * 2
