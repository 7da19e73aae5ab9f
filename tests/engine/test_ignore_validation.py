"""ignoreDifferences entries are checked when they are read: Application specs and argocd-cm."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.controller import models
from tether.engine import jqrunner
from tether.engine.diff import SyncStatus, compare, diff_resource
from tether.engine.ignore import IgnoreRule, IgnoreRuleError, parse_system_rules
from tether.resources import ResourceKey


def _application(*ignore: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "team"},
            "ignoreDifferences": list(ignore),
        },
    }


def _object(kind: str, api_version: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "team"},
        "spec": spec,
    }


def _live(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    live = copy.deepcopy(obj)
    live["metadata"].update(uid=f"uid-{obj['metadata']['name']}", resourceVersion="3")
    live["spec"].update(changes)
    return live


def test_an_invalid_jq_expression_makes_the_application_invalid_naming_the_field() -> None:
    app = _application(
        {"kind": "Service", "jsonPointers": ["/spec/clusterIP"]},
        {"kind": "ConfigMap", "jqPathExpressions": [".data.a", "..[[[["]},
    )
    with pytest.raises(models.InvalidSpecError) as raised:
        models.parse_application(app)
    assert raised.value.message.startswith(
        'spec.ignoreDifferences[1].jqPathExpressions[1]: invalid jq expression "..[[[[": '
        "syntax error"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"kind": "ConfigMap", "jqPathExpressions": [".data | nosuchfunction"]},
            'spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression ".data | '
            'nosuchfunction": nosuchfunction/0 is not defined',
        ),
        (
            {"kind": "ConfigMap", "jqPathExpressions": [".data)] | [(."]},
            "spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression",
        ),
        (
            {"kind": "ConfigMap", "jqPathExpressions": [".data\x00)]"]},
            "spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression "
            '".data\\u0000)]": contains a NUL character',
        ),
        (
            {"kind": "ConfigMap", "jqPathExpressions": [".a" + " | .a" * 2000]},
            'spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression ".a | .a | .a',
        ),
        (
            {"kind": "ConfigMap", "jsonPointers": ["/data", "spec/replicas"]},
            "spec.ignoreDifferences[0].jsonPointers[1]: JSON pointer 'spec/replicas' must "
            "start with '/'",
        ),
    ],
)
def test_invalid_entries_are_refused_with_the_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(models.InvalidSpecError) as raised:
        models.parse_spec(_application(entry)["spec"])
    assert raised.value.message.startswith(message), raised.value.message


def test_expression_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(IgnoreRuleError, match="longer than 4096 characters"):
        IgnoreRule.from_spec({"kind": "ConfigMap", "jqPathExpressions": [".a" * 2049]})


def test_valid_expressions_are_kept_as_written() -> None:
    expressions = [
        '.spec.template.spec.containers[] | select(.name == "istio-proxy") | .image',
        ".webhooks[]?.clientConfig.caBundle",
        ".metadata.annotations # a comment\n",
    ]
    app = models.parse_application(
        _application({"group": "apps", "kind": "Deployment", "jqPathExpressions": expressions})
    )
    assert app.spec.ignore_differences[0]["jqPathExpressions"] == expressions


def test_an_expression_that_leaves_path_gives_a_per_resource_error() -> None:
    desired = _object("ConfigMap", "v1", "settings", a="1")
    # refused when read; a rule built without that check still cannot smuggle values in
    with pytest.raises(IgnoreRuleError, match="invalid jq expression"):
        IgnoreRule.from_spec({"kind": "ConfigMap", "jqPathExpressions": [".) , (."]})
    rule = IgnoreRule(kind="ConfigMap", jq_path_expressions=(".) , (.",))
    result = diff_resource(desired, _live(desired), [rule])
    assert result.status is SyncStatus.UNKNOWN
    assert result.error is not None and "does not give paths only" in result.error


async def test_a_bad_argocd_cm_rule_is_reported_on_the_objects_it_targets_only() -> None:
    rules = parse_system_rules(
        {
            "resource.customizations.ignoreDifferences.apps_Deployment": (
                "jqPathExpressions:\n- '.spec.replicas'\n- '..[[[['\n"
            ),
            "resource.customizations.ignoreDifferences._Service": "jsonPointers:\n- /spec/x\n",
        }
    )
    deployment = _object("Deployment", "apps/v1", "web", replicas=2)
    config = _object("ConfigMap", "v1", "settings", a="1")
    live = {ResourceKey.of(o): _live(o) for o in (deployment, config)}
    result = await compare([deployment, config], live, rules=rules)
    web, settings = result.resources
    assert web.status is SyncStatus.UNKNOWN
    assert web.error == (
        "ignoreDifferences: argocd-cm resource.customizations.ignoreDifferences.apps_Deployment"
        '.jqPathExpressions[1]: invalid jq expression "..[[[[": syntax error, unexpected '
        "end of file at column 7"
    )
    assert settings.status is SyncStatus.SYNCED and settings.error is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"resource.customizations": "apps/Deployment: [unclosed"},
            "argocd-cm resource.customizations: expected a YAML mapping",
        ),
        (
            {"resource.customizations.ignoreDifferences.Deployment": "jsonPointers: [/spec]"},
            "argocd-cm resource.customizations.ignoreDifferences.Deployment: expected "
            "'<group>_<kind>' or 'all'",
        ),
        (
            {"resource.customizations.ignoreDifferences.all": "jqPathExpressions: [1, 2]"},
            "argocd-cm resource.customizations.ignoreDifferences.all: 'jqPathExpressions' must "
            "be a list of strings",
        ),
        (
            {"resource.customizations.ignoreDifferences.all": "jsonPointers: [/a\n b: ["},
            "argocd-cm resource.customizations.ignoreDifferences.all: ",
        ),
        (  # nested 100,000 deep: PyYAML's own loader recursed until it crashed
            {"resource.customizations.ignoreDifferences.all": "a: " + "[" * 100_000},
            "argocd-cm resource.customizations.ignoreDifferences.all: ",
        ),
        (  # a billion laughs
            {
                "resource.customizations.ignoreDifferences.all": "a: &a [x,x,x,x,x,x,x,x,x]\n"
                + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
                    for i in range(9)
                )
            },
            "argocd-cm resource.customizations.ignoreDifferences.all: ",
        ),
    ],
)
def test_unreadable_argocd_cm_keys_become_errors_naming_the_key(
    data: dict[str, str], message: str
) -> None:
    rules = parse_system_rules(data)
    assert [r.error[: len(message)] for r in rules] == [message]
    desired = _object("ConfigMap", "v1", "settings", a="1")
    result = diff_resource(desired, _live(desired), rules)
    assert result.status is SyncStatus.UNKNOWN
    assert result.error is not None and message in result.error


def test_an_expression_too_costly_to_compile_is_refused_and_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 1 µs budget that every compile goes past (a warm worker answers a compile of a short
    # expression in well under the millisecond this test once allowed)
    monkeypatch.setattr(jqrunner, "MIN_COMPILE_SECONDS", 0.0)
    runner = jqrunner.JqRunner(jqrunner.JqLimits(timeout=0.000001))
    try:
        first = runner.compile_error(".spec.replicas")
        assert first == "compiling it takes more than 1e-06s or 256 MiB"
        monkeypatch.setattr(jqrunner, "MIN_COMPILE_SECONDS", 60.0)
        assert runner.compile_error(".spec.replicas") == first  # not compiled again
        assert runner.compile_error(".spec.template") is None
    finally:
        runner.close()
