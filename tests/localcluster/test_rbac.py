"""RBAC on the local cluster, driven by the real kubectl as kube-apiserver would be."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import (
    Kubectl,
    api_http,
    cert_kubectl,
    grant_role,
    granted_cluster_role,
    service_account_kubectl,
    wait_until,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bot(local_cluster: LocalCluster, namespace: str, tmp_path: Path) -> Kubectl:
    """kubectl as ServiceAccount ``bot`` of the test's namespace, with no rights yet."""
    return service_account_kubectl(local_cluster, namespace, "bot", tmp_path)


def grant_configmaps(kubectl: Kubectl, namespace: str, verbs: str = "create,get,list") -> None:
    sa = f"--serviceaccount={namespace}:bot"
    grant_role(kubectl, namespace, "cm", sa, f"--verb={verbs}", "--resource=configmaps")


def test_a_role_for_configmaps_allows_them_and_refuses_a_deployment_in_kube_apiservers_words(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    grant_configmaps(kubectl, namespace)
    bot("create", "configmap", "settings", "--from-literal=a=1", "-n", namespace)
    assert "settings" in bot("get", "configmaps", "-n", namespace).stdout
    refused = bot("create", "deployment", "web", "--image=nginx:1.27", "-n", namespace, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: failed to create deployment: deployments.apps is forbidden: "
        f'User "system:serviceaccount:{namespace}:bot" cannot create resource "deployments" '
        f'in API group "apps" in the namespace "{namespace}"'
    )
    elsewhere = bot("get", "configmaps", "-n", "default", check=False)
    assert (
        f'configmaps is forbidden: User "system:serviceaccount:{namespace}:bot" cannot list '
        'resource "configmaps" in API group "" in the namespace "default"'
    ) in elsewhere.stderr
    assert kubectl("get", "deployments", "-n", namespace).stdout == ""


def test_the_403_status_body_has_reason_details_and_code(
    local_cluster: LocalCluster, kubectl: Kubectl, namespace: str
) -> None:
    token = local_cluster.access().service_account_token(namespace, "bot")
    with api_http(local_cluster, token) as http:
        answer = http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    assert answer.status_code == 403
    assert answer.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'deployments.apps "web" is forbidden: User "system:serviceaccount:{namespace}:bot" '
        f'cannot get resource "deployments" in API group "apps" in the namespace "{namespace}"',
        "reason": "Forbidden",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 403,
    }


def test_auth_can_i_answers_for_an_impersonated_service_account(
    kubectl: Kubectl, namespace: str
) -> None:
    grant_configmaps(kubectl, namespace)
    who = f"--as=system:serviceaccount:{namespace}:bot"
    yes = kubectl("auth", "can-i", "create", "configmaps", "-n", namespace, who)
    assert yes.stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "delete", "configmaps", "-n", namespace, who, check=False)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    no = kubectl("auth", "can-i", "create", "deployments", "-n", namespace, who, check=False)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    listed = kubectl("auth", "can-i", "--list", "-n", namespace, who).stdout
    rows = {line.split()[0]: line for line in listed.splitlines()[1:] if not line.startswith(" ")}
    assert "[create get list]" in rows["configmaps"]
    assert "deployments.apps" not in rows
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rows  # system:basic-user


