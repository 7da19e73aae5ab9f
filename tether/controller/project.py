"""Argo CD's ``AppProject``: parsing, the ``default`` project, and its permission checks.

The checks follow Argo CD's semantics so that a project written for Argo CD allows and forbids
the same things here:

- ``sourceRepos`` are globs over the repository URL in a canonical form (scheme, host and port
  kept, lowercase, no ``.git``; ``git@host:org/repo`` is ``ssh://git@host/org/repo``; see
  :func:`tether.source.urls.repo_match_key`), with ``/`` as separator: ``*`` stays inside one path
  segment, ``**`` crosses segments, and a lone ``*`` allows every repository.
  A pattern starting with ``!`` denies what it matches, whatever else allows it.
- ``destinations`` match server (or cluster name) and namespace with globs and no separator, with
  the same ``!`` negation.
- Resource lists match group and kind with globs. Cluster-scoped resources are denied unless the
  cluster whitelist names them; namespaced ones are allowed unless blacklisted, or unless a
  namespace whitelist exists and does not name them (an empty whitelist allows nothing).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.controller.models import API_VERSION
from tether.controller.syncwindows import SyncWindow, SyncWindowError, parse_windows
from tether.errors import TetherError
from tether.fields import FieldReader, InvalidSpecError
from tether.globs import GlobSyntax, InvalidGlobError, compile_glob
from tether.source.urls import repo_match_key, repo_pattern_key

DEFAULT_PROJECT: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": "AppProject",
    "metadata": {"name": "default"},
    "spec": {
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "*", "name": "*"}],
        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
    },
}


class ProjectViolation(TetherError):
    """An Application asks for something its AppProject does not permit."""


# ---- globs -------------------------------------------------------------------------------------

# gobwas/glob as Argo CD reads project globs; ``[^a]`` negates a class too
_CLASS_NEGATORS = "!^"


def glob_match(pattern: str, value: str, *, separators: str = "") -> bool:
    """Whether ``value`` matches the glob ``pattern`` (gobwas/glob syntax, as Argo CD uses).

    ``*`` matches any run of characters except ``separators``, ``**`` any run at all, ``?`` one
    non-separator character, ``[a-z]``/``[!a-z]`` a class, ``{a,b}`` alternatives, ``\\`` escapes
    (:mod:`tether.globs`). A lone ``*`` matches everything, separators included. A pattern that
    is not a valid glob matches nothing, as in Argo CD.
    """
    if pattern == "*":
        return True
    try:
        return compile_glob(pattern, GlobSyntax(separators, _CLASS_NEGATORS)).matches(value)
    except InvalidGlobError:
        return False


def _is_deny(pattern: str | None) -> bool:
    return bool(pattern) and str(pattern).startswith("!")


def _match_allowing_negation(pattern: str | None, value: str, separators: str = "") -> bool:
    """Argo CD's negatable match: ``!p`` is true exactly when ``p`` does not match."""
    pattern = pattern or ""
    if _is_deny(pattern):
        return not glob_match(pattern[1:], value, separators=separators)
    return glob_match(pattern, value, separators=separators)


# ---- model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectDestination:
    """One allowed (or, with ``!``, denied) destination: globs over server, name, namespace."""

    server: str | None = None
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class DestinationServiceAccount:
    """``spec.destinationServiceAccounts[]``: the account syncs to a destination run as (globs
    over server and namespace; ``namespace:name`` or a bare name)."""

    server: str = ""
    namespace: str = ""
    default_service_account: str = ""


@dataclass(frozen=True)
class GroupKind:
    """A resource list entry: globs over API group and kind (and, optionally, object name)."""

    group: str
    kind: str
    name: str = ""

    def matches(self, group: str, kind: str, name: str = "") -> bool:
        if not (
            glob_match(self.kind, kind, separators="/")
            and glob_match(self.group, group, separators="/")
        ):
            return False
        return not self.name or glob_match(self.name, name, separators="/")


