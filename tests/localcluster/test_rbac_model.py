"""The indexed, cached authorizer decides as a plain reading of kube's RBAC algorithm would."""

from __future__ import annotations

import itertools
import uuid
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from tether.localcluster.rbac import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    ROLES,
    Identity,
    RbacAuthorizer,
)
from tether.localcluster.requestinfo import Attributes, request_attributes
from tether.localcluster.store import Key, Store

NAMESPACES = ["a", "b"]
USERS = ["ann", "system:serviceaccount:a:bot"]
GROUPS = ["dev"]
VERBS = ["get", "create", "*"]
API_GROUPS = ["", "apps", "*"]
RESOURCES = ["configmaps", "deployments", "deployments/scale", "*/scale", "*", "pods/log"]
NAMES = ["x", "y"]
URLS = ["/metrics", "/api", "/apis/*", "*"]
ROLE_NAMES = ["r1", "r2", "missing"]  # the first two exist

rules = st.one_of(
    st.fixed_dictionaries(
        {
            "verbs": st.lists(st.sampled_from(VERBS), min_size=1, max_size=2),
            "apiGroups": st.lists(st.sampled_from(API_GROUPS), min_size=1, max_size=2),
            "resources": st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2),
            "resourceNames": st.lists(st.sampled_from(NAMES), max_size=1),
        }
    ),
    st.fixed_dictionaries(
        {
            "verbs": st.lists(st.sampled_from(VERBS), min_size=1, max_size=2),
            "nonResourceURLs": st.lists(st.sampled_from(URLS), min_size=1, max_size=2),
        }
    ),
)
subjects = st.one_of(
    st.builds(lambda n: {"kind": "User", "name": n}, st.sampled_from(USERS)),
    st.builds(lambda n: {"kind": "Group", "name": n}, st.sampled_from(GROUPS)),
    st.builds(
        lambda ns: {"kind": "ServiceAccount", "name": "bot", **({"namespace": ns} if ns else {})},
        st.sampled_from(["a", "b", ""]),
    ),
)
bindings = st.tuples(
    st.sampled_from(["ClusterRoleBinding", "RoleBinding"]),
    st.sampled_from(NAMESPACES),
    st.sampled_from(["Role", "ClusterRole"]),
    st.sampled_from(ROLE_NAMES),
    st.lists(subjects, min_size=1, max_size=2),
)
questions = st.one_of(
    st.builds(
        lambda v, ns, g, r, n: Attributes(v, True, ns, g, r.split("/")[0], _sub(r), n),
        st.sampled_from(["get", "create", "delete"]),
        st.sampled_from(["a", "a", "", "b"]),
        st.sampled_from(["", "apps"]),
        st.sampled_from(["configmaps", "deployments", "deployments/scale", "pods/log"]),
        st.sampled_from(["", *NAMES]),
    ),
    st.builds(
        lambda v, p: Attributes(v, False, path=p),
        st.sampled_from(["get", "post"]),
        st.sampled_from(["/metrics", "/api", "/apis/apps", "/version"]),
    ),
)
identities = st.builds(
    lambda u, gs: Identity(u, (*gs, "system:authenticated")),
    st.sampled_from(USERS),
    st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),
)


def aimed_at(rule: dict[str, Any]) -> st.SearchStrategy[Attributes]:
    """Questions a rule may answer: its own verbs, groups, resources, names and paths."""
    verbs = st.sampled_from([v if v != "*" else "delete" for v in rule["verbs"]])
    if "nonResourceURLs" in rule:
        paths = [
            u.replace("*", "metrics") if u != "*" else "/version" for u in rule["nonResourceURLs"]
        ]
        return st.builds(lambda v, p: Attributes(v, False, path=p), verbs, st.sampled_from(paths))
    groups = [g if g != "*" else "apps" for g in rule["apiGroups"]]
    resources = [r.replace("*", "deployments") for r in rule["resources"]]
    return st.builds(
        lambda v, ns, g, r, n: Attributes(v, True, ns, g, r.split("/")[0], _sub(r), n),
        verbs,
        st.sampled_from(["a", "a", "", "b"]),
        st.sampled_from(groups),
        st.sampled_from(resources),
        st.sampled_from([*rule.get("resourceNames", []), "", "x"]),
    )