def test_a_binding_to_a_missing_role_says_so_in_the_refusal(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    kubectl(
        "create", "rolebinding", "ghost", "--clusterrole=no-such-role",
        f"--serviceaccount={namespace}:bot", "-n", namespace,
    )  # fmt: skip
    refused = bot("get", "secrets", "-n", namespace, check=False)
    assert refused.stderr.strip().endswith(
        f'in the namespace "{namespace}": RBAC: clusterrole.rbac.authorization.k8s.io '
        '"no-such-role" not found'
    )


def test_revoking_a_binding_takes_effect_on_the_next_request(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    grant_configmaps(kubectl, namespace)
    assert bot("get", "configmaps", "-n", namespace).returncode == 0
    kubectl("delete", "rolebinding", "cm", "-n", namespace)
    assert "is forbidden" in bot("get", "configmaps", "-n", namespace, check=False).stderr


def test_resource_names_restrict_to_the_named_objects(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    for name in ("open", "closed"):
        kubectl("create", "configmap", name, "-n", namespace)
    grant_role(
        kubectl, namespace, "one", f"--serviceaccount={namespace}:bot",
        "--verb=get,list,update", "--resource=configmaps", "--resource-name=open",
    )  # fmt: skip
    assert bot("get", "configmap", "open", "-n", namespace).returncode == 0
    closed = bot("get", "configmap", "closed", "-n", namespace, check=False)
    assert 'configmaps "closed" is forbidden' in closed.stderr
    listing = bot("get", "configmaps", "-n", namespace, check=False)
    assert 'cannot list resource "configmaps"' in listing.stderr
    # a list narrowed to the allowed name by a field selector is authorized as that name
    narrowed = bot(
        "get", "configmaps", "--field-selector=metadata.name=open", "-n", namespace, "-o", "name"
    )
    assert narrowed.stdout.strip() == "configmap/open"


def test_subresource_rules_grant_the_subresource_only(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", namespace)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "scaler", "namespace": namespace},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get", "patch", "update"]}
        ],
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(role))
    kubectl(
        "create", "rolebinding", "scaler", "--role=scaler", f"--serviceaccount={namespace}:bot",
        "-n", namespace,
    )  # fmt: skip
    who = f"--as=system:serviceaccount:{namespace}:bot"
    can = kubectl(
        "auth", "can-i", "update", "deployments.apps", "--subresource=scale", "-n", namespace, who
    )
    assert can.stdout.strip() == "yes"
    cannot = kubectl(
        "auth", "can-i", "update", "deployments.apps", "-n", namespace, who, check=False
    )
    assert cannot.stdout.strip() == "no"
    # the scale subresource alone: the Deployment itself is not readable
    refused = bot("scale", "deployment", "web", "--replicas=3", "-n", namespace, check=False)
    assert 'cannot get resource "deployments"' in refused.stderr
    scale_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale"
    body = bot("get", "--raw", scale_path).stdout
    assert yaml.safe_load(body)["kind"] == "Scale"