@dataclass(frozen=True)
class Project:
    """An AppProject as the controller needs it, with Argo CD's permission checks."""

    name: str
    namespace: str = ""
    source_repos: tuple[str, ...] = ()
    destinations: tuple[ProjectDestination, ...] = ()
    #: None when the list is absent (the difference matters for the namespace whitelist)
    cluster_resource_whitelist: tuple[GroupKind, ...] | None = None
    cluster_resource_blacklist: tuple[GroupKind, ...] | None = None
    namespace_resource_whitelist: tuple[GroupKind, ...] | None = None
    namespace_resource_blacklist: tuple[GroupKind, ...] | None = None
    source_namespaces: tuple[str, ...] = ()
    sync_windows: tuple[SyncWindow, ...] = ()
    #: why ``spec.syncWindows`` cannot be read ("" when it can): the project's syncs then wait
    #: (a freeze that cannot be read is not ignored)
    sync_window_error: str = ""
    description: str = ""
    destination_service_accounts: tuple[DestinationServiceAccount, ...] = ()

    def check_source(self, repo_url: str) -> None:
        """Raise :class:`ProjectViolation` unless ``sourceRepos`` permits ``repo_url``.

        Both sides are compared in their canonical form (:func:`repo_match_key`): scheme, host
        and port must match, so ``https://git.example.com/team/*`` does not admit
        ``http://git.example.com:8080/team/x``.
        """
        wanted = repo_match_key(repo_url)
        permitted = False
        for pattern in self.source_repos:
            normalized = repo_pattern_key(pattern)
            if _match_allowing_negation(normalized, wanted, "/"):
                permitted = True
            elif _is_deny(normalized):
                permitted = False
                break
        if not permitted:
            raise ProjectViolation(
                f"application repo {repo_url} is not permitted in project '{self.name}'"
            )

    def check_destination(
        self, server: str | None, name: str | None = None, namespace: str | None = None
    ) -> None:
        """Raise :class:`ProjectViolation` unless a destination entry permits this target.

        Pass both the server URL and the cluster name when known (the controller resolves one
        from the other), so entries written either way match, as in Argo CD.
        """
        namespace = namespace or ""
        any_matched = False
        denied = False
        for item in self.destinations:
            name_matched = bool(name) and _match_allowing_negation(item.name, name or "")
            server_matched = bool(server) and _match_allowing_negation(item.server, server or "")
            namespace_matched = _match_allowing_negation(item.namespace, namespace)
            if (server_matched or name_matched) and namespace_matched:
                any_matched = True
            elif (
                (not name_matched and _is_deny(item.name))
                or (not server_matched and _is_deny(item.server))
                or (not namespace_matched and _is_deny(item.namespace))
            ):
                denied = True
        if any_matched and not denied:
            return
        target = f"server '{server}'" if server else f"name '{name}'"
        raise ProjectViolation(
            f"application destination {target} and namespace '{namespace}' do not match any of "
            f"the allowed destinations in project '{self.name}'"
        )

    def check_resource(self, group: str, kind: str, namespaced: bool, name: str = "") -> None:
        """Raise :class:`ProjectViolation` unless the project permits this resource type."""
        if namespaced:
            whitelist = self.namespace_resource_whitelist
            blacklist = self.namespace_resource_blacklist
            allowed = whitelist is None or any(gk.matches(group, kind, name) for gk in whitelist)
        else:
            whitelist = self.cluster_resource_whitelist
            blacklist = self.cluster_resource_blacklist
            # Argo CD: cluster-scoped resources need an explicit whitelist entry.
            allowed = bool(whitelist) and any(
                gk.matches(group, kind, name) for gk in whitelist or ()
            )
        if allowed and not any(gk.matches(group, kind, name) for gk in blacklist or ()):
            return
        raise ProjectViolation(f"resource {group}:{kind} is not permitted in project {self.name}")

    def permits_app_namespace(self, app_namespace: str, control_namespace: str) -> bool:
        """Whether Applications in ``app_namespace`` may use this project (``sourceNamespaces``).

        The control namespace is always allowed; other namespaces must match a glob, or a
        regular expression written between slashes (``/^team-.*$/``).
        """
        if not app_namespace or app_namespace == control_namespace:
            return True
        for pattern in self.source_namespaces:
            if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
                try:
                    if re.search(pattern[1:-1], app_namespace):
                        return True
                except re.error:
                    continue
            elif glob_match(pattern, app_namespace):
                return True
        return False


# ---- parsing -----------------------------------------------------------------------------------


def _group_kinds(reader: FieldReader, key: str) -> tuple[GroupKind, ...] | None:
    if reader.obj.get(key) is None:
        return None
    entries = []
    for item in reader.objects(key):
        group, kind = item.string("group"), item.string("kind")
        if group is None or kind is None:
            raise InvalidSpecError(f"{item.path}: group and kind are required")
        entries.append(GroupKind(group, kind, item.string("name") or ""))
    return tuple(entries)


def parse_project(obj: Mapping[str, Any]) -> Project:
    """An ``argoproj.io/v1alpha1`` AppProject dict as a :class:`Project`."""
    if not isinstance(obj, Mapping):
        raise InvalidSpecError("an AppProject must be an object")
    meta = FieldReader(obj.get("metadata"), "metadata")
    name = meta.string("name")
    if not name:
        raise InvalidSpecError("metadata.name is required")
    spec = FieldReader(obj.get("spec"), "spec")
    destinations = tuple(
        ProjectDestination(
            server=item.string("server") or None,
            name=item.string("name") or None,
            namespace=item.string("namespace") or None,
        )
        for item in spec.objects("destinations")
    )
    raw_spec = obj.get("spec")
    windows: tuple[SyncWindow, ...] = ()
    window_error = ""
    try:
        windows = parse_windows(
            raw_spec.get("syncWindows") if isinstance(raw_spec, Mapping) else None
        )
    except SyncWindowError as exc:
        window_error = exc.message
    return Project(
        name=name,
        namespace=meta.string("namespace") or "",
        source_repos=spec.strings("sourceRepos"),
        destinations=destinations,
        cluster_resource_whitelist=_group_kinds(spec, "clusterResourceWhitelist"),
        cluster_resource_blacklist=_group_kinds(spec, "clusterResourceBlacklist"),
        namespace_resource_whitelist=_group_kinds(spec, "namespaceResourceWhitelist"),
        namespace_resource_blacklist=_group_kinds(spec, "namespaceResourceBlacklist"),
        source_namespaces=spec.strings("sourceNamespaces"),
        sync_windows=windows,
        sync_window_error=window_error,
        description=spec.string("description") or "",
        destination_service_accounts=tuple(
            DestinationServiceAccount(
                server=item.string("server") or "",
                namespace=item.string("namespace") or "",
                default_service_account=item.string("defaultServiceAccount") or "",
            )
            for item in spec.objects("destinationServiceAccounts")
        ),
    )


def default_project(namespace: str) -> dict[str, Any]:
    """The ``default`` AppProject manifest for the control namespace (created when missing).

    Like Argo CD's it permits everything; it also names the control namespace as a destination,
    which Tether requires for writing there (app of apps), so that grant is visible in the spec.
    """
    manifest = copy.deepcopy(DEFAULT_PROJECT)
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"]["destinations"].append({"server": "*", "namespace": namespace, "name": "*"})
    return manifest
