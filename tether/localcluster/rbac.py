"""RBAC authorization as kube-apiserver does it, answered from an index in one dictionary lookup.

Rules match as in the real authorizer: verbs and apiGroups by value or ``*``; resources by value,
``*``, ``<resource>/<subresource>`` or ``*/<subresource>``; resourceNames restrict by name (an
empty list allows every name); nonResourceURLs by value, ``*`` or a prefix ending in ``*``.
ClusterRoleBindings apply everywhere, RoleBindings in their namespace (a ServiceAccount subject
without a namespace means the binding's own). Members of ``system:masters`` are allowed
everything before RBAC is asked, as the real server's privileged-group authorizer does.

Speed: bindings are indexed by subject (user name or group) when an RBAC object changes, and
every decision is cached per (user, groups, request) until the next RBAC change, so a repeated
request costs one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tether.localcluster.apierrors import ApiError
from tether.localcluster.bootstrap import MASTERS
from tether.localcluster.requestinfo import Attributes
from tether.localcluster.store import Event, Key, Store

ROLES: Key = ("rbac.authorization.k8s.io", "roles")
CLUSTER_ROLES: Key = ("rbac.authorization.k8s.io", "clusterroles")
ROLE_BINDINGS: Key = ("rbac.authorization.k8s.io", "rolebindings")
CLUSTER_ROLE_BINDINGS: Key = ("rbac.authorization.k8s.io", "clusterrolebindings")
RBAC_KEYS = frozenset({ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS})
SA_PREFIX = "system:serviceaccount:"
#: decisions kept before the cache starts over (a burst of distinct names cannot grow it forever)
DECISION_CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class Identity:
    """Who a request runs as: kube's ``user.Info``."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return (self.name, self.groups)


class Decision(NamedTuple):
    allowed: bool
    reason: str = ""


class Rule(NamedTuple):
    """A PolicyRule compiled for matching (sets for the lists, the URL prefixes split out)."""

    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    urls: frozenset[str]
    url_prefixes: tuple[str, ...]
    source: dict[str, Any]


def compile_rule(rule: dict[str, Any]) -> Rule:
    urls = [str(u) for u in rule.get("nonResourceURLs") or []]
    return Rule(
        frozenset(str(v) for v in rule.get("verbs") or []),
        frozenset(str(g) for g in rule.get("apiGroups") or []),
        frozenset(str(r) for r in rule.get("resources") or []),
        frozenset(str(n) for n in rule.get("resourceNames") or []),
        frozenset(urls),
        tuple(u[:-1] for u in urls if u.endswith("*")),
        rule,
    )


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    """kube's ``RuleAllows``: does one rule grant the request?"""
    if "*" not in rule.verbs and attrs.verb not in rule.verbs:
        return False
    if not attrs.resource_request:
        if "*" in rule.urls or attrs.path in rule.urls:
            return True
        return any(attrs.path.startswith(prefix) for prefix in rule.url_prefixes)
    if "*" not in rule.groups and attrs.api_group not in rule.groups:
        return False
    if not _resource_matches(rule.resources, attrs.resource, attrs.subresource):
        return False
    return not rule.names or attrs.name in rule.names


def _resource_matches(resources: frozenset[str], resource: str, subresource: str) -> bool:
    if "*" in resources:
        return True
    if not subresource:
        return resource in resources
    return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources


def service_account_user(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


class Grant(NamedTuple):
    """One binding's subject that names a user or group, with what the binding refers to."""

    binding_kind: str  # ClusterRoleBinding | RoleBinding
    binding_name: str
    namespace: str  # "" for ClusterRoleBindings
    role_kind: str  # ClusterRole | Role
    role_name: str
    subject: str  # how kube describes it: User "x", Group "y", ServiceAccount "ns/name"

    def describe(self) -> str:
        name = f"{self.binding_name}/{self.namespace}" if self.namespace else self.binding_name
        return (
            f'{self.binding_kind} "{name}" of {self.role_kind} "{self.role_name}" to {self.subject}'
        )


@dataclass
class _Index:
    """Grants by subject: ``("User", name)`` or ``("Group", name)`` -> grants, per namespace."""

    cluster: dict[tuple[str, str], list[Grant]] = field(default_factory=dict)
    namespaced: dict[str, dict[tuple[str, str], list[Grant]]] = field(default_factory=dict)
    cluster_roles: dict[str, list[Rule]] = field(default_factory=dict)
    roles: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)


