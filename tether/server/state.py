"""What every request handler needs: the controller, the settings, who is asking, the policy."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tether.controller.face import ClusterView, ControllerFace, ObservingFace
from tether.engine.diff import AppDiff
from tether.names import DEFAULT_PROJECT, RBAC_CONFIGMAP, SETTINGS_CONFIGMAP
from tether.server import proxy, rbac
from tether.server.auth import Authenticator, LoginLimiter, SecretStore, User
from tether.server.errors import NotFoundError, PermissionDenied, Unauthenticated
from tether.server.http import check_name
from tether.server.readings import StatusReadings
from tether.server.settings import ServerSettings

log = logging.getLogger(__name__)

COOKIE = "tether_token"
#: a project name no AppProject can have (not an RFC 1123 name), for "any project" checks
NO_SUCH_PROJECT = "_no_such_project_"


class ServerState:
    """Shared by every request of one server.

    The server sees the controller only through its face (`tether.controller.face`): objects of
    the control namespace, an app's last comparison and cluster, refresh, terminate, webhooks,
    changes and counters. A replica without a controller in its process (``tether server``)
    has an `ObservingFace`: comparisons are computed when asked and clusters opened on demand.
    """

    def __init__(self, controller: ControllerFace, settings: ServerSettings) -> None:
        self.controller = controller
        #: the same face when no controller runs in this process, else None
        self.observer = controller if isinstance(controller, ObservingFace) else None
        self.settings = settings
        self.trusted_proxies = proxy.parse_trusted_proxies(settings.trusted_proxies)
        self.namespace = controller.namespace
        self.secret_store = SecretStore(
            controller.client, self.namespace, settings.secret_cache_seconds
        )
        self.auth = Authenticator(
            self.secret_store,
            lambda: self.configmap_data(SETTINGS_CONFIGMAP),
            settings.session_seconds,
            LoginLimiter(
                settings.login_max_failures,
                settings.login_failure_window,
                settings.login_lockout_seconds,
            ),
        )
        #: each Application's typed status, read once per version
        self.statuses = StatusReadings(lambda: self.applications().keys())
        self._policy: rbac.Policy | None = None
        self._policy_version: Any = object()
        self.bootstrapped = False
        self.admin_password: str | None = None

    async def bootstrap(self) -> None:
        """Make sure the signing key and the admin password exist (once per server)."""
        if not self.bootstrapped:
            self.admin_password = await self.auth.bootstrap()
            self.bootstrapped = True

    # ---- configuration from the cluster --------------------------------------------------------

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self.controller.configmap(name)

    def configmap_data(self, name: str) -> dict[str, str]:
        return dict((self.configmap(name) or {}).get("data") or {})

    def policy(self) -> rbac.Policy:
        """The current policy, rebuilt when ``argocd-rbac-cm`` changes.

        A malformed ConfigMap keeps the last good policy (or the built-in one) and is logged,
        so one typo does not lock everybody out or open everything up.
        """
        cm = self.configmap(RBAC_CONFIGMAP)
        version = (cm or {}).get("metadata", {}).get("resourceVersion")
        if self._policy is None or version != self._policy_version:
            try:
                self._policy = rbac.build_policy(
                    (cm or {}).get("data") or {},
                    self.settings.rbac_policy_csv,
                    self.settings.rbac_default_role,
                )
            except rbac.PolicyError as exc:
                log.error("%s ignored: %s", RBAC_CONFIGMAP, exc.message)
                if self._policy is None:
                    self._policy = rbac.build_policy(
                        {}, self.settings.rbac_policy_csv, self.settings.rbac_default_role
                    )
            self._policy_version = version
        return self._policy

    def can(self, user: User, resource: str, action: str, obj: str) -> bool:
        return self.policy().allowed(user.subjects, resource, action, obj)

    def enforce(self, user: User, resource: str, action: str, obj: str) -> None:
        """403 unless ``user`` may ``action`` the ``resource`` object ``obj``."""
        if not self.can(user, resource, action, obj):
            raise PermissionDenied(
                f"permission denied: {resource}, {action}, {obj} (user {user.username})"
            )

    # ---- authentication ------------------------------------------------------------------------

    def client_address(self, request: Request) -> str:
        """Who is asking, for the sign-in lockout: the peer, or the forwarded client when the
        peer is a trusted proxy (see `tether.server.proxy`)."""
        peer = request.client.host if request.client is not None else None
        forwarded = request.headers.getlist(proxy.FORWARDED_FOR)
        return proxy.client_address(peer, forwarded, self.trusted_proxies)

    async def authenticate(self, request: Request) -> User:
        user, _ = await self.authenticate_with_expiry(request)
        return user

    async def authenticate_with_expiry(self, request: Request) -> tuple[User, float]:
        header = request.headers.get("authorization", "")
        token = ""
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            token = value.strip()
        else:
            token = request.cookies.get(COOKIE, "")
        if not token:
            raise Unauthenticated("sign in first: no token was given (Authorization: Bearer)")
        return await self.auth.verify(token)

    # ---- objects -------------------------------------------------------------------------------

    def applications(self) -> dict[str, dict[str, Any]]:
        return self.controller.applications()

    def projects(self) -> dict[str, dict[str, Any]]:
        return self.controller.projects()

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.controller.secrets()

    async def comparison(self, name: str) -> tuple[AppDiff | None, list[dict[str, Any]]]:
        """The app's comparison and desired objects: the controller's last, or (a replica)
        computed now. (None, []) before the first, or when it cannot be compared."""
        if self.observer is None:
            return self.controller.comparison(name), self.controller.desired(name)
        found = await self.observer.observe(name)
        return (found.diff, found.desired) if found is not None else (None, [])

    async def cluster_view(self, name: str) -> ClusterView | None:
        """The app's destination cluster (a replica opens it on demand)."""
        if self.observer is None:
            return self.controller.cluster_of(name)
        return await self.observer.open_cluster(name)

    def application(self, name: str) -> dict[str, Any]:
        """The Application ``name``, or 404 (for internal reads; requests use `visible_application`)."""
        app = self.applications().get(name)
        if app is None:
            raise NotFoundError(f"application {name} not found")
        return app

    def visible_application(self, user: User, name: str, action: str = "get") -> dict[str, Any]:
        """The Application ``name`` when ``user`` may ``action`` it; else one answer whether it
        exists or not, so that no caller learns of an application it may not see.

        As in Argo CD, that answer is 403 ``permission denied`` (the same message for both).
        A caller who could act on an application of that name in every project (admin, a
        read-only role over ``*/*``) learns nothing from "not found", and gets 404 instead.
        """
        app = self.applications().get(name)
        if app is not None and self.can(user, "applications", action, app_object(app)):
            return app
        # computed in both cases, so the two answers also cost the same
        everywhere = self._allowed_in_every_project(user, action, name)
        if app is None and everywhere:
            raise NotFoundError(f"application {name} not found")
        raise PermissionDenied(
            f"permission denied: applications, {action}, {name} (user {user.username})"
        )

    def _allowed_in_every_project(self, user: User, action: str, name: str) -> bool:
        """Whether ``user`` may ``action`` an application called ``name`` whatever its project:
        every AppProject, every project an application names, and one no project can be called
        (which only a rule for any project matches)."""
        projects = {NO_SUCH_PROJECT, *self.projects()}
        projects.update(project_of(a) for a in self.applications().values())
        policy = self.policy()
        held = policy.roles_of(user.subjects)
        return all(
            policy.allowed_for_roles(held, "applications", action, f"{p}/{name}") for p in projects
        )


def project_of(app: dict[str, Any]) -> str:
    """The AppProject an Application names (``default`` when it names none)."""
    return str((app.get("spec") or {}).get("project") or DEFAULT_PROJECT)


def app_object(app: dict[str, Any]) -> str:
    """The RBAC object of an Application: ``<project>/<name>``."""
    return f"{project_of(app)}/{app['metadata']['name']}"


@dataclass
class Context:
    """One request: what was asked, by whom, against which server."""

    request: Request
    state: ServerState
    user: User | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def caller(self) -> User:
        """The authenticated user (routes that need authentication always have one)."""
        assert self.user is not None
        return self.user

    def visible_application(self, action: str = "get") -> dict[str, Any]:
        """The Application named in the path, after the name check and RBAC. A caller who may
        not ``action`` it gets the same answer whether it exists or not
        (`ServerState.visible_application`)."""
        name = check_name(self.request.path_params["name"], "application name")
        return self.state.visible_application(self.caller, name, action)


Handler = Callable[[Context], Awaitable[Response]]