def _sub(resource: str) -> str:
    return resource.split("/")[1] if "/" in resource else ""


_rv = itertools.count(2)


def put(store: Store, key: Key, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["resourceVersion"] = str(next(_rv))
    store.put(key, obj, store.get(key, meta.get("namespace", ""), meta["name"]))


def reference_allows(
    objects: dict[str, list[dict[str, Any]]], who: Identity, q: Attributes
) -> bool:
    """kube's RBAC authorizer read literally: every binding, every subject, every rule."""
    if "system:masters" in who.groups:
        return True
    candidates = [(b, "") for b in objects["crb"]]
    candidates += [
        (b, q.namespace)
        for b in objects["rb"]
        if q.namespace and b["metadata"]["namespace"] == q.namespace
    ]
    for binding, namespace in candidates:
        if not any(_applies(s, who, namespace) for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        if ref["kind"] == "ClusterRole":
            role = next((r for r in objects["cr"] if r["metadata"]["name"] == ref["name"]), None)
        else:
            role = next(
                (
                    r
                    for r in objects["r"]
                    if r["metadata"]["name"] == ref["name"]
                    and r["metadata"]["namespace"] == namespace
                ),
                None,
            )
        if role is not None and any(_rule_allows(rule, q) for rule in role["rules"]):
            return True
    return False


def _applies(subject: dict[str, Any], who: Identity, namespace: str) -> bool:
    if subject["kind"] == "User":
        return bool(subject["name"] == who.name)
    if subject["kind"] == "Group":
        return subject["name"] in who.groups
    ns = subject.get("namespace") or namespace
    return bool(ns) and who.name == f"system:serviceaccount:{ns}:{subject['name']}"


def _rule_allows(rule: dict[str, Any], q: Attributes) -> bool:
    if "*" not in rule["verbs"] and q.verb not in rule["verbs"]:
        return False
    if not q.resource_request:
        return any(
            u == "*" or u == q.path or (u.endswith("*") and q.path.startswith(u[:-1]))
            for u in rule.get("nonResourceURLs", [])
        )
    if "apiGroups" not in rule:
        return False
    if "*" not in rule["apiGroups"] and q.api_group not in rule["apiGroups"]:
        return False
    combined = f"{q.resource}/{q.subresource}" if q.subresource else q.resource
    if not any(
        r in ("*", combined) or (q.subresource and r == f"*/{q.subresource}")
        for r in rule["resources"]
    ):
        return False
    return not rule.get("resourceNames") or q.name in rule["resourceNames"]


@settings(max_examples=150, deadline=None)
@given(
    cluster_roles=st.dictionaries(
        st.sampled_from(ROLE_NAMES[:2]), st.lists(rules, min_size=1, max_size=3)
    ),
    roles=st.dictionaries(
        st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(ROLE_NAMES[:2])),
        st.lists(rules, min_size=1, max_size=3),
    ),
    binding_specs=st.lists(bindings, min_size=1, max_size=6),
    asks=st.lists(st.tuples(identities, questions), min_size=1, max_size=8),
    data=st.data(),
)
def test_indexed_cached_decisions_equal_the_literal_algorithm(
    cluster_roles: dict[str, list[dict[str, Any]]],
    roles: dict[tuple[str, str], list[dict[str, Any]]],
    binding_specs: list[tuple[str, str, str, str, list[dict[str, Any]]]],
    asks: list[tuple[Identity, Attributes]],
    data: st.DataObject,
) -> None:
    store = Store()
    authorizer = RbacAuthorizer(store)
    objects: dict[str, list[dict[str, Any]]] = {"cr": [], "r": [], "crb": [], "rb": []}
    # decide once on an empty store so that the writes below must invalidate the cache
    for who, q in asks:
        assert authorizer.authorize(who, q).allowed == ("system:masters" in who.groups)
    for name, role_rules in cluster_roles.items():
        obj = {"metadata": {"name": name}, "rules": role_rules}
        put(store, CLUSTER_ROLES, obj)
        objects["cr"].append(obj)
    for (ns, name), role_rules in roles.items():
        obj = {"metadata": {"name": name, "namespace": ns}, "rules": role_rules}
        put(store, ROLES, obj)
        objects["r"].append(obj)
    for i, (kind, ns, role_kind, role_name, subs) in enumerate(binding_specs):
        if kind == "ClusterRoleBinding" and role_kind == "Role":
            role_kind = "ClusterRole"  # the API refuses the other combination
        obj: dict[str, Any] = {
            "metadata": {"name": f"b{i}"},
            "roleRef": {"kind": role_kind, "name": role_name},
            "subjects": subs,
        }
        if kind == "RoleBinding":
            obj["metadata"]["namespace"] = ns
        put(store, ROLE_BINDINGS if kind == "RoleBinding" else CLUSTER_ROLE_BINDINGS, obj)
        objects["rb" if kind == "RoleBinding" else "crb"].append(obj)
    every_rule = [*itertools.chain(*cluster_roles.values()), *itertools.chain(*roles.values())]
    for _ in range(8 if every_rule else 0):  # questions aimed at the rules: many are allowed
        asks.append(
            (data.draw(identities), data.draw(aimed_at(data.draw(st.sampled_from(every_rule)))))
        )
    for _ in range(2):  # the second round answers from the decision cache
        for who, q in asks:
            assert authorizer.authorize(who, q).allowed == reference_allows(objects, who, q), (
                who,
                q,
            )


def test_requests_are_read_as_kube_apiservers_request_info() -> None:
    cases = {
        ("GET", "/api/v1/namespaces/n/pods"): ("list", "n", "", "pods", "", ""),
        ("GET", "/api/v1/namespaces/n/pods?watch=1"): ("watch", "n", "", "pods", "", ""),
        ("GET", "/api/v1/watch/namespaces/n/pods"): ("watch", "n", "", "pods", "", ""),
        ("GET", "/api/v1/namespaces/n"): ("get", "n", "", "namespaces", "", "n"),
        ("PUT", "/api/v1/namespaces/n/finalize"): (
            "update",
            "n",
            "",
            "namespaces",
            "finalize",
            "n",
        ),
        ("DELETE", "/apis/apps/v1/namespaces/n/deployments"): (
            "deletecollection",
            "n",
            "apps",
            "deployments",
            "",
            "",
        ),
        ("PATCH", "/apis/apps/v1/namespaces/n/deployments/w/scale"): (
            "patch",
            "n",
            "apps",
            "deployments",
            "scale",
            "w",
        ),
        ("GET", "/api/v1/namespaces/n/configmaps?fieldSelector=metadata.name%3Dc"): (
            "list",
            "n",
            "",
            "configmaps",
            "",
            "c",
        ),
        ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles"): (
            "create",
            "",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "",
        ),
    }
    for (method, url), expected in cases.items():
        path, _, query = url.partition("?")
        params = dict(parse_qsl(query))
        attrs = request_attributes(method, path, path.strip("/").split("/"), params)
        got = (
            attrs.verb,
            attrs.namespace,
            attrs.api_group,
            attrs.resource,
            attrs.subresource,
            attrs.name,
        )
        assert attrs.resource_request and got == expected, (method, url, got)
    for method, path in (("GET", "/apis/apps/v1"), ("GET", "/api"), ("PUT", "/tether/v1/faults")):
        attrs = request_attributes(method, path, path.strip("/").split("/"), {})
        assert not attrs.resource_request
        assert (attrs.verb, attrs.path) == (method.lower(), path)
