"""RBAC escalation prevention, as kube-apiserver's RBAC storage enforces it.

Nobody grants what they do not hold. Writing a Role or ClusterRole needs either the ``escalate``
verb on it or every permission it lists (in the role's namespace; a ClusterRole with an
``aggregationRule`` needs full rights, ``*`` on ``*``); writing a RoleBinding or
ClusterRoleBinding needs either the ``bind`` verb on the role it refers to or every permission of
that role. Members of ``system:masters`` pass. A refusal is 403 in the real server's words::

    roles.rbac.authorization.k8s.io "r" is forbidden: user "bob" (groups=["dev"
    "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
    {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tether.localcluster import apierrors
from tether.localcluster.apierrors import ApiError
from tether.localcluster.bootstrap import MASTERS, RBAC_GROUP
from tether.localcluster.rbac import CLUSTER_ROLES, ROLES, Identity, RbacAuthorizer
from tether.localcluster.requestinfo import Attributes

ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
BINDING_KINDS = {"rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding"}
#: atomic rules one role may expand to before the check gives up (bounds a hostile role's cost)
MAX_ATOMIC_RULES = 20_000
_FULL_RIGHTS = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def needs_check(identity: Identity, attrs: Attributes, method: str) -> bool:
    """Whether a request writes a role or binding and must be checked for escalation."""
    return (
        attrs.resource_request
        and attrs.api_group == RBAC_GROUP
        and (attrs.resource in ROLE_KINDS or attrs.resource in BINDING_KINDS)
        and not attrs.subresource
        and method in ("POST", "PUT", "PATCH")
        and MASTERS not in identity.groups
    )


def check_write(
    rbac: RbacAuthorizer, identity: Identity, attrs: Attributes, obj: dict[str, Any]
) -> None:
    """Refuse (403) a role or binding ``obj`` that would grant ``identity`` more than it holds."""
    name = str((obj.get("metadata") or {}).get("name") or attrs.name)
    namespace = attrs.namespace
    if attrs.resource in ROLE_KINDS:
        escalate = attrs._replace(verb="escalate", name=name, subresource="")
        if rbac.authorize(identity, escalate).allowed:
            return
        rules = list(obj.get("rules") or [])
        if obj.get("aggregationRule"):
            rules = rules + _FULL_RIGHTS
    else:
        ref = obj.get("roleRef") or {}
        role_resource = "roles" if ref.get("kind") == "Role" else "clusterroles"
        bind = Attributes(
            "bind", True, namespace, RBAC_GROUP, role_resource, "", str(ref.get("name", ""))
        )
        if rbac.authorize(identity, bind).allowed:
            return
        rules = _referenced_rules(rbac, ref, namespace)
    missing = _uncovered(rbac, identity, namespace, rules)
    if missing:
        raise _escalation_refused(identity, attrs, name, missing)


def _referenced_rules(rbac: RbacAuthorizer, ref: dict[str, Any], namespace: str) -> list[Any]:
    kind = str(ref.get("kind", ""))
    name = str(ref.get("name", ""))
    role = (
        rbac.store.get(ROLES, namespace, name)
        if kind == "Role"
        else rbac.store.get(CLUSTER_ROLES, "", name)
    )
    if role is None:
        resource = "role" if kind == "Role" else "clusterrole"
        raise ApiError(
            404,
            "NotFound",
            f'{resource}.{RBAC_GROUP} "{name}" not found',
            {"name": name, "group": RBAC_GROUP, "kind": resource},
        )
    return list(role.get("rules") or [])


def _uncovered(
    rbac: RbacAuthorizer, identity: Identity, namespace: str, rules: list[Any]
) -> list[dict[str, list[str]]]:
    """The atomic rules of ``rules`` that none of the caller's own rules covers."""
    owned, _ = rbac.rules_for(identity, namespace)
    owner_rules = [rule.source for rule in owned]
    missing = []
    for count, atom in enumerate(_atoms(rules)):
        if count >= MAX_ATOMIC_RULES:
            raise apierrors.bad_request(
                f"the rules expand to more than {MAX_ATOMIC_RULES} permissions to check"
            )
        if not any(_covers(owner, atom) for owner in owner_rules):
            missing.append(atom)
    return missing


