"""Sync with impersonation (Argo CD's ``destinationServiceAccounts``): who a sync writes as.

With ``application.sync.impersonation.enabled: "true"`` in ``argocd-cm`` (off by default, as in
Argo CD), every write of a sync (dry run, apply, prune, hooks) and of an app's deletion goes out
with ``Impersonate-User: system:serviceaccount:NS:NAME``, the account its AppProject maps its
destination to, so an app can deploy only what that account may. Argo CD's rules, kept exactly:

- ``spec.destinationServiceAccounts`` entries are tried in order; the first whose ``server`` glob
  matches the destination's server URL and whose ``namespace`` glob matches the Application's
  ``spec.destination.namespace`` wins;
- ``defaultServiceAccount`` is ``namespace:name``, or a bare name living in the destination
  namespace (the Application's own namespace when the destination names none); empty, or with
  one of ``!*[]{}\\/``, is refused;
- no entry matches: the sync is refused with Argo CD's message.

Reads stay with the controller's identity: the live cache's list+watch and the comparison's
server-side dry run (as Argo CD's server-side diff, which uses the cluster's own credentials).
"""

from __future__ import annotations

from collections.abc import Mapping

from tether.controller.project import Project, ProjectViolation
from tether.globs import GlobSyntax, InvalidGlobError, compile_glob
from tether.names import IMPERSONATION_ENABLED_SETTING

#: ``argocd-cm`` key switching impersonation on ("true"; anything else is off, as Argo CD reads it)
#: characters Argo CD refuses in ``defaultServiceAccount``
_DISALLOWED = frozenset("!*[]{}\\/")
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class ImpersonationError(ProjectViolation):
    """No service account may be derived for a sync with impersonation on."""


def impersonation_enabled(settings: Mapping[str, str]) -> bool:
    """Whether ``argocd-cm``'s data switches sync impersonation on."""
    return settings.get(IMPERSONATION_ENABLED_SETTING) == "true"


def _matches(pattern: str, value: str, what: str) -> bool:
    """Argo CD's glob match (no separators); an invalid pattern is an error, not a miss."""
    if pattern == "*":
        return True
    try:
        return compile_glob(pattern, GlobSyntax("", "!^")).matches(value)
    except InvalidGlobError as exc:
        raise ImpersonationError(
            f"failed to find a matching service account to impersonate: invalid glob pattern "
            f"for destination {what}: {pattern!r}: {exc}"
        ) from None


def service_account_user(
    project: Project, server: str, destination_namespace: str, app_namespace: str
) -> str:
    """The user a sync of an app of ``project`` to (``server``, ``destination_namespace``)
    runs as: ``system:serviceaccount:NS:NAME``. Raises :class:`ImpersonationError` when no
    entry of ``destinationServiceAccounts`` fits."""
    account_namespace = destination_namespace or app_namespace
    for item in project.destination_service_accounts:
        if not (
            _matches(item.server, server, "server")
            and _matches(item.namespace, destination_namespace, "namespace")
        ):
            continue
        name = item.default_service_account
        if not name.strip() or _DISALLOWED.intersection(name):
            raise ImpersonationError(
                f"failed to find a matching service account to impersonate: default service "
                f"account contains invalid chars '{name}' (project '{project.name}')"
            )
        if ":" in name:
            return _SERVICE_ACCOUNT_PREFIX + name
        return f"{_SERVICE_ACCOUNT_PREFIX}{account_namespace}:{name}"
    raise ImpersonationError(
        f"failed to find a matching service account to impersonate: no matching service "
        f"account found for destination server {server} and namespace {account_namespace} "
        f"(project '{project.name}', spec.destinationServiceAccounts)"
    )