def test_non_resource_urls_match_exactly_or_by_a_trailing_star(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    who = f"--as=system:serviceaccount:{namespace}:bot"
    assert kubectl("auth", "can-i", "get", "/metrics", who, check=False).stdout.strip() == "no"
    refused = bot("get", "--raw", "/metrics", check=False)
    assert (
        f'forbidden: User "system:serviceaccount:{namespace}:bot" cannot get path "/metrics"'
        in refused.stderr
    )
    role = unique("metrics-reader")
    sa = f"--serviceaccount={namespace}:bot"
    with granted_cluster_role(kubectl, role, sa, "--verb=get", "--non-resource-url=/metr*"):
        assert "apiserver_request_total" in bot("get", "--raw", "/metrics").stdout
        assert kubectl("auth", "can-i", "get", "/metrics", who).stdout.strip() == "yes"
        # discovery is for every authenticated user (system:discovery), /version too
        assert bot("get", "--raw", "/version").returncode == 0
        assert bot("api-versions").returncode == 0


def test_cluster_role_aggregation_fills_and_follows_the_selected_roles(
    kubectl: Kubectl, namespace: str
) -> None:
    label = unique("tether.test/aggregate")
    combined, part = unique("combined"), unique("part")
    aggregated = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": combined},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(aggregated))
    kubectl("create", "clusterrole", part, "--verb=get", "--resource=configmaps")
    kubectl("label", "clusterrole", part, f"{label}=true")
    try:

        def rules() -> list[dict[str, object]]:
            out = kubectl("get", "clusterrole", combined, "-o", "yaml").stdout
            return yaml.safe_load(out).get("rules") or []

        wait_until(
            lambda: rules() == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            what="the aggregated role takes the labelled role's rules",
        )
        kubectl(
            "patch", "clusterrole", part, "--type=json",
            '-p=[{"op":"add","path":"/rules/0/verbs/-","value":"list"}]',
        )  # fmt: skip
        wait_until(
            lambda: rules() and rules()[0]["verbs"] == ["get", "list"],
            what="a change of the labelled role reaches the aggregated one",
        )
        kubectl("label", "clusterrole", part, f"{label}-")
        wait_until(lambda: rules() == [], what="an unlabelled role leaves the aggregate")
    finally:
        kubectl("delete", "clusterrole", combined, part)


def test_bootstrap_view_role_is_aggregated_and_grants_reads_but_no_secrets(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    kubectl(
        "create", "rolebinding", "view", "--clusterrole=view",
        f"--serviceaccount={namespace}:bot", "-n", namespace,
    )  # fmt: skip
    assert bot("get", "deployments,configmaps,pods", "-n", namespace).returncode == 0
    assert "is forbidden" in bot("get", "secrets", "-n", namespace, check=False).stderr
    who = f"--as=system:serviceaccount:{namespace}:bot"
    for verb, resource, answer in (
        ("get", "pods/log", "yes"),
        ("watch", "statefulsets.apps", "yes"),
        ("create", "configmaps", "no"),
    ):
        got = kubectl("auth", "can-i", verb, resource, "-n", namespace, who, check=False)
        assert got.stdout.strip() == answer, (verb, resource)


def test_impersonation_needs_the_impersonate_verb(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    # kubectl's discovery is refused as well and it reports "unknown", as against a real
    # cluster; a raw request shows the refusal itself
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    refused = bot("get", "--raw", path, "--as=alice", check=False)
    assert refused.stderr.strip() == (
        f'Error from server (Forbidden): users "alice" is forbidden: User '
        f'"system:serviceaccount:{namespace}:bot" cannot impersonate resource "users" in API '
        'group "" at the cluster scope'
    )
    role = unique("impersonate-alice")
    rule = ["--verb=impersonate", "--resource=users", "--resource-name=alice"]
    with granted_cluster_role(kubectl, role, f"--serviceaccount={namespace}:bot", *rule):
        # now the request runs as alice, who may not list configmaps herself
        as_alice = bot("get", "configmaps", "-n", namespace, "--as=alice", check=False)
        assert 'User "alice" cannot list resource "configmaps"' in as_alice.stderr
        whoami = bot("auth", "whoami", "--as=alice", "-o", "yaml").stdout
        assert yaml.safe_load(whoami)["status"]["userInfo"] == {
            "username": "alice",
            "groups": ["system:authenticated"],
        }
        as_bob = bot("get", "configmaps", "-n", namespace, "--as=bob", check=False)
        assert 'users "bob" is forbidden' in as_bob.stderr
        group = bot("get", "--raw", path, "--as=alice", "--as-group=admins", check=False)
        assert 'groups "admins" is forbidden' in group.stderr


def test_admin_impersonates_a_group_and_gets_that_groups_rights(
    kubectl: Kubectl, namespace: str
) -> None:
    group = unique("editors")
    kubectl(
        "create", "rolebinding", "editors", "--clusterrole=edit", f"--group={group}",
        "-n", namespace,
    )  # fmt: skip
    as_member = ["--as=carol", f"--as-group={group}"]
    kubectl("create", "configmap", "made", "-n", namespace, *as_member)
    refused = kubectl("create", "role", "r", "--verb=get", "--resource=pods", "-n", namespace,
                      *as_member, check=False)  # fmt: skip
    assert 'User "carol" cannot create resource "roles"' in refused.stderr
    plain = kubectl("get", "configmaps", "-n", namespace, "--as=carol", check=False)
    assert 'User "carol" cannot list' in plain.stderr


def test_a_client_certificates_organization_is_its_group(
    local_cluster: LocalCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    group = unique("ops")
    kubectl(
        "create", "rolebinding", "ops", "--clusterrole=edit", f"--group={group}", "-n", namespace
    )
    dave = cert_kubectl(local_cluster, "dave", (group,), tmp_path)
    dave("create", "configmap", "by-cert", "-n", namespace)
    whoami = yaml.safe_load(dave("auth", "whoami", "-o", "yaml").stdout)
    assert whoami["status"]["userInfo"] == {
        "username": "dave",
        "groups": [group, "system:authenticated"],
    }
    stranger = cert_kubectl(local_cluster, "erin", (), tmp_path)
    refused = stranger("get", "configmaps", "-n", namespace, check=False)
    assert 'User "erin" cannot list resource "configmaps"' in refused.stderr


def test_the_viewer_reads_everything_through_its_bootstrap_binding(kubectl: Kubectl) -> None:
    binding = yaml.safe_load(
        kubectl("get", "clusterrolebinding", "tether:viewer", "-o", "yaml").stdout
    )
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}
    ]
    viewer = ["--context", "tether-local-viewer"]
    assert kubectl(*viewer, "auth", "can-i", "list", "secrets", "-A").stdout.strip() == "yes"
    no = kubectl(*viewer, "auth", "can-i", "patch", "deployments", "-A", check=False)
    assert no.stdout.strip() == "no"
    assert kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"  # system:masters


def test_a_subject_access_review_answers_for_another_user_with_the_granting_binding(
    local_cluster: LocalCluster, kubectl: Kubectl, namespace: str
) -> None:
    grant_configmaps(kubectl, namespace)
    with api_http(local_cluster, local_cluster.admin_token) as http:

        def review(verb: str, user: str) -> dict[str, object]:
            body = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user,
                    "groups": ["system:authenticated"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": verb,
                        "resource": "configmaps",
                    },
                },
            }
            answer = http.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=body)
            assert answer.status_code == 201
            status: dict[str, object] = answer.json()["status"]
            return status

        assert review("create", f"system:serviceaccount:{namespace}:bot") == {
            "allowed": True,
            "reason": f'RBAC: allowed by RoleBinding "cm/{namespace}" of Role "cm" to '
            f'ServiceAccount "{namespace}/bot"',
        }
        assert review("delete", f"system:serviceaccount:{namespace}:bot") == {"allowed": False}
        nobody = http.post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            json={"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}},
        )
        assert nobody.status_code == 422
        assert nobody.json()["message"] == (
            'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
            "at least one of user or group must be specified"
        )


def test_editors_may_impersonate_service_accounts_of_their_namespace_only(
    kubectl: Kubectl, bot: Kubectl, namespace: str
) -> None:
    kubectl(
        "create", "rolebinding", "bot-edit", "--clusterrole=edit",
        f"--serviceaccount={namespace}:bot", "-n", namespace,
    )  # fmt: skip
    kubectl("create", "serviceaccount", "worker", "-n", namespace)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    # allowed to impersonate (edit aggregates serviceaccounts/impersonate); the worker itself
    # has no rights, so the request is refused as the worker
    as_worker = bot(
        "get", "--raw", path, f"--as=system:serviceaccount:{namespace}:worker", check=False
    )
    assert f'User "system:serviceaccount:{namespace}:worker" cannot list' in as_worker.stderr
    elsewhere = bot("get", "--raw", path, "--as=system:serviceaccount:default:worker", check=False)
    assert elsewhere.stderr.strip() == (
        'Error from server (Forbidden): serviceaccounts "worker" is forbidden: User '
        f'"system:serviceaccount:{namespace}:bot" cannot impersonate resource "serviceaccounts" '
        'in API group "" in the namespace "default"'
    )