def _atoms(rules: list[Any]) -> Iterator[dict[str, list[str]]]:
    """kube's ``BreakdownRule``: one verb of one resource of one group (and name), or one verb
    of one non-resource URL."""
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        verbs = [str(v) for v in rule.get("verbs") or []]
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for verb in verbs:
                    names = rule.get("resourceNames") or []
                    for name in names or [None]:
                        atom = {"apiGroups": [str(group)], "resources": [str(resource)]}
                        if name is not None:
                            atom["resourceNames"] = [str(name)]
                        atom["verbs"] = [verb]
                        yield atom
        for url in rule.get("nonResourceURLs") or []:
            for verb in verbs:
                yield {"nonResourceURLs": [str(url)], "verbs": [verb]}


def _covers(owner: dict[str, Any], atom: dict[str, list[str]]) -> bool:
    """kube's ``ruleCovers`` for one atomic rule."""
    verbs = owner.get("verbs") or []
    if "*" not in verbs and atom["verbs"][0] not in verbs:
        return False
    if "nonResourceURLs" in atom:
        url = atom["nonResourceURLs"][0]
        return any(
            own == url or (own.endswith("*") and url.startswith(own.rstrip("*")))
            for own in owner.get("nonResourceURLs") or []
        )
    groups = owner.get("apiGroups") or []
    if "*" not in groups and atom["apiGroups"][0] not in groups:
        return False
    resources = owner.get("resources") or []
    resource = atom["resources"][0]
    any_parent = "/" in resource and "*/" + resource.split("/", 1)[1] in resources
    if "*" not in resources and resource not in resources and not any_parent:
        return False
    owner_names = owner.get("resourceNames") or []
    return not owner_names or ("resourceNames" in atom and atom["resourceNames"][0] in owner_names)


def _escalation_refused(
    identity: Identity, attrs: Attributes, name: str, missing: list[dict[str, list[str]]]
) -> ApiError:
    groups = " ".join(f'"{g}"' for g in identity.groups)
    held = "\n".join(_compact_string(rule) for rule in _compacted(missing))
    message = (
        f'user "{identity.name}" (groups=[{groups}]) is attempting to grant RBAC permissions '
        f"not currently held:\n{held}"
    )
    resource = f"{attrs.resource}.{RBAC_GROUP}"
    return apierrors.forbidden(
        f'{resource} "{name}" is forbidden: {message}',
        {"name": name, "group": RBAC_GROUP, "kind": attrs.resource},
    )


def _compacted(rules: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """kube's ``CompactRules``: simple rules on the same group and resource share one rule."""
    out: list[dict[str, list[str]]] = []
    simple: dict[tuple[str, str], dict[str, list[str]]] = {}
    for rule in rules:
        if "nonResourceURLs" in rule or "resourceNames" in rule:
            out.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0])
        if key in simple:
            if rule["verbs"][0] not in simple[key]["verbs"]:
                simple[key]["verbs"].append(rule["verbs"][0])
        else:
            simple[key] = {**rule, "verbs": list(rule["verbs"])}
            out.append(simple[key])
    return sorted(out, key=_compact_string)


def _compact_string(rule: dict[str, list[str]]) -> str:
    """kube's ``PolicyRule.CompactString``: ``{APIGroups:[""], Resources:["x"], Verbs:["get"]}``."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs"),
    ):
        if rule.get(key):
            quoted = " ".join(f'"{v}"' for v in rule[key])
            parts.append(f"{label}:[{quoted}]")
    return "{" + ", ".join(parts) + "}"
