"""Application dependencies (``tether.io/depends-on``), decided: a pure module.

An Application names the Applications it depends on (same control namespace) in the annotation
``tether.io/depends-on: "infra-cert-manager, infra-ingress"``. Its syncs (automated, selfHeal
and manual) wait until every dependency is ready:

* ``status.sync.status`` is Synced and ``status.health.status`` is Healthy;
* no operation is requested (``operation``) or running (``operationState.phase`` Running or
  Terminating) on it, and it is not being deleted;
* it is *at its current revision*: its last comparison is not stale. The status says so in
  three ways, all checked: a comparison was recorded (``status.sync.revision``; an app never
  compared is "never synced"), it was made for the source the spec names now
  (``status.sync.comparedTo.source`` has the spec's repoURL, path, targetRevision and chart),
  and no refresh is pending (no ``argocd.argoproj.io/refresh`` annotation). When the
  dependency and the dependent track the same Git branch of the same repository (same
  ``repoURL`` and ``targetRevision``, no ``chart``), the dependency must also have been compared
  at the very commit the dependent was: a push that changes both waits until the dependency
  has seen it, so a monorepo's infrastructure lands before what needs it.

Readiness is not transitive: an app waits for the apps it names, not for theirs (name every app
you need). A cycle (``a -> b -> a``, or an app naming itself) is an InvalidSpecError of every
app on it; a dependency that does not exist is waited for, not an error. A dependency must be
in the app's project, or in a project the app's AppProject lists (globs) in its
``tether.io/dependency-projects`` annotation.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.controller.models import InvalidSpecError
from tether.controller.project import glob_match
from tether.controller.status import SYNCED, TERMINATING, UNKNOWN, read_operation
from tether.engine.health.status import HEALTHY
from tether.names import (
    DEFAULT_PROJECT,
    DEPENDENCY_PROJECTS_ANNOTATION,
    DEPENDS_ON_ANNOTATION,
    REFRESH_ANNOTATION,
)
from tether.source.urls import repo_match_key

#: Most dependencies one Application may name, and the longest name (a DNS-1123 subdomain).
MAX_DEPENDENCIES = 50
MAX_NAME_LENGTH = 253
#: Longest annotation value read (50 names of 253 characters and their separators fit).
MAX_ANNOTATION_LENGTH = 16 * 1024
#: Most names (or problems) spelt out in one message; the rest are counted.
MAX_LISTED = 10

#: why a dependency is not ready (besides its sync and health words)
DOES_NOT_EXIST = "does not exist"
NEVER_SYNCED = "never synced"
BEING_DELETED = "being deleted"
SYNC_REQUESTED = "sync requested"
SYNC_RUNNING = "sync running"
REFRESH_REQUESTED = "refresh requested"
SOURCE_CHANGED = "source changed since its last comparison"

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SEPARATORS = re.compile(r"[,\s]+")
#: the source fields a comparison is for (as ``tether app wait`` reads them)
_SOURCE_KEYS = ("repoURL", "path", "targetRevision", "chart")


# --------------------------------------------------------------------------- reading


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _map(_map(_map(obj).get("metadata")).get("annotations"))


def _names_in(text: str) -> list[str]:
    return [part for part in _SEPARATORS.split(text) if part]


def _shown(names: Iterable[str], limit: int = MAX_LISTED) -> str:
    listed = list(names)
    more = len(listed) - limit
    return ", ".join(listed[:limit]) + (f" and {more} more" if more > 0 else "")


def project_of(app: Mapping[str, Any]) -> str:
    """The app's ``spec.project`` (``default`` when unset)."""
    project = _map(_map(app).get("spec")).get("project")
    return project if isinstance(project, str) and project else DEFAULT_PROJECT


