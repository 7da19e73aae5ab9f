"""An ImageUpdateAutomation read into plain data: its source, policies, update spec, pull-request
settings and the status Flux writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tether.images.automation import CheckoutRef, UpdateResult, UpdateStatus
from tether.images.automationspec import (
    AutomationConfigError,
    PullRequestSettings,
    RunOutcome,
    SourceRepository,
    automation_status,
    config_failure,
    interval_seconds,
    latest_image,
    observed_policies,
    pull_request_settings,
    selected_policies,
    selector_matches,
    source_of,
    source_ref,
    update_spec,
)
from tether.images.setters import LatestImage

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def automation(**spec: Any) -> dict[str, Any]:
    base = {
        "interval": "30m",
        "sourceRef": {"kind": "Application", "name": "payment"},
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {"author": {"email": "bot@example.com"}},
            "push": {"branch": "updates"},
        },
        "update": {"path": "apps", "strategy": "Setters"},
    }
    base.update(spec)
    return {
        "metadata": {"name": "auto", "namespace": "argocd", "generation": 3},
        "spec": base,
    }


def app(revision: str | None, url: str = "https://git.example/acme/deploy.git") -> dict[str, Any]:
    source: dict[str, Any] = {"repoURL": url, "path": "apps"}
    if revision is not None:
        source["targetRevision"] = revision
    return {"metadata": {"name": "payment"}, "spec": {"source": source}}


def test_source_ref_defaults_to_a_git_repository_in_the_automation_namespace() -> None:
    obj = automation(sourceRef={"name": "flux-system"})
    assert source_ref(obj) == ("GitRepository", "argocd", "flux-system")
    obj = automation(sourceRef={"kind": "Application", "name": "x", "namespace": "other"})
    assert source_ref(obj) == ("Application", "other", "x")


@pytest.mark.parametrize(
    ("revision", "ref"),
    [
        ("main", CheckoutRef(branch="main")),
        ("refs/heads/release", CheckoutRef(branch="release")),
        ("a" * 40, CheckoutRef(commit="a" * 40)),
        ("HEAD", CheckoutRef()),
        (None, CheckoutRef()),
    ],
)
def test_an_application_source_gives_its_repository_and_ref(
    revision: str | None, ref: CheckoutRef
) -> None:
    source = source_of("Application", app(revision), "Application 'argocd/payment'")
    assert source == SourceRepository(
        "Application", "payment", app(None)["spec"]["source"]["repoURL"], ref
    )


def test_a_git_repository_source_gives_its_url_ref_and_secret() -> None:
    repo = {
        "metadata": {"name": "flux-system"},
        "spec": {
            "url": "ssh://git@git.example/acme/deploy",
            "ref": {"tag": "v1"},
            "secretRef": {"name": "ssh"},
        },
    }
    source = source_of("GitRepository", repo, "GitRepository 'argocd/flux-system'")
    assert source.url == "ssh://git@git.example/acme/deploy"
    assert source.ref == CheckoutRef(tag="v1")
    assert source.secret_name == "ssh"


def test_a_missing_source_waits_and_a_source_without_url_stalls() -> None:
    with pytest.raises(AutomationConfigError) as missing:
        source_of("Application", None, "Application 'argocd/gone'")
    assert not missing.value.stalled and "'argocd/gone' does not exist" in str(missing.value)
    with pytest.raises(AutomationConfigError) as empty:
        source_of("GitRepository", {"metadata": {"name": "x"}, "spec": {}}, "GitRepository 'a/x'")
    assert empty.value.stalled and empty.value.reason == "InvalidSourceConfiguration"


def test_an_application_following_head_needs_a_checkout_branch() -> None:
    source = source_of("Application", app("HEAD"), "Application 'argocd/payment'")
    obj = automation()
    del obj["spec"]["git"]["checkout"]
    with pytest.raises(AutomationConfigError) as refused:
        update_spec(obj, source)
    assert "spec.git.checkout.ref.branch" in str(refused.value)
    assert update_spec(automation(), source).checkout == CheckoutRef(branch="main")


def test_update_spec_takes_the_automation_git_settings() -> None:
    obj = automation()
    obj["spec"]["git"]["commit"]["messageTemplate"] = "bump {{ .AutomationObject }}"
    obj["spec"]["git"]["commit"]["messageTemplateValues"] = {"env": "prod"}
    obj["spec"]["git"]["push"]["refspec"] = "refs/heads/updates:refs/heads/review"
    source = source_of("Application", app("release"), "x")
    spec = update_spec(obj, source)
    assert spec.url == source.url
    assert spec.checkout == CheckoutRef(branch="main"), "git.checkout.ref wins over the source"
    assert spec.author_email == "bot@example.com" and spec.author_name == ""
    assert spec.message_template == "bump {{ .AutomationObject }}"
    assert dict(spec.template_values) == {"env": "prod"}
    assert (spec.push_branch, spec.push_refspec) == (
        "updates",
        "refs/heads/updates:refs/heads/review",
    )
    assert spec.update_path == "apps"
    assert (spec.automation.name, spec.automation.namespace) == ("auto", "argocd")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"update": {"strategy": "Other"}}, "only Setters"),
        (
            {
                "git": {
                    "commit": {
                        "author": {"email": "a@b"},
                        "signingKey": {"secretRef": {"name": "k"}},
                    }
                }
            },
            "does not sign commits",
        ),
        (
            {"git": {"commit": {"author": {"email": "a@b"}}, "push": {"options": {"ci.skip": ""}}}},
            "push options are not sent",
        ),
    ],
)
def test_what_tether_cannot_honour_is_refused(change: dict[str, Any], words: str) -> None:
    source = source_of("Application", app("main"), "x")
    with pytest.raises(AutomationConfigError) as refused:
        update_spec(automation(**change), source)
    assert refused.value.stalled and words in str(refused.value)


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "pay"}}, {"team": "pay", "x": "y"}, True),
        ({"matchLabels": {"team": "pay"}}, {"team": "shop"}, False),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
            {"env": "prod"},
            True,
        ),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, {}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
            {"env": "dev"},
            False,
        ),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {"env": ""}, True),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": "x"}, False),
    ],
)
def test_label_selectors(selector: dict[str, Any], labels: dict[str, str], selected: bool) -> None:
    assert selector_matches(selector, labels) is selected


def test_an_unknown_selector_operator_is_refused() -> None:
    with pytest.raises(AutomationConfigError) as refused:
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {})
    assert refused.value.reason == "InvalidPolicySelector"


def test_policies_are_keyed_as_markers_name_them() -> None:
    policies = {
        "b": {
            "metadata": {"name": "b", "labels": {"team": "pay"}},
            "status": {"latestRef": {"name": "r/b", "tag": "2.0.0"}},
        },
        "a": {"metadata": {"name": "a", "labels": {"team": "pay"}}},
        "c": {"metadata": {"name": "c", "labels": {"team": "shop"}}},
    }
    chosen = selected_policies(
        automation(policySelector={"matchLabels": {"team": "pay"}}), policies
    )
    assert list(chosen) == [("argocd", "a"), ("argocd", "b")]
    assert latest_image(chosen[("argocd", "b")]) == LatestImage("r/b", "2.0.0")
    assert latest_image(chosen[("argocd", "a")]) is None
    assert observed_policies(chosen) == {"b": {"name": "r/b", "tag": "2.0.0"}}


def test_interval_must_be_a_positive_duration() -> None:
    assert interval_seconds(automation()) == 1800
    for bad in ("", "soon", "0s"):
        with pytest.raises(AutomationConfigError):
            interval_seconds(automation(interval=bad))


def test_pull_request_annotations() -> None:
    obj = automation()
    assert pull_request_settings(obj) is None
    obj["metadata"]["annotations"] = {"images.tether.io/pull-request": "github"}
    with pytest.raises(AutomationConfigError) as no_secret:
        pull_request_settings(obj)
    assert "images.tether.io/pull-request-secret" in str(no_secret.value)
    obj["metadata"]["annotations"]["images.tether.io/pull-request-secret"] = "token"
    assert pull_request_settings(obj) == PullRequestSettings("token", "github")
    obj["metadata"]["annotations"]["images.tether.io/pull-request"] = "true"
    obj["metadata"]["annotations"]["images.tether.io/pull-request-api-url"] = (
        "https://git.local/api/v1"
    )
    assert pull_request_settings(obj) == PullRequestSettings(
        "token", None, "https://git.local/api/v1"
    )
    obj["metadata"]["annotations"]["images.tether.io/pull-request"] = "false"
    assert pull_request_settings(obj) is None


def test_status_after_a_push_and_after_a_failure() -> None:
    result = UpdateResult(UpdateStatus.PUSHED, "updates", "c" * 40, commit="d" * 40, message="bump")
    pushed = automation_status(
        automation(),
        RunOutcome(
            "ok",
            "Succeeded",
            "pushed",
            result=result,
            observed={"p": {"name": "r", "tag": "1"}},
            source_revision="main@sha1:" + "c" * 40,
            pull_request={"number": 7, "url": "https://x/7"},
        ),
        NOW,
    )
    assert pushed["lastPushCommit"] == "d" * 40
    assert pushed["lastPushTime"] == pushed["lastAutomationRunTime"] == "2026-12-05T12:00:00Z"
    assert pushed["observedPolicies"] == {"p": {"name": "r", "tag": "1"}}
    assert pushed["observedSourceRevision"] == "main@sha1:" + "c" * 40
    assert pushed["pullRequest"] == {"number": 7, "url": "https://x/7"}
    assert pushed["observedGeneration"] == 3
    assert pushed["conditions"][0]["status"] == "True"

    later = automation()
    later["status"] = pushed
    error = AutomationConfigError("PullRequestFailed", "no token", stalled=False)
    failed = automation_status(later, config_failure(error), NOW)
    assert failed["lastPushCommit"] == "d" * 40, "the last push is kept"
    assert failed["pullRequest"] == pushed["pullRequest"], "None leaves the pull request as it was"
    assert [c["type"] for c in failed["conditions"]] == ["Ready", "Reconciling"]
    assert failed["conditions"][0]["reason"] == "PullRequestFailed"

    closed = automation_status(
        later, RunOutcome("ok", "Succeeded", "up-to-date", pull_request={}), NOW
    )
    assert "pullRequest" not in closed
