"""The policy engine alone: Argo CD's CSV lines, globs, roles, deny, the default role."""

from __future__ import annotations

import pytest

from tether.server.rbac import PolicyError, build_policy


def test_builtin_roles_admin_may_do_everything_and_readonly_only_get() -> None:
    policy = build_policy({})
    assert policy.allowed(["admin"], "applications", "delete", "default/app")
    assert policy.allowed(["admin"], "clusters", "create", "https://x")
    assert policy.allowed(["role:readonly"], "applications", "get", "team/app")
    assert not policy.allowed(["role:readonly"], "applications", "sync", "team/app")
    assert not policy.allowed(["alice"], "applications", "get", "team/app")


def test_p_and_g_lines_with_globs_give_project_scoped_rights() -> None:
    policy = build_policy(
        {
            "policy.csv": """
            # the payments team
            p, role:payments, applications, *, payments/*, allow
            p, role:payments, applications, sync, shared/pay-*, allow
            g, payments-team, role:payments
            g, alice, payments-team
            """
        }
    )
    assert policy.allowed(["alice"], "applications", "sync", "payments/api")
    assert policy.allowed(["alice"], "applications", "delete", "payments/api")
    assert policy.allowed(["alice"], "applications", "sync", "shared/pay-worker")
    assert not policy.allowed(["alice"], "applications", "sync", "shared/catalog")
    assert not policy.allowed(["alice"], "projects", "get", "payments")


def test_deny_wins_over_any_allow_including_the_default_role() -> None:
    policy = build_policy(
        {
            "policy.csv": "p, alice, applications, get, secret/*, deny\ng, alice, role:admin",
            "policy.default": "role:readonly",
        }
    )
    assert not policy.allowed(["alice"], "applications", "get", "secret/db")
    assert policy.allowed(["alice"], "applications", "get", "public/web")
    assert policy.allowed(["anyone"], "applications", "get", "public/web")
    assert not policy.allowed(["anyone"], "applications", "sync", "public/web")


def test_regex_match_mode_and_overlay_keys() -> None:
    policy = build_policy(
        {
            "policy.matchMode": "regex",
            "policy.extra.csv": r"p, ops, applications, sync, (prod|stage)/web-\d+, allow",
        }
    )
    assert policy.allowed(["ops"], "applications", "sync", "prod/web-12")
    assert not policy.allowed(["ops"], "applications", "sync", "dev/web-12")


def test_server_settings_lines_and_default_role_add_to_the_configmap() -> None:
    policy = build_policy({"policy.default": "role:readonly"}, "g, carol, role:admin", "")
    assert policy.allowed(["carol"], "projects", "delete", "x")
    assert not policy.allowed(["dave"], "applications", "get", "a/b")


@pytest.mark.parametrize(
    "line",
    [
        "p, alice, applications, get",
        "p, alice, applications, get, */*, maybe",
        "g, alice",
        "x, alice, role:admin",
    ],
)
def test_malformed_lines_are_refused_with_their_line_number(line: str) -> None:
    with pytest.raises(PolicyError, match="line 2"):
        build_policy({"policy.csv": f"g, bob, role:readonly\n{line}"})