def _dependency_names(annotations: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names the annotation lists, checked and bounded, each once in order (self included)."""
    raw = _map(annotations).get(DEPENDS_ON_ANNOTATION)
    if raw is None:
        return ()
    if not isinstance(raw, str):
        raise InvalidSpecError(f"{DEPENDS_ON_ANNOTATION}: must be a string")
    if len(raw) > MAX_ANNOTATION_LENGTH:
        raise InvalidSpecError(
            f"{DEPENDS_ON_ANNOTATION}: longer than {MAX_ANNOTATION_LENGTH} characters"
        )
    names: dict[str, None] = {}
    for entry in _names_in(raw):
        if len(entry) > MAX_NAME_LENGTH:
            raise InvalidSpecError(
                f'{DEPENDS_ON_ANNOTATION}: "{entry[:40]}..." is longer than {MAX_NAME_LENGTH}'
                " characters"
            )
        if not _SUBDOMAIN.fullmatch(entry):
            raise InvalidSpecError(
                f'{DEPENDS_ON_ANNOTATION}: "{entry}" is not an Application name (lowercase'
                " letters, digits, '-' and '.', starting and ending with a letter or digit)"
            )
        names[entry] = None
    if len(names) > MAX_DEPENDENCIES:
        raise InvalidSpecError(
            f"{DEPENDS_ON_ANNOTATION}: at most {MAX_DEPENDENCIES} Applications, found {len(names)}"
        )
    return tuple(names)


def _cycle_text(cycle: tuple[str, ...]) -> str:
    """``a -> b -> c -> a`` (a long cycle shortened in the middle)."""
    if len(cycle) > MAX_LISTED:
        head = " -> ".join(cycle[: MAX_LISTED // 2])
        tail = " -> ".join(cycle[-(MAX_LISTED // 2) :])
        hidden = len(cycle) - 2 * (MAX_LISTED // 2)
        return f"{head} -> ({hidden} more) -> {tail} -> {cycle[0]}"
    return " -> ".join((*cycle, cycle[0]))


def _cycle_message(cycle: tuple[str, ...]) -> str:
    text = f"{DEPENDS_ON_ANNOTATION}: dependency cycle {_cycle_text(cycle)}"
    if len(cycle) == 1:
        text += " (an Application cannot depend on itself)"
    return text


def parse_depends_on(annotations: Mapping[str, Any] | None, app_name: str) -> tuple[str, ...]:
    """The Applications ``app_name`` depends on, from its annotations: each once, in the order
    written, comma or whitespace separated. :class:`InvalidSpecError` names the bad entry (not a
    DNS-1123 subdomain, longer than 253 characters), more than :data:`MAX_DEPENDENCIES` names,
    or the app itself."""
    names = _dependency_names(annotations)
    if app_name in names:
        raise InvalidSpecError(_cycle_message((app_name,)))
    return names


# --------------------------------------------------------------------------- the graph


def _cyclic_components(
    names: Iterable[str], edges: Mapping[str, tuple[str, ...]]
) -> list[list[str]]:
    """The strongly connected components that hold a cycle (Tarjan's algorithm, iterative so a
    chain of 10,000 apps needs no recursion); ``edges`` lead only to names of the graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in names:
        if root in index:
            continue
        enter(root)
        work = [(root, 0)]
        while work:
            node, position = work[-1]
            successors = edges.get(node, ())
            if position < len(successors):
                work[-1] = (node, position + 1)
                successor = successors[position]
                if successor not in index:
                    enter(successor)
                    work.append((successor, 0))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] != index[node]:
                continue
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(component)
    return found


