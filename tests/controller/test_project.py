"""AppProject checks with Argo CD's glob and negation semantics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tether.controller.models import InvalidSpecError
from tether.controller.project import (
    DEFAULT_PROJECT,
    ProjectViolation,
    default_project,
    glob_match,
    parse_project,
)

IN_CLUSTER = "https://kubernetes.default.svc"


def project(**spec: Any) -> Any:
    return parse_project(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "team", "namespace": "argocd"},
            "spec": spec,
        }
    )


def test_default_project_permits_everything_argo_cd_permits() -> None:
    proj = parse_project(default_project("argocd"))
    assert proj.name == "default" and proj.namespace == "argocd"
    assert "namespace" not in DEFAULT_PROJECT["metadata"]  # the template stays untouched
    proj.check_source("https://github.com/org/k8s-manifests.git")
    proj.check_source("git@github.com:org/any/nested/repo.git")
    proj.check_destination(IN_CLUSTER, None, "payment-service")
    proj.check_destination(None, "in-cluster", "")
    proj.check_resource("apps", "Deployment", namespaced=True)
    proj.check_resource("", "Namespace", namespaced=False)
    proj.check_resource("rbac.authorization.k8s.io", "ClusterRole", namespaced=False)


def test_source_globs_stay_within_a_path_segment() -> None:
    proj = project(sourceRepos=["https://github.com/org/*"])
    proj.check_source("https://github.com/org/k8s-manifests.git")
    proj.check_source("https://GitHub.com/Org/K8s-Manifests/")
    proj.check_source("https://github.com:443/org/k8s-manifests")  # the default port
    with pytest.raises(ProjectViolation) as info:
        proj.check_source("https://github.com/org/nested/repo.git")
    assert str(info.value) == (
        "application repo https://github.com/org/nested/repo.git is not permitted in project 'team'"
    )
    project(sourceRepos=["https://github.com/org/**"]).check_source(
        "https://github.com/org/nested/repo.git"
    )
    with pytest.raises(ProjectViolation):
        project(sourceRepos=["https://github.com/org/*"]).check_source("https://gitlab.com/org/a")


def test_negated_source_denies_even_when_another_pattern_allows() -> None:
    proj = project(sourceRepos=["*", "!https://github.com/org/secret*"])
    proj.check_source("https://github.com/org/public.git")
    with pytest.raises(ProjectViolation, match=r"secret-stuff.git is not permitted"):
        proj.check_source("https://github.com/org/secret-stuff.git")


def test_project_without_source_repos_permits_none() -> None:
    with pytest.raises(ProjectViolation):
        project().check_source("https://github.com/org/a")


def test_destination_by_server_or_name_and_namespace_glob() -> None:
    proj = project(
        destinations=[
            {"server": IN_CLUSTER, "namespace": "team-*"},
            {"name": "prod-*", "namespace": "payments"},
        ]
    )
    proj.check_destination(IN_CLUSTER, "in-cluster", "team-a")
    proj.check_destination("https://prod-eu.example.com", "prod-eu", "payments")
    with pytest.raises(ProjectViolation) as info:
        proj.check_destination(IN_CLUSTER, "in-cluster", "kube-system")
    assert str(info.value) == (
        f"application destination server '{IN_CLUSTER}' and namespace 'kube-system' do not "
        "match any of the allowed destinations in project 'team'"
    )
    with pytest.raises(ProjectViolation, match="destination name 'staging'"):
        proj.check_destination(None, "staging", "payments")


def test_negated_destination_denies_a_namespace_everywhere() -> None:
    proj = project(
        destinations=[
            {"server": "*", "namespace": "*"},
            {"server": "*", "namespace": "!kube-system"},
        ]
    )
    proj.check_destination(IN_CLUSTER, None, "payments")
    with pytest.raises(ProjectViolation, match="namespace 'kube-system'"):
        proj.check_destination(IN_CLUSTER, None, "kube-system")


def test_negated_server_denies_that_cluster() -> None:
    proj = project(
        destinations=[
            {"server": "*", "namespace": "*"},
            {"server": "!https://prod.example.com", "namespace": "*"},
        ]
    )
    proj.check_destination("https://dev.example.com", None, "a")
    with pytest.raises(ProjectViolation):
        proj.check_destination("https://prod.example.com", None, "a")


def test_cluster_scoped_resources_need_a_whitelist_entry() -> None:
    proj = project(clusterResourceWhitelist=[{"group": "", "kind": "Namespace"}])
    proj.check_resource("", "Namespace", namespaced=False)
    with pytest.raises(ProjectViolation) as info:
        proj.check_resource("rbac.authorization.k8s.io", "ClusterRole", namespaced=False)
    assert str(info.value) == (
        "resource rbac.authorization.k8s.io:ClusterRole is not permitted in project team"
    )
    with pytest.raises(ProjectViolation):
        project().check_resource("", "Namespace", namespaced=False)


def test_cluster_blacklist_wins_over_whitelist() -> None:
    proj = project(
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
        clusterResourceBlacklist=[{"group": "rbac.authorization.k8s.io", "kind": "Cluster*"}],
    )
    proj.check_resource("", "Namespace", namespaced=False)
    with pytest.raises(ProjectViolation):
        proj.check_resource("rbac.authorization.k8s.io", "ClusterRoleBinding", namespaced=False)


def test_namespaced_resources_allowed_unless_blacklisted() -> None:
    proj = project(namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}])
    proj.check_resource("apps", "Deployment", namespaced=True)
    with pytest.raises(ProjectViolation, match="resource :ResourceQuota is not permitted"):
        proj.check_resource("", "ResourceQuota", namespaced=True)


def test_namespace_whitelist_limits_namespaced_resources() -> None:
    proj = project(namespaceResourceWhitelist=[{"group": "apps", "kind": "*"}])
    proj.check_resource("apps", "Deployment", namespaced=True)
    with pytest.raises(ProjectViolation, match="resource apps:Deployment"):
        project(namespaceResourceWhitelist=[]).check_resource("apps", "Deployment", True)
    with pytest.raises(ProjectViolation, match="resource :Secret"):
        proj.check_resource("", "Secret", namespaced=True)


def test_resource_entry_with_a_name_glob_only_matches_those_names() -> None:
    proj = project(clusterResourceWhitelist=[{"group": "", "kind": "Namespace", "name": "team-*"}])
    proj.check_resource("", "Namespace", namespaced=False, name="team-a")
    with pytest.raises(ProjectViolation):
        proj.check_resource("", "Namespace", namespaced=False, name="kube-system")


def test_source_namespaces_accept_globs_and_regular_expressions() -> None:
    proj = project(sourceNamespaces=["team-*", "/^ops-[0-9]+$/"])
    assert proj.permits_app_namespace("argocd", "argocd")
    assert proj.permits_app_namespace("team-a", "argocd")
    assert proj.permits_app_namespace("ops-12", "argocd")
    assert not proj.permits_app_namespace("ops-x", "argocd")
    assert not proj.permits_app_namespace("other", "argocd")


def test_sync_windows_are_parsed() -> None:
    proj = project(
        syncWindows=[
            {
                "kind": "deny",
                "schedule": "0 22 * * *",
                "duration": "1h",
                "applications": ["*"],
                "manualSync": True,
                "timeZone": "Europe/Paris",
            }
        ]
    )
    (window,) = proj.sync_windows
    assert (window.kind, window.schedule.text, window.duration_text) == ("deny", "0 22 * * *", "1h")
    assert window.duration == timedelta(hours=1)
    assert window.applications == ("*",) and window.manual_sync
    assert window.time_zone == "Europe/Paris" and proj.sync_window_error == ""


def test_unreadable_sync_windows_are_reported_not_dropped() -> None:
    proj = project(syncWindows=[{"kind": "deny", "schedule": "0 25 * * *", "duration": "1h"}])
    assert proj.sync_windows == ()
    assert proj.sync_window_error.startswith("syncWindows[0].schedule: hour: 25")


@pytest.mark.parametrize(
    ("pattern", "value", "separators", "expected"),
    [
        ("a*", "abc", "", True),
        ("a*", "a/b", "", True),
        ("a*", "a/b", "/", False),
        ("a/**", "a/b/c", "/", True),
        ("a?c", "abc", "", True),
        ("[a-c]x", "bx", "", True),
        ("[!a-c]x", "bx", "", False),
        ("{dev,prod}-*", "prod-1", "", True),
        ("{dev,prod}-*", "qa-1", "", False),
        ("a\\*", "a*", "", True),
        ("a\\*", "ab", "", False),
        ("[", "[", "", False),
    ],
)
def test_glob_match_follows_gobwas_glob(
    pattern: str, value: str, separators: str, expected: bool
) -> None:
    assert glob_match(pattern, value, separators=separators) is expected


def test_malformed_projects_raise_invalid_spec() -> None:
    with pytest.raises(InvalidSpecError, match=r"metadata.name is required"):
        parse_project({"spec": {}})
    with pytest.raises(InvalidSpecError, match=r"spec.sourceRepos\[0\] must be a string"):
        project(sourceRepos=[1])
    with pytest.raises(
        InvalidSpecError, match=r"spec.clusterResourceWhitelist\[0\]: group and kind are required"
    ):
        project(clusterResourceWhitelist=[{"kind": "Namespace"}])


def test_source_patterns_compare_scheme_host_and_port() -> None:
    proj = project(sourceRepos=["https://git.example.com/team/*"])
    proj.check_source("https://git.example.com/team/app.git")
    for other in (
        "http://git.example.com/team/app",  # another scheme
        "https://git.example.com:8443/team/app",  # another port
        "http://git.example.com:8080/team/x",
        "git@git.example.com:team/app.git",  # ssh is another transport
        "https://git.example.com/team/%2e%2e/other/app",  # no escaping the folder
    ):
        with pytest.raises(ProjectViolation):
            proj.check_source(other)
    ssh = project(sourceRepos=["ssh://git@git.example.com/team/*"])
    ssh.check_source("git@git.example.com:team/app.git")  # scp-like spelling, same repository
    project(sourceRepos=["*://git.example.com/team/*"]).check_source(
        "http://git.example.com/team/a"
    )
