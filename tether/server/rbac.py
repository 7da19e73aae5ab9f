"""Authorization in Argo CD's policy CSV format.

A policy is a list of lines::

    p, <subject>, <resource>, <action>, <object>, <allow|deny>
    g, <user or group>, <role>

``p`` grants (or denies) ``subject`` an ``action`` on objects of a ``resource`` whose name
matches ``object``; ``g`` gives a user or group a role (roles may hold roles). Resources are
``applications``, ``projects``, ``clusters``, ``repositories``, ``accounts``, ``logs``,
``exec`` and Tether's ``images`` and ``flux``; actions ``get``, ``create``, ``update``, ``delete``,
``sync``, ``override`` and ``action``. Application objects are ``<project>/<app>``, projects
their name, clusters their server URL, repositories their URL, accounts the account name,
images ``<kind>/<name>`` (kind ``repositories``, ``policies`` or ``automations``), flux
``<kind>/<namespace>/<name>`` (kind ``kustomizations`` or ``gitrepositories``).

Resource, action and object match by glob (``*`` matches any text, ``/`` included, as in Argo
CD) or, with ``policy.matchMode: regex``, by regular expression. A deny wins over any allow;
nothing allowed is denied. The default role (``policy.default``) is held by every authenticated
user; unlike Argo CD it is checked together with the user's own roles, so a deny written for a
user cannot be undone by an allow of the default role.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from tether.errors import TetherError

RESOURCES = (
    "applications",
    "applicationsets",
    "projects",
    "clusters",
    "repositories",
    "accounts",
    "logs",
    "exec",
    "images",
    "flux",
)
ACTIONS = ("get", "create", "update", "delete", "sync", "override", "action")

ADMIN_ROLE = "role:admin"
READONLY_ROLE = "role:readonly"

#: the built-in roles and the built-in admin account's role
BUILTIN_POLICY = """
p, role:readonly, applications, get, */*, allow
p, role:readonly, applicationsets, get, */*, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, clusters, get, *, allow
p, role:readonly, repositories, get, *, allow
p, role:readonly, accounts, get, *, allow
p, role:readonly, logs, get, */*, allow
p, role:readonly, images, get, *, allow
p, role:readonly, flux, get, *, allow
p, role:admin, applications, *, */*, allow
p, role:admin, applicationsets, *, */*, allow
p, role:admin, projects, *, *, allow
p, role:admin, clusters, *, *, allow
p, role:admin, repositories, *, *, allow
p, role:admin, accounts, *, *, allow
p, role:admin, logs, *, */*, allow
p, role:admin, exec, *, */*, allow
p, role:admin, images, *, *, allow
p, role:admin, flux, *, *, allow
g, role:admin, role:readonly
g, admin, role:admin
"""


class PolicyError(TetherError):
    """A policy line that cannot be understood (the message names the line)."""


@dataclass(frozen=True)
class Rule:
    """One ``p`` line."""

    subject: str
    resource: str
    action: str
    object: str
    allow: bool


@dataclass
class Policy:
    """Parsed policy lines, ready to answer ``allowed(subjects, resource, action, object)``."""

    rules: list[Rule] = field(default_factory=list)
    #: ``g`` lines: member -> roles
    grants: dict[str, set[str]] = field(default_factory=dict)
    default_role: str = ""
    regex: bool = False

    def roles_of(self, subjects: Iterable[str]) -> set[str]:
        """The subjects, the roles they hold (transitively) and the default role."""
        seen: set[str] = set()
        pending = list(subjects)
        if self.default_role:
            pending.append(self.default_role)
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            pending.extend(self.grants.get(current, ()))
        return seen

    def allowed(self, subjects: Iterable[str], resource: str, action: str, obj: str) -> bool:
        """Whether any rule of the subjects' roles allows the request and none denies it."""
        return self.allowed_for_roles(self.roles_of(subjects), resource, action, obj)

    def allowed_for_roles(self, held: set[str], resource: str, action: str, obj: str) -> bool:
        """``allowed`` with the roles already resolved (for checks over many objects)."""
        verdict = False
        for rule in self.rules:
            if rule.subject not in held:
                continue
            if not (
                self._match(rule.resource, resource)
                and self._match(rule.action, action)
                and self._match(rule.object, obj)
            ):
                continue
            if not rule.allow:
                return False
            verdict = True
        return verdict

    def _match(self, pattern: str, value: str) -> bool:
        if pattern == value or pattern == "*":
            return True
        if self.regex:
            return _regex(pattern).fullmatch(value) is not None
        return _glob(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        # an unusable pattern matches nothing rather than failing every request
        return re.compile(r"(?!)")


def parse_policy(
    text: str, *, source: str = "policy.csv"
) -> tuple[list[Rule], dict[str, set[str]]]:
    """The ``p`` and ``g`` lines of a CSV policy; blank lines and ``#`` comments are skipped."""
    rules: list[Rule] = []
    grants: dict[str, set[str]] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1):
        fields = [f.strip() for f in row]
        if not fields or not fields[0] or fields[0].startswith("#"):
            continue
        kind = fields[0]
        where = f"{source} line {number}"
        if kind == "p":
            if len(fields) not in (5, 6):
                raise PolicyError(
                    f"{where}: a p line has 5 or 6 fields "
                    "(p, subject, resource, action, object[, allow|deny])"
                )
            effect = fields[5].lower() if len(fields) == 6 else "allow"
            if effect not in ("allow", "deny"):
                raise PolicyError(f"{where}: the effect must be allow or deny, not {effect!r}")
            rules.append(Rule(fields[1], fields[2], fields[3], fields[4], effect == "allow"))
        elif kind == "g":
            if len(fields) != 3:
                raise PolicyError(f"{where}: a g line has 3 fields (g, user or group, role)")
            grants.setdefault(fields[1], set()).add(fields[2])
        else:
            raise PolicyError(f"{where}: lines start with p or g, not {kind!r}")
    return rules, grants


def build_policy(
    configmap_data: dict[str, str] | None,
    extra_csv: str = "",
    default_role: str | None = None,
) -> Policy:
    """The effective policy: built-ins, the ``argocd-rbac-cm`` data, then the server's lines.

    ``policy.csv`` and every ``policy.<name>.csv`` key are read (Argo CD's overlay keys). A
    malformed user policy raises :class:`PolicyError`; the caller keeps the previous policy.
    """
    data = configmap_data or {}
    policy = Policy()
    texts = [("built-in policy", BUILTIN_POLICY)]
    texts += [
        (key, data[key])
        for key in sorted(data)
        if key == "policy.csv" or (key.startswith("policy.") and key.endswith(".csv"))
    ]
    if extra_csv:
        texts.append(("server settings", extra_csv))
    for source, text in texts:
        rules, grants = parse_policy(text, source=source)
        policy.rules.extend(rules)
        for member, roles in grants.items():
            policy.grants.setdefault(member, set()).update(roles)
    policy.default_role = (
        default_role if default_role is not None else data.get("policy.default", "").strip()
    )
    policy.regex = data.get("policy.matchMode", "glob").strip() == "regex"
    return policy
