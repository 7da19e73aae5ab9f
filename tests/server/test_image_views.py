"""The summaries and an app's images alone (`tether.server.image_views`): pure functions, no
cluster."""

from __future__ import annotations

from typing import Any

from tests.server import flux_objects as flux
from tether.server.image_views import (
    application_images,
    automation_summary,
    policy_summary,
    workload_images,
)


def _pod(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)],
        "initContainers": [{"name": f"i{i}", "image": image} for i, image in enumerate(init)],
    }


def _workload(kind: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    template = {"template": {"spec": pod}}
    spec = {
        "Pod": pod,
        "CronJob": {"jobTemplate": {"spec": template}},
    }.get(kind, template)
    return {"kind": kind, "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_every_pod_template_kind_and_init_containers_are_read() -> None:
    desired = [
        _workload("Deployment", "web", _pod("nginx:1.27", init=("busybox:1.36",))),
        _workload("StatefulSet", "db", _pod("postgres:16")),
        _workload("DaemonSet", "agent", _pod("ghcr.io/acme/agent:2")),
        _workload("Job", "migrate", _pod("ghcr.io/acme/migrate:3")),
        _workload("CronJob", "report", _pod("ghcr.io/acme/report:4")),
        _workload("Pod", "debug", _pod("nginx:1.27")),
        {"kind": "ConfigMap", "metadata": {"name": "c"}, "spec": _pod("not-an-image:1")},
    ]
    found = workload_images(desired)
    assert list(found) == [
        "busybox:1.36",
        "nginx:1.27",
        "postgres:16",
        "ghcr.io/acme/agent:2",
        "ghcr.io/acme/migrate:3",
        "ghcr.io/acme/report:4",
    ]
    assert [(w["kind"], w["name"], w["init"]) for w in found["nginx:1.27"]] == [
        ("Deployment", "web", False),
        ("Pod", "debug", False),
    ]
    assert found["busybox:1.36"][0]["container"] == "i0" and found["busybox:1.36"][0]["init"]


def _policy(name: str, image: str, tag: str, digest: str | None = None) -> dict[str, Any]:
    status = flux.resolved(image, tag)
    if digest:
        status["latestRef"]["digest"] = digest
    obj = {**flux.image_policy(name, name), "status": status}
    return policy_summary(obj, {}, "argocd")


def test_images_match_policies_by_canonical_repository_and_compare_tags_or_digests() -> None:
    digest = "sha256:" + "a" * 64
    desired = [
        _workload(
            "Deployment",
            "web",
            _pod("nginx", "docker.io/library/redis:7.2", f"ghcr.io/acme/api@{digest}", "Bad Image"),
        )
    ]
    policies = [
        _policy("nginx", "index.docker.io/library/nginx", "latest"),
        _policy("redis", "redis", "7.4"),
        _policy("api", "ghcr.io/acme/api", "2.0.0", "sha256:" + "b" * 64),
    ]
    images = {i["image"]: i for i in application_images(desired, policies, [])}
    nginx = images["nginx"]
    assert (nginx["repository"], nginx["tag"], nginx["latestTag"]) == (
        "docker.io/library/nginx",
        "latest",
        "latest",
    )
    assert nginx["updateAvailable"] is False
    redis = images["docker.io/library/redis:7.2"]
    assert (redis["latestTag"], redis["updateAvailable"]) == ("7.4", True)
    api = images[f"ghcr.io/acme/api@{digest}"]
    assert (api["tag"], api["digest"], api["updateAvailable"]) == (None, digest, True)
    bad = images["Bad Image"]
    assert (bad["repository"], bad["policies"], bad["updateAvailable"]) == (None, [], False)


def test_pull_requests_come_from_the_automations_that_select_the_images_policy() -> None:
    desired = [_workload("Deployment", "web", _pod("ghcr.io/acme/web:1.0.0"))]
    web = _policy("web", "ghcr.io/acme/web", "1.1.0")
    other = _policy("other", "ghcr.io/acme/other", "1.1.0")
    policies_by_name = {
        "web": {"metadata": {"name": "web", "labels": {"team": "web"}}},
        "other": {"metadata": {"name": "other"}},
    }
    selecting = flux.image_update_automation("web", "Application", "web")
    selecting["spec"]["policySelector"] = {"matchLabels": {"team": "web"}}
    not_selecting = flux.image_update_automation("rest", "Application", "web")
    not_selecting["spec"]["policySelector"] = {"matchLabels": {"team": "none"}}
    broken = flux.image_update_automation("broken", "Application", "web")
    broken["spec"]["policySelector"] = {"matchExpressions": [{"key": "x", "operator": "Near"}]}
    automations = [
        automation_summary(
            {**a, "status": flux.proposed(n, f"https://h/pull/{n}")}, policies_by_name
        )
        for n, a in enumerate((selecting, not_selecting, broken), start=1)
    ]
    assert [a["policies"] for a in automations] == [["web"], [], []]
    [image] = application_images(desired, [web, other], automations)
    assert [(p["automation"], p["number"]) for p in image["pullRequests"]] == [("web", 1)]