class RbacAuthorizer:
    """Authorizes requests against the RBAC objects of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: _Index | None = None
        self._decisions: dict[tuple[Any, ...], Decision] = {}
        #: how many times the index was rebuilt (tests and benchmarks read it)
        self.rebuilds = 0
        store.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.key in RBAC_KEYS:
            self._index = None
            self._decisions.clear()

    # ---- decisions -----------------------------------------------------------------------------

    def authorize(self, identity: Identity, attrs: Attributes) -> Decision:
        """Allowed or not, with kube's reason (who allowed it, or which roles were missing)."""
        if MASTERS in identity.groups:
            return Decision(True)
        key = (identity.key, attrs)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        decision = self._decide(identity, attrs)
        if len(self._decisions) >= DECISION_CACHE_LIMIT:
            self._decisions.clear()
        self._decisions[key] = decision
        return decision

    def _decide(self, identity: Identity, attrs: Attributes) -> Decision:
        errors: list[str] = []
        for grant, rules in self._grants(identity, attrs.namespace, errors):
            for rule in rules:
                if rule_allows(rule, attrs):
                    return Decision(True, f"RBAC: allowed by {grant.describe()}")
        if not errors:
            return Decision(False)
        joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        return Decision(False, f"RBAC: {joined}")

    def rules_for(self, identity: Identity, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule that applies to ``identity`` in ``namespace`` (cluster-wide ones included),
        and the errors met (missing roles), for SelfSubjectRulesReview."""
        if MASTERS in identity.groups:
            everything = [
                compile_rule({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
                compile_rule({"verbs": ["*"], "nonResourceURLs": ["*"]}),
            ]
            return everything, []
        errors: list[str] = []
        rules = [rule for _, found in self._grants(identity, namespace, errors) for rule in found]
        return rules, errors

    def _grants(
        self, identity: Identity, namespace: str, errors: list[str]
    ) -> Iterator[tuple[Grant, list[Rule]]]:
        """Grants that apply to ``identity``: cluster-wide first, then the namespace's."""
        index = self._ensure_index()
        subjects = [("User", identity.name), *(("Group", g) for g in identity.groups)]
        tables = [index.cluster]
        if namespace and namespace in index.namespaced:
            tables.append(index.namespaced[namespace])
        for table in tables:
            for subject in subjects:
                for grant in table.get(subject, ()):
                    rules = self._rules_of(index, grant)
                    if rules is None:
                        kind = grant.role_kind.lower()
                        errors.append(
                            f'{kind}.rbac.authorization.k8s.io "{grant.role_name}" not found'
                        )
                        continue
                    yield grant, rules

    @staticmethod
    def _rules_of(index: _Index, grant: Grant) -> list[Rule] | None:
        if grant.role_kind == "ClusterRole":
            return index.cluster_roles.get(grant.role_name)
        return index.roles.get((grant.namespace, grant.role_name))

    # ---- the index -----------------------------------------------------------------------------

    def _ensure_index(self) -> _Index:
        if self._index is None:
            self._index = self._build_index()
            self.rebuilds += 1
        return self._index

    def _build_index(self) -> _Index:
        index = _Index()
        for role in self.store.objects(CLUSTER_ROLES):
            index.cluster_roles[role["metadata"]["name"]] = _compiled(role)
        for role in self.store.objects(ROLES):
            meta = role["metadata"]
            index.roles[(meta.get("namespace") or "", meta["name"])] = _compiled(role)
        for binding in self.store.objects(CLUSTER_ROLE_BINDINGS):
            _add_binding(index.cluster, binding, "ClusterRoleBinding", "")
        for binding in self.store.objects(ROLE_BINDINGS):
            ns = binding["metadata"].get("namespace") or ""
            _add_binding(index.namespaced.setdefault(ns, {}), binding, "RoleBinding", ns)
        return index


def _compiled(role: dict[str, Any]) -> list[Rule]:
    return [compile_rule(r) for r in role.get("rules") or [] if isinstance(r, dict)]


def _add_binding(
    table: dict[tuple[str, str], list[Grant]], binding: dict[str, Any], kind: str, namespace: str
) -> None:
    ref = binding.get("roleRef") or {}
    for subject in binding.get("subjects") or []:
        key, described = _subject_key(subject, namespace)
        if key is None:
            continue
        grant = Grant(
            kind,
            binding["metadata"]["name"],
            namespace,
            str(ref.get("kind", "")),
            str(ref.get("name", "")),
            described,
        )
        table.setdefault(key, []).append(grant)


def _subject_key(subject: dict[str, Any], namespace: str) -> tuple[tuple[str, str] | None, str]:
    """The index key of a binding subject (kube's ``appliesToUser``) and how kube describes it."""
    kind = subject.get("kind")
    name = str(subject.get("name", ""))
    if kind in ("User", "Group"):
        return (kind, name), f'{kind} "{name}"'
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        if not sa_namespace:
            return None, ""
        described = f'ServiceAccount "{sa_namespace}/{name}"'
        return ("User", service_account_user(sa_namespace, name)), described
    return None, ""


def forbidden_message(user: str, attrs: Attributes) -> str:
    """kube-apiserver's ``forbiddenMessage``: who cannot do what, where."""
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (
        f'User "{user}" cannot {attrs.verb} resource "{resource}" '
        f'in API group "{attrs.api_group}" {where}'
    )


def forbidden(identity: Identity, attrs: Attributes, reason: str = "") -> ApiError:
    """The 403 a denied request gets, worded and detailed as kube-apiserver's ``NewForbidden``
    (``<resource>.<group> "<name>" is forbidden: ...``; ``forbidden: ...`` for a path)."""
    message = forbidden_message(identity.name, attrs)
    if reason:
        message = f"{message}: {reason}"
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {message}", {})
    group_resource = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{group_resource} "{attrs.name}"' if attrs.name else group_resource
    details = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource}
    return ApiError(
        403,
        "Forbidden",
        f"{subject} is forbidden: {message}",
        {key: value for key, value in details.items() if value},
    )
