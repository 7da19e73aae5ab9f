"""Whether an Application may write an object: every rendered object checked against its project.

``spec.destination`` says where an app deploys by default, but a repository can name any
namespace in an object's own ``metadata.namespace``, any cluster-scoped kind, or another
Application. A tenant who may commit to one repository must reach nothing beyond its AppProject,
so each object of a revision passes :func:`check_objects` before anything of that revision is
compared as desired state or applied. Argo CD's per-resource rules, plus Tether's own:

- the group/kind must be permitted (cluster-scoped kinds need ``clusterResourceWhitelist``,
  namespaced kinds follow the namespace resource lists), and a namespaced object's own namespace
  must be an allowed destination of the project (as in Argo CD);
- a ``Namespace`` object is a destination too: its name must be an allowed namespace (Tether);
- the control namespace (Applications, AppProjects, Tether's own Secrets and ConfigMaps) on the
  cluster the controller runs in is writable only when a destination of the project names it
  exactly, not through a glob such as ``*`` (Tether; app of apps needs that entry);
- a child Application may name only its parent's project, or one the parent's AppProject lists in
  its ``tether.io/child-projects`` annotation (Tether);
- on a destination limited to some namespaces (namespaced mode, or a cluster Secret's
  ``namespaces``), an object's namespace must be one of them and cluster-scoped kinds (a
  ``Namespace`` too) are refused unless ``clusterResources`` allows them (as Argo CD).

Secrets an Application refers to (``tether.io/sops-secret``) are usable only by the projects the
Secret's ``tether.io/projects`` annotation names: :func:`check_secret_use`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.controller.project import Project, ProjectViolation, glob_match
from tether.names import (
    APPLICATION,
    ARGO_GROUP,
    CHILD_PROJECTS_ANNOTATION,
    DEFAULT_PROJECT,
    SECRET_PROJECTS_ANNOTATION,
)
from tether.resources import ResourceKey

#: at most this many violations are named in one message (the rest are counted)
MAX_LISTED = 5


@dataclass(frozen=True)
class WriteScope:
    """Where one Application writes: its project and destination cluster.

    ``control_namespace`` is set when the destination is the cluster this controller runs in
    (its Applications, AppProjects and Secrets live there); ``None`` for other clusters.
    """

    project: Project
    server: str
    cluster_name: str | None = None
    control_namespace: str | None = None
    #: globs of the projects child Applications may name besides the app's own
    child_projects: tuple[str, ...] = ()
    #: the only namespaces of the destination the controller manages (empty: all)
    managed_namespaces: tuple[str, ...] = ()
    #: with ``managed_namespaces`` set, whether cluster-scoped kinds are managed anyway
    cluster_resources: bool = False
    #: sync impersonation is on (``argocd-cm``): writes go out as the project's service account
    impersonate: bool = False

    @classmethod
    def of(
        cls,
        project_obj: Mapping[str, Any],
        project: Project,
        server: str,
        cluster_name: str | None,
        control_namespace: str | None,
        *,
        managed_namespaces: tuple[str, ...] = (),
        cluster_resources: bool = False,
        impersonate: bool = False,
    ) -> WriteScope:
        """The scope of an app of ``project`` (``project_obj`` is the AppProject as stored)."""
        return cls(
            project,
            server,
            cluster_name,
            control_namespace,
            _annotation_list(project_obj, CHILD_PROJECTS_ANNOTATION),
            managed_namespaces,
            cluster_resources,
            impersonate,
        )


def _annotation_list(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    value = annotations.get(key) if isinstance(annotations, Mapping) else None
    if not isinstance(value, str):
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def names_control_namespace(scope: WriteScope, control_namespace: str) -> bool:
    """Whether a destination of the project names the control namespace exactly (no glob) for
    this cluster."""
    return any(
        d.namespace == control_namespace
        and (
            (d.server is not None and glob_match(d.server, scope.server))
            or (d.name is not None and glob_match(d.name, scope.cluster_name or ""))
        )
        for d in scope.project.destinations
    )


def _check_namespace(scope: WriteScope, key: ResourceKey, namespace: str) -> None:
    project = scope.project
    try:
        project.check_destination(scope.server, scope.cluster_name, namespace)
    except ProjectViolation:
        raise ProjectViolation(
            f"{key}: namespace {namespace} is not permitted in project '{project.name}'"
        ) from None
    control = scope.control_namespace
    if control and namespace == control and not names_control_namespace(scope, control):
        raise ProjectViolation(
            f"{key}: the control namespace {control} is writable only when a destination of "
            f"project '{project.name}' names it exactly"
        )


def check_managed_namespace(scope: WriteScope, namespace: str, what: str) -> None:
    """Raise :class:`ProjectViolation` unless the destination's managed namespaces include
    ``namespace`` (``what`` names the object or the destination)."""
    managed = scope.managed_namespaces
    if not managed or namespace in managed:
        return
    raise ProjectViolation(
        f"{what}: namespace {namespace or '(none)'} is not managed by this controller on "
        f"{scope.server} (managed namespaces: {', '.join(managed)})"
    )


def _check_managed(scope: WriteScope, key: ResourceKey) -> None:
    if not scope.managed_namespaces:
        return
    if key.namespace:
        check_managed_namespace(scope, key.namespace, str(key))
    elif not scope.cluster_resources:
        raise ProjectViolation(
            f"{key}: cluster-scoped resource {key.group}:{key.kind} is not managed by this "
            f"controller on {scope.server} (managed namespaces: "
            f"{', '.join(scope.managed_namespaces)})"
        )


def _check_child_application(scope: WriteScope, key: ResourceKey, obj: Mapping[str, Any]) -> None:
    spec = obj.get("spec")
    child = spec.get("project") if isinstance(spec, Mapping) else None
    child = child if isinstance(child, str) and child else DEFAULT_PROJECT
    allowed = (scope.project.name, *scope.child_projects)
    if any(glob_match(pattern, child) for pattern in allowed):
        return
    raise ProjectViolation(
        f"{key}: project '{scope.project.name}' may not create Applications of project "
        f"'{child}' (list it in the {CHILD_PROJECTS_ANNOTATION} annotation of AppProject "
        f"'{scope.project.name}')"
    )


def check_object(scope: WriteScope, obj: Mapping[str, Any]) -> None:
    """Raise :class:`ProjectViolation` naming the object and the rule unless the app may write it.

    ``obj`` carries its final namespace (none for cluster-scoped kinds).
    """
    key = ResourceKey.of(obj)
    project = scope.project
    try:
        project.check_resource(key.group, key.kind, bool(key.namespace), key.name)
    except ProjectViolation:
        scope_word = "namespaced" if key.namespace else "cluster-scoped"
        raise ProjectViolation(
            f"{key}: {scope_word} resource {key.group}:{key.kind} is not permitted in "
            f"project '{project.name}'"
        ) from None
    if key.namespace:
        _check_namespace(scope, key, key.namespace)
    elif key.group == "" and key.kind == "Namespace":
        _check_namespace(scope, key, key.name)
    if key.group == ARGO_GROUP and key.kind == APPLICATION:
        _check_child_application(scope, key, obj)
    _check_managed(scope, key)


def check_objects(scope: WriteScope, objects: Iterable[Mapping[str, Any]]) -> None:
    """Check every object; one :class:`ProjectViolation` names them all (the first few)."""
    problems: list[str] = []
    for obj in objects:
        try:
            check_object(scope, obj)
        except ProjectViolation as exc:
            problems.append(exc.message)
    if not problems:
        return
    listed = "; ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    suffix = f"; and {more} more" if more > 0 else ""
    raise ProjectViolation(f"{listed}{suffix}")


def refusal(scope: WriteScope, obj: Mapping[str, Any]) -> str | None:
    """Why the app may not write ``obj``, or ``None`` (the sync engine's last check)."""
    try:
        check_object(scope, obj)
    except ProjectViolation as exc:
        return exc.message
    return None


def check_secret_use(secret: Mapping[str, Any] | None, name: str, project: str, what: str) -> None:
    """Raise :class:`ProjectViolation` unless ``secret`` may be used by apps of ``project``.

    A missing Secret and a Secret of another project give the same answer, so an app author
    cannot probe which Secrets exist.
    """
    allowed = _annotation_list(secret, SECRET_PROJECTS_ANNOTATION) if secret is not None else ()
    if any(glob_match(pattern, project) for pattern in allowed):
        return
    raise ProjectViolation(
        f"{what} Secret {name!r} is not available to project '{project}': it must exist in the "
        f"control namespace and name the project in its {SECRET_PROJECTS_ANNOTATION} annotation"
    )
