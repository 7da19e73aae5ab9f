"""Parsing Applications: Argo CD's defaults, and Argo-like errors naming the bad field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.controller.test_crds import EVERYTHING, PAYMENT_SERVICE
from tether.controller.models import (
    AppSource,
    Automated,
    Destination,
    InvalidSpecError,
    ResourceRef,
    RetryPolicy,
    parse_application,
    parse_duration,
    parse_operation,
)
from tether.errors import TetherError


def payment() -> dict[str, Any]:
    return yaml.safe_load(PAYMENT_SERVICE)


def with_spec(**changes: Any) -> dict[str, Any]:
    app = payment()
    for key, value in changes.items():
        if value is None:
            app["spec"].pop(key, None)
        else:
            app["spec"][key] = value
    return app


def test_issue_manifest_parses_with_argo_cd_defaults() -> None:
    app = parse_application(payment())
    assert (app.name, app.namespace) == ("payment-service", "argocd")
    assert app.spec.project == "default"
    assert app.spec.source == AppSource(
        repo_url="https://github.com/org/k8s-manifests.git",
        target_revision="HEAD",
        path="apps/payment-service/production",
    )
    assert app.spec.source.raw == payment()["spec"]["source"]
    assert app.spec.destination == Destination(
        server="https://kubernetes.default.svc", namespace="payment-service"
    )
    policy = app.spec.sync_policy
    assert policy.automated == Automated(enabled=True, prune=True, self_heal=True)
    assert policy.is_automated
    assert policy.retry == RetryPolicy(limit=0)  # no retry unless asked for
    assert app.spec.revision_history_limit == 10
    assert app.operation is None and app.refresh is None and not app.cascade_delete


def test_missing_target_revision_and_project_default() -> None:
    app = payment()
    del app["spec"]["source"]["targetRevision"]
    del app["spec"]["project"]
    parsed = parse_application(app)
    assert parsed.spec.source is not None
    assert parsed.spec.source.target_revision == "HEAD"
    assert parsed.spec.project == "default"


def test_automated_enabled_false_turns_automation_off() -> None:
    app = with_spec(syncPolicy={"automated": {"enabled": False, "prune": True}})
    policy = parse_application(app).spec.sync_policy
    assert policy.automated is not None and policy.automated.prune
    assert not policy.is_automated
    assert not parse_application(with_spec(syncPolicy=None)).spec.sync_policy.is_automated


def test_retry_backoff_parses_go_durations_and_plain_seconds() -> None:
    retry = {"limit": -1, "backoff": {"duration": "30", "factor": 3, "maxDuration": "1h30m"}}
    policy = parse_application(with_spec(syncPolicy={"retry": retry})).spec.sync_policy.retry
    assert policy == RetryPolicy(
        limit=-1, backoff_duration=30, backoff_factor=3, backoff_max_duration=5400
    )
    assert policy.allows(1000)
    assert [policy.delay(n) for n in range(5)] == [30, 90, 270, 810, 2430]
    defaults = parse_application(with_spec(syncPolicy={"retry": {"limit": 2}})).spec.sync_policy
    assert defaults.retry.delay(0) == 5 and defaults.retry.delay(10) == 180
    assert defaults.retry.allows(1) and not defaults.retry.allows(2)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5),
        ("3m", 180),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("250ms", 0.25),
        ("-2m", -120),
        ("0", 0),
        ("1h2m3s4ms", 3723.004),
        ("2µs", 2e-6),
    ],
)
def test_parse_duration_follows_go_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1h 30m", "h1", "."])
def test_parse_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(InvalidSpecError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("spec_change", "message"),
    [
        (
            {"destination": {"namespace": "x"}},
            "spec.destination.server or spec.destination.name is required",
        ),
        ({"destination": {"server": "https://a", "name": "a"}}, "can't have both name and server"),
        (
            {"destination": {"server": "https://a", "namespace": "Payment_Service"}},
            'spec.destination.namespace: "Payment_Service" is not a valid',
        ),
        (
            {"destination": {"server": "https://a", "namespace": "a" * 64}},
            "is not a valid namespace",
        ),
        ({"destination": None}, "spec.destination is required"),
        ({"source": {"path": "x"}}, "spec.source.repoURL is required"),
        ({"source": {"repoURL": 42}}, "spec.source.repoURL must be a string"),
        ({"sources": [{"repoURL": "https://a"}]}, "both spec.source and spec.sources are set"),
        ({"source": None}, "spec.source or spec.sources is required"),
        (
            {"sources": [{"repoURL": "https://a"}, {"path": "p"}], "source": None},
            r"spec.sources\[1\].repoURL is required",
        ),
        (
            {
                "source": {
                    "repoURL": "https://a",
                    "helm": {"valueFiles": ["v"]},
                    "kustomize": {"namePrefix": "p"},
                }
            },
            "multiple application sources defined: Kustomize,Helm",
        ),
        ({"source": {"repoURL": "https://a", "helm": "yes"}}, "spec.source.helm must be an object"),
        (
            {"syncPolicy": {"syncOptions": ["CreateNamespace"]}},
            r'spec.syncPolicy.syncOptions\[0\]: sync option "CreateNamespace" is not in the form Key=Value',
        ),
        (
            {"syncPolicy": {"syncOptions": ["PrunePropagationPolicy=sideways"]}},
            'invalid value "sideways" for sync option PrunePropagationPolicy',
        ),
        (
            {"syncPolicy": {"automated": {"prune": "yes"}}},
            "spec.syncPolicy.automated.prune must be true or false",
        ),
        (
            {"syncPolicy": {"retry": {"limit": "5"}}},
            "spec.syncPolicy.retry.limit must be an integer",
        ),
        (
            {"syncPolicy": {"retry": {"backoff": {"duration": "soon"}}}},
            'spec.syncPolicy.retry.backoff.duration: invalid duration "soon"',
        ),
        (
            {"syncPolicy": {"retry": {"backoff": {"factor": 0}}}},
            "spec.syncPolicy.retry.backoff.factor must be a number of at least 1",
        ),
        (
            {"ignoreDifferences": [{"group": "apps"}]},
            r"spec.ignoreDifferences\[0\].kind is required",
        ),
        (
            {"ignoreDifferences": [{"kind": "A", "jsonPointers": "/x"}]},
            r"spec.ignoreDifferences\[0\].jsonPointers must be a list",
        ),
        ({"revisionHistoryLimit": -1}, "spec.revisionHistoryLimit may not be negative"),
        ({"info": [{"name": "a"}]}, r"spec.info\[0\]: name and value are required"),
    ],
)
def test_invalid_specs_name_the_field(spec_change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message) as info:
        parse_application(with_spec(**spec_change))
    assert isinstance(info.value, TetherError)


def test_empty_tool_blocks_do_not_count_as_a_tool() -> None:
    source = {"repoURL": "https://a", "directory": {"jsonnet": {}}, "helm": {"releaseName": "r"}}
    parsed = parse_application(with_spec(source=source)).spec.source
    assert parsed is not None and parsed.explicit_tool == "Helm"
    assert parsed.directory == {"jsonnet": {}} and parsed.helm == {"releaseName": "r"}


def test_sync_options_lookup_is_last_wins() -> None:
    options = ["CreateNamespace=false", "ServerSideApply=true", "CreateNamespace=true"]
    policy = parse_application(with_spec(syncPolicy={"syncOptions": options})).spec.sync_policy
    assert policy.option("CreateNamespace") == "true"
    assert policy.option("Replace") is None
    assert policy.sync_options == tuple(options)


def test_metadata_and_spec_must_be_present() -> None:
    with pytest.raises(InvalidSpecError, match=r"metadata.name is required"):
        parse_application({"spec": payment()["spec"]})
    with pytest.raises(InvalidSpecError, match="spec is required"):
        parse_application({"metadata": {"name": "a"}})
    with pytest.raises(InvalidSpecError, match=r"expected an argoproj.io/v1alpha1 Application"):
        parse_application({**payment(), "kind": "AppProject"})


def test_everything_manifest_parses_fully() -> None:
    """The manifest with every Argo CD field (from the CRD test) parses into the typed model."""
    obj = copy.deepcopy(EVERYTHING)
    obj["metadata"].update(uid="u-1", generation=4, resourceVersion="77")
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    app = parse_application(obj)
    assert (app.uid, app.generation, app.resource_version) == ("u-1", 4, "77")
    assert app.refresh == "hard" and app.deleting and app.cascade_delete
    spec = app.spec
    assert spec.source is None and spec.has_multiple_sources
    assert [s.explicit_tool for s in spec.sources] == ["Helm", "Kustomize", "Directory", "Plugin"]
    helm = spec.sources[0]
    assert (helm.chart, helm.ref, helm.name, helm.target_revision) == (
        "redis",
        "charts",
        "cache",
        "18.1.0",
    )
    assert helm.helm is not None and helm.helm["valuesObject"]["auth"] == {"enabled": False}
    assert spec.destination == Destination(name="in-cluster", namespace="payments")
    assert spec.sync_policy.managed_namespace_metadata == {
        "labels": {"team": "payments"},
        "annotations": {"note": "managed"},
    }
    assert spec.sync_policy.retry == RetryPolicy(5, 5, 2, 180, refresh=True)
    assert spec.ignore_differences[1]["jqPathExpressions"] == [
        '.data["cache.json"]',
        ".metadata.labels.x",
    ]
    assert spec.revision_history_limit == 3
    assert spec.source_hydrator is not None
    assert [(i.name, i.value) for i in spec.info] == [("url", "https://payments.example.com")]
    op = app.operation
    assert op is not None
    assert op.sync.revision == "abc123" and op.sync.prune and not op.sync.dry_run
    assert op.sync.resources == (ResourceRef("apps", "Deployment", "", "payment"),)
    assert op.sync.sync_options == ("Validate=false",) and op.sync.sync_strategy == "hook"
    assert op.sync.source is not None and op.sync.source.path == "x"
    assert op.sync.manifests == ("apiVersion: v1\nkind: ConfigMap\n",)
    assert op.initiated_by.username == "alice" and not op.initiated_by.automated
    assert op.retry.limit == -1 and op.retry.allows(99)
    assert [(i.name, i.value) for i in op.info] == [("reason", "release")]


def test_operation_sync_strategy_apply_with_force() -> None:
    op = parse_operation({"sync": {"syncStrategy": {"apply": {"force": True}}}})
    assert op is not None and op.sync.sync_strategy == "apply" and op.sync.force
    assert parse_operation(None) is None
    with pytest.raises(InvalidSpecError, match=r"operation.sync is required"):
        parse_operation({"initiatedBy": {"username": "a"}})
    with pytest.raises(InvalidSpecError, match=r"operation.sync.resources\[0\]: kind and name"):
        parse_operation({"sync": {"resources": [{"group": "apps"}]}})


def test_refresh_annotation_any_value_but_hard_is_normal() -> None:
    app = payment()
    app["metadata"]["annotations"] = {"argocd.argoproj.io/refresh": "yes please"}
    assert parse_application(app).refresh == "normal"


def test_parsed_models_are_frozen() -> None:
    app = parse_application(payment())
    with pytest.raises(AttributeError):
        app.name = "other"  # type: ignore[misc]