def _one_cycle(component: list[str], edges: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """A shortest cycle through the component's first name (alphabetically), by breadth-first
    search inside the component."""
    members = set(component)
    start = min(component)
    parent: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in edges.get(node, ()):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return tuple(reversed(path))
            if successor in members and successor not in parent:
                parent[successor] = node
                queue.append(successor)
    raise AssertionError("a strongly connected component with a cycle has one through each member")


@dataclass(frozen=True)
class DependencyGraph:
    """Who depends on whom among the Applications of one control namespace.

    ``dependencies``: each app's declared dependencies, in order (existing or not; none when its
    annotation is invalid). ``dependents``: the apps naming a name (which may not exist yet).
    ``errors``: the InvalidSpecError message of each app whose dependencies are invalid (its
    annotation cannot be read, or it is on a cycle). ``cycles``: one cycle of each group of apps
    that depend on each other, its first name the smallest.
    """

    names: frozenset[str]
    dependencies: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, frozenset[str]]
    errors: Mapping[str, str]
    cycles: tuple[tuple[str, ...], ...]

    @classmethod
    def build(cls, apps: Mapping[str, Mapping[str, Any]]) -> DependencyGraph:
        """The graph of ``apps`` (name to Application object), in time linear in apps and
        dependencies."""
        dependencies: dict[str, tuple[str, ...]] = {}
        errors: dict[str, str] = {}
        dependents: dict[str, set[str]] = {}
        for name, app in apps.items():
            try:
                named = _dependency_names(_annotations(app))
            except InvalidSpecError as exc:
                errors[name] = exc.message
                continue
            if named:
                dependencies[name] = named
            for dependency in named:
                dependents.setdefault(dependency, set()).add(name)
        edges = {name: tuple(d for d in named if d in apps) for name, named in dependencies.items()}
        cycles = []
        for component in _cyclic_components(apps, edges):
            cycle = _one_cycle(component, edges)
            cycles.append(cycle)
            on_cycle = set(cycle)
            for member in component:
                errors[member] = (
                    _cycle_message(cycle)
                    if member in on_cycle
                    else f"{DEPENDS_ON_ANNOTATION}: dependency cycle: {member} depends on, and"
                    f" is depended on by, the cycle {_cycle_text(cycle)}"
                )
        return cls(
            names=frozenset(apps),
            dependencies=dependencies,
            dependents={name: frozenset(users) for name, users in dependents.items()},
            errors=errors,
            cycles=tuple(sorted(cycles)),
        )

    def dependencies_of(self, name: str) -> tuple[str, ...]:
        """The apps ``name`` declares it depends on, in order."""
        return self.dependencies.get(name, ())

    def dependents_of(self, name: str) -> frozenset[str]:
        """The apps that name ``name`` as a dependency (to look at again when its status
        changes, or when it is created); not transitive."""
        return self.dependents.get(name, frozenset())

    def missing_of(self, name: str) -> tuple[str, ...]:
        """The dependencies of ``name`` that do not exist (waited for, not an error)."""
        return tuple(d for d in self.dependencies_of(name) if d not in self.names)

    def missing_reason(self, name: str) -> str:
        """``waits for infra-ingress, which does not exist`` ("" when none is missing)."""
        missing = self.missing_of(name)
        if not missing:
            return ""
        verb = "does" if len(missing) == 1 else "do"
        return f"waits for {_shown(missing)}, which {verb} not exist"

    def error_of(self, name: str) -> str:
        """Why the dependencies of ``name`` are invalid ("" when they are not)."""
        return self.errors.get(name, "")

    def check(self, name: str) -> None:
        """Raise :class:`InvalidSpecError` when the dependencies of ``name`` are invalid."""
        if name in self.errors:
            raise InvalidSpecError(self.errors[name])


# --------------------------------------------------------------------------- projects


