"""Every rendered object against its AppProject: namespaces, kinds, the control namespace, child
Applications, and Secrets an app refers to (pure checks; the story on the real stack is in
test_isolation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tether.controller.admission import (
    WriteScope,
    check_object,
    check_objects,
    check_secret_use,
    refusal,
)
from tether.controller.project import ProjectViolation, default_project, parse_project

IN_CLUSTER = "https://kubernetes.default.svc"


def team_b(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "team-b", "namespace": "argocd", "annotations": annotations or {}},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": IN_CLUSTER, "namespace": "team-b"}],
            **spec,
        },
    }


def scope_of(project_obj: dict[str, Any], control: str | None = "argocd") -> WriteScope:
    return WriteScope.of(project_obj, parse_project(project_obj), IN_CLUSTER, "in-cluster", control)


def obj(kind: str, name: str, namespace: str = "", api_version: str = "v1", **extra: Any) -> Any:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def refused(scope: WriteScope, o: dict[str, Any]) -> str:
    with pytest.raises(ProjectViolation) as info:
        check_object(scope, o)
    return info.value.message


def test_an_objects_own_namespace_must_be_a_destination_of_the_project() -> None:
    scope = scope_of(team_b())
    check_object(scope, obj("ConfigMap", "ok", "team-b"))
    assert refused(scope, obj("ConfigMap", "pwn", "kube-system")) == (
        "ConfigMap kube-system/pwn: namespace kube-system is not permitted in project 'team-b'"
    )


def test_cluster_scoped_kinds_need_the_cluster_whitelist() -> None:
    role = obj("ClusterRole", "all", api_version="rbac.authorization.k8s.io/v1")
    assert refused(scope_of(team_b()), role) == (
        "rbac.authorization.k8s.io/ClusterRole all: cluster-scoped resource "
        "rbac.authorization.k8s.io:ClusterRole is not permitted in project 'team-b'"
    )
    allowed = team_b(
        clusterResourceWhitelist=[{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}]
    )
    check_object(scope_of(allowed), role)


def test_namespaced_kinds_follow_the_namespace_resource_lists() -> None:
    scope = scope_of(team_b(namespaceResourceBlacklist=[{"group": "", "kind": "Secret"}]))
    check_object(scope, obj("ConfigMap", "c", "team-b"))
    assert "resource :Secret is not permitted" in refused(scope, obj("Secret", "s", "team-b"))


def test_a_namespace_object_is_a_destination_too() -> None:
    proj = team_b(clusterResourceWhitelist=[{"group": "", "kind": "Namespace"}])
    check_object(scope_of(proj), obj("Namespace", "team-b"))
    assert refused(scope_of(proj), obj("Namespace", "kube-system")) == (
        "Namespace kube-system: namespace kube-system is not permitted in project 'team-b'"
    )


def test_the_control_namespace_needs_an_exact_destination_not_a_glob() -> None:
    everywhere = team_b(destinations=[{"server": "*", "namespace": "*"}])
    secret = obj("Secret", "tether-secret", "argocd")
    assert refused(scope_of(everywhere), secret) == (
        "Secret argocd/tether-secret: the control namespace argocd is writable only when a "
        "destination of project 'team-b' names it exactly"
    )
    # another cluster's "argocd" namespace is an ordinary namespace
    check_object(scope_of(everywhere, control=None), secret)
    explicit = team_b(
        destinations=[
            {"server": IN_CLUSTER, "namespace": "team-b"},
            {"server": IN_CLUSTER, "namespace": "argocd"},
        ]
    )
    check_object(scope_of(explicit), secret)
    # an exact entry for another server does not open this one
    elsewhere = team_b(
        destinations=[
            {"server": "*", "namespace": "*"},
            {"server": "https://x", "namespace": "argocd"},
        ]
    )
    assert "control namespace" in refused(scope_of(elsewhere), secret)


def test_the_default_project_names_the_control_namespace_for_app_of_apps() -> None:
    scope = scope_of(default_project("argocd"))
    check_object(scope, obj("Application", "child", "argocd", "argoproj.io/v1alpha1"))
    check_object(scope, obj("ConfigMap", "anything", "team-b"))


def child_app(project: str | None) -> dict[str, Any]:
    spec = {"project": project} if project is not None else {}
    return obj("Application", "child", "argocd", "argoproj.io/v1alpha1", spec=spec)


def test_a_child_application_may_name_only_its_parents_project_unless_listed() -> None:
    proj = team_b(
        destinations=[
            {"server": IN_CLUSTER, "namespace": "team-b"},
            {"server": IN_CLUSTER, "namespace": "argocd"},
        ]
    )
    check_object(scope_of(proj), child_app("team-b"))
    assert refused(scope_of(proj), child_app("default")) == (
        "argoproj.io/Application argocd/child: project 'team-b' may not create Applications of "
        "project 'default' (list it in the tether.io/child-projects annotation of AppProject "
        "'team-b')"
    )
    assert "of project 'default'" in refused(scope_of(proj), child_app(None))  # default applies
    listed = {**proj, "metadata": {**proj["metadata"]}}
    listed["metadata"]["annotations"] = {"tether.io/child-projects": "team-b-*, team-c"}
    check_object(scope_of(listed), child_app("team-b-preview"))
    check_object(scope_of(listed), child_app("team-c"))
    assert "of project 'default'" in refused(scope_of(listed), child_app("default"))


def test_one_violation_refuses_the_whole_revision_and_the_message_lists_them() -> None:
    scope = scope_of(team_b())
    objects = [obj("ConfigMap", "ok", "team-b")] + [
        obj("ConfigMap", f"bad-{i}", "kube-system") for i in range(7)
    ]
    with pytest.raises(ProjectViolation) as info:
        check_objects(scope, objects)
    message = info.value.message
    assert message.count("is not permitted") == 5
    assert message.endswith("; and 2 more")
    assert refusal(scope, objects[0]) is None
    assert refusal(scope, objects[1]) is not None


def secret(projects: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "age", "namespace": "argocd"}
    if projects is not None:
        meta["annotations"] = {"tether.io/projects": projects}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


def test_a_secret_is_usable_only_by_the_projects_it_names() -> None:
    check_secret_use(secret("team-a, team-b"), "age", "team-b", "decryption")
    check_secret_use(secret("team-*"), "age", "team-b", "decryption")
    messages = set()
    for candidate in (secret(None), secret("team-a"), secret(""), None):
        with pytest.raises(ProjectViolation) as info:
            check_secret_use(candidate, "age", "team-b", "decryption")
        messages.add(info.value.message)
    # missing and not permitted answer alike: no way to probe other teams' Secrets
    assert messages == {
        "decryption Secret 'age' is not available to project 'team-b': it must exist in the "
        "control namespace and name the project in its tether.io/projects annotation"
    }
