"""Nobody grants what they do not hold: escalation prevention on roles and bindings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import Kubectl, grant_role, service_account_kubectl


@pytest.fixture
def lead(local_cluster: LocalCluster, kubectl: Kubectl, namespace: str, tmp_path: Path) -> Kubectl:
    """kubectl as ServiceAccount ``lead``, admin of the test's namespace (bootstrap ``admin``)."""
    run = service_account_kubectl(local_cluster, namespace, "lead", tmp_path)
    kubectl(
        "create", "rolebinding", "lead-admin", "--clusterrole=admin",
        f"--serviceaccount={namespace}:lead", "-n", namespace,
    )  # fmt: skip
    return run


def groups_of(namespace: str) -> str:
    return f'["system:serviceaccounts" "system:serviceaccounts:{namespace}" "system:authenticated"]'


def test_a_namespace_admin_may_grant_what_it_holds_but_not_more(
    lead: Kubectl, namespace: str
) -> None:
    lead("create", "role", "readers", "--verb=get,list", "--resource=configmaps", "-n", namespace)
    refused = lead(
        "create", "role", "nodes", "--verb=get", "--resource=nodes", "--verb=list",
        "-n", namespace, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): roles.rbac.authorization.k8s.io "nodes" is forbidden: '
        f'user "system:serviceaccount:{namespace}:lead" (groups={groups_of(namespace)}) is '
        "attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}'
    )


def test_binding_a_role_needs_its_permissions_or_the_bind_verb(
    kubectl: Kubectl, lead: Kubectl, namespace: str
) -> None:
    sa = f"--serviceaccount={namespace}:someone"
    lead("create", "rolebinding", "viewers", "--clusterrole=view", sa, "-n", namespace)
    refused = lead(
        "create", "rolebinding", "root", "--clusterrole=cluster-admin", sa, "-n", namespace,
        check=False,
    )  # fmt: skip
    assert 'rolebindings.rbac.authorization.k8s.io "root" is forbidden: user' in refused.stderr
    assert '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' in refused.stderr
    assert '{NonResourceURLs:["*"], Verbs:["*"]}' in refused.stderr
    binder = f"bind-{uuid.uuid4().hex[:8]}"
    grant_role(
        kubectl, namespace, binder, f"--serviceaccount={namespace}:lead", "--verb=bind",
        "--resource=clusterroles.rbac.authorization.k8s.io", "--resource-name=cluster-admin",
    )  # fmt: skip
    lead("create", "rolebinding", "root", "--clusterrole=cluster-admin", sa, "-n", namespace)
    missing = lead(
        "create", "rolebinding", "ghost", "--clusterrole=no-such-role", sa, "-n", namespace,
        check=False,
    )  # fmt: skip
    assert 'clusterrole.rbac.authorization.k8s.io "no-such-role" not found' in missing.stderr


def test_the_escalate_verb_allows_a_role_beyond_ones_rights_and_patches_are_checked_too(
    kubectl: Kubectl, lead: Kubectl, namespace: str
) -> None:
    lead("create", "role", "grows", "--verb=get", "--resource=configmaps", "-n", namespace)
    patch = '[{"op":"add","path":"/rules/0/resources/-","value":"nodes"}]'
    refused = lead(
        "patch", "role", "grows", "--type=json", f"-p={patch}", "-n", namespace, check=False
    )
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    rules = yaml.safe_load(lead("get", "role", "grows", "-n", namespace, "-o", "yaml").stdout)
    assert rules["rules"][0]["resources"] == ["configmaps"]  # the refused patch changed nothing
    grant_role(
        kubectl, namespace, "escalator", f"--serviceaccount={namespace}:lead",
        "--verb=escalate", "--resource=roles.rbac.authorization.k8s.io",
    )  # fmt: skip
    lead("patch", "role", "grows", "--type=json", f"-p={patch}", "-n", namespace)


def test_a_role_expanding_to_too_many_permissions_is_refused_before_it_is_checked(
    lead: Kubectl, namespace: str
) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "huge", "namespace": namespace},
        "rules": [
            {
                "apiGroups": [f"g{i}.example.com" for i in range(200)],
                "resources": [f"r{i}" for i in range(200)],
                "verbs": ["get", "list"],
            }
        ],
    }
    refused = lead("create", "-f", "-", input=yaml.safe_dump(role), check=False)
    assert refused.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": the rules expand to more '
        "than 20000 permissions to check"
    )