def dependency_projects(project_obj: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The globs of an AppProject's ``tether.io/dependency-projects`` annotation."""
    raw = _annotations(project_obj).get(DEPENDENCY_PROJECTS_ANNOTATION)
    if not isinstance(raw, str) or len(raw) > MAX_ANNOTATION_LENGTH:
        return ()
    return tuple(_names_in(raw))


def check_projects(
    app: Mapping[str, Any],
    dependencies: Iterable[Mapping[str, Any]],
    projects: Mapping[str, Mapping[str, Any]],
) -> None:
    """Raise :class:`InvalidSpecError` unless every dependency (an Application object) is in the
    app's project, or in one its AppProject (``projects``: name to AppProject object) lists in
    its ``tether.io/dependency-projects`` annotation."""
    project = project_of(app)
    allowed = dependency_projects(projects.get(project))
    problems = []
    for dependency in dependencies:
        other = project_of(dependency)
        if other == project or any(glob_match(pattern, other) for pattern in allowed):
            continue
        name = _map(_map(dependency).get("metadata")).get("name")
        problems.append(
            f"depends on {name} of project {other}, which project {project} does not allow"
        )
    if problems:
        raise InvalidSpecError(
            f"{DEPENDS_ON_ANNOTATION}: {_shown(problems)} (list the project in the"
            f" {DEPENDENCY_PROJECTS_ANNOTATION} annotation of AppProject {project})"
        )


# --------------------------------------------------------------------------- readiness


@dataclass(frozen=True)
class Waiting:
    """A dependency that is not ready, and every reason why (its sync and health words, or one
    of :data:`DOES_NOT_EXIST`, :data:`NEVER_SYNCED`, :data:`SYNC_RUNNING`, ...)."""

    dependency: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.dependency} ({', '.join(self.reasons)})"


@dataclass(frozen=True)
class Readiness:
    """Whether an app's syncs may run as far as its dependencies go.

    ``reason`` is one line for an Event, a log line or the UI. ``error`` is set when the
    dependencies are invalid (a cycle, a bad annotation, a project that refuses one): the sync is
    refused with an InvalidSpecError then rather than waiting.
    """

    ready: bool
    waiting: tuple[Waiting, ...]
    reason: str
    error: str = ""


def _sources(holder: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``source`` or ``sources`` of a spec (or of ``comparedTo``)."""
    many = holder.get("sources")
    if isinstance(many, list) and many:
        return [_map(s) for s in many]
    one = holder.get("source")
    return [one] if isinstance(one, Mapping) else []


def _source_key(source: Mapping[str, Any]) -> tuple[str, ...]:
    values = [_text(source.get(key)) for key in _SOURCE_KEYS]
    values[2] = values[2] or "HEAD"
    return tuple(values)


def _compared_to(app: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(_map(_map(_map(app).get("status")).get("sync")).get("comparedTo"))


def compared_for_spec(app: Mapping[str, Any]) -> bool:
    """Whether the app's last comparison was made for the source its spec names now (an app
    whose status records no compared source counts as current, as ``tether app wait`` reads
    it)."""
    compared = _sources(_compared_to(app))
    if not compared:
        return True
    wanted = _sources(_map(_map(app).get("spec")))
    return [_source_key(s) for s in compared] == [_source_key(s) for s in wanted]


def _branch(app: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Git repository and targetRevision the app's last comparison tracked (None for a chart
    or several sources)."""
    sources = _sources(_compared_to(app))
    if len(sources) != 1 or sources[0].get("chart") or not _text(sources[0].get("repoURL")):
        return None
    source = sources[0]
    return repo_match_key(source["repoURL"]), _text(source.get("targetRevision")) or "HEAD"


def _short(revision: str) -> str:
    return revision[:7] if len(revision) == 40 else revision


def _words(app: Mapping[str, Any]) -> tuple[str, str, str]:
    """Sync status, health status and compared revision, read as :func:`read_status` reads
    them (without reading every resource)."""
    status = _map(_map(app).get("status"))
    sync, health = _map(status.get("sync")), _map(status.get("health"))
    return (
        _text(sync.get("status")) or UNKNOWN,
        _text(health.get("status")) or UNKNOWN,
        _text(sync.get("revision")),
    )


def dependency_blockers(
    dependency: Mapping[str, Any], dependent: Mapping[str, Any]
) -> tuple[str, ...]:
    """Why ``dependency`` is not ready for ``dependent`` (empty: it is ready)."""
    if _map(_map(dependency).get("metadata")).get("deletionTimestamp"):
        return (BEING_DELETED,)
    sync, health, revision = _words(dependency)
    if not revision and not _map(_map(dependency).get("status")).get("history"):
        return (NEVER_SYNCED,)
    reasons = [word for word, good in ((sync, SYNCED), (health, HEALTHY)) if word != good]
    state = read_operation(dependency)
    if state is not None and (state.running or state.phase == TERMINATING):
        reasons.append(SYNC_RUNNING)
    elif _map(dependency).get("operation"):
        reasons.append(SYNC_REQUESTED)
    if REFRESH_ANNOTATION in _annotations(dependency):
        reasons.append(REFRESH_REQUESTED)
    if not compared_for_spec(dependency):
        reasons.append(SOURCE_CHANGED)
    elif (branch := _branch(dependency)) is not None and branch == _branch(dependent):
        wanted = _words(dependent)[2]
        if wanted and revision != wanted:
            name = _text(_map(_map(dependent).get("metadata")).get("name")) or "the app"
            reasons.append(f"compared at {_short(revision)}, {name} at {_short(wanted)}")
    return tuple(reasons)


def readiness(
    app_name: str,
    graph: DependencyGraph,
    apps: Mapping[str, Mapping[str, Any]],
    projects: Mapping[str, Mapping[str, Any]] | None = None,
) -> Readiness:
    """Whether the syncs of ``app_name`` may run as far as its dependencies go: every one exists
    and is ready (:func:`dependency_blockers`). With ``projects`` (name to AppProject object),
    dependencies in projects the app's does not allow make it invalid (:func:`check_projects`)."""
    error = graph.error_of(app_name)
    app = apps.get(app_name, {})
    names = graph.dependencies_of(app_name)
    if not error and projects is not None:
        try:
            check_projects(app, (apps[d] for d in names if d in apps), projects)
        except InvalidSpecError as exc:
            error = exc.message
    if error:
        return Readiness(False, (), error, error)
    if not names:
        return Readiness(True, (), "no dependencies")
    waiting = []
    for name in names:
        dependency = apps.get(name)
        reasons = (DOES_NOT_EXIST,) if dependency is None else dependency_blockers(dependency, app)
        if reasons:
            waiting.append(Waiting(name, reasons))
    if waiting:
        return Readiness(
            False, tuple(waiting), f"waits for {_shown(w.describe() for w in waiting)}"
        )
    return Readiness(True, (), f"dependencies ready: {_shown(names)}")


# --------------------------------------------------------------------------- the document


def graph_document(
    graph: DependencyGraph,
    apps: Mapping[str, Mapping[str, Any]],
    names: Iterable[str] | None = None,
    projects: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The graph for the API and the UI: the apps that depend or are depended on (with their
    sync, health and readiness; names that do not exist with ``exists: false``), the edges from
    an app to each dependency, and the cycles. ``names`` limits it to those apps and their direct
    neighbours (an app's page); ``projects`` as for :func:`readiness`."""
    if names is None:
        shown = set(graph.dependencies) | set(graph.dependents)
    else:
        shown = set()
        for name in names:
            shown |= {name, *graph.dependencies_of(name), *graph.dependents_of(name)}
    nodes = []
    for name in sorted(shown):
        app = apps.get(name)
        if app is None:
            nodes.append({"name": name, "exists": False})
            continue
        sync, health, revision = _words(app)
        verdict = readiness(name, graph, apps, projects)
        nodes.append(
            {
                "name": name,
                "exists": True,
                "project": project_of(app),
                "sync": sync,
                "health": health,
                "revision": revision,
                "ready": verdict.ready,
                "reason": verdict.reason,
                "error": verdict.error or None,
                "dependsOn": list(graph.dependencies_of(name)),
            }
        )
    edges = [
        {"from": name, "to": dependency, "missing": dependency not in graph.names}
        for name in sorted(shown)
        for dependency in graph.dependencies_of(name)
        if names is None or dependency in shown
    ]
    cycles = [list(c) for c in graph.cycles if names is None or shown.intersection(c)]
    return {"nodes": nodes, "edges": edges, "cycles": cycles}
