"""Application dependencies as the controller follows them: the graph of the control namespace's
Applications, rebuilt only when it can have changed, and the apps to look at again when one
they depend on changes.

The decisions are :mod:`tether.controller.dependencies` (pure); this part keeps the reverse
index (who names whom) current from the Application events, so that an app without the
annotation, which nobody names, costs one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tether.controller import dependencies
from tether.controller.dependencies import DependencyGraph, Readiness
from tether.controller.models import InvalidSpecError
from tether.names import DEPENDS_ON_ANNOTATION

Objects = Callable[[], Mapping[str, Mapping[str, Any]]]

_READY = Readiness(True, (), "no dependencies")


def _annotation(obj: Mapping[str, Any]) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DEPENDS_ON_ANNOTATION) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


class AppDependencies:
    """The dependency graph of the Applications ``applications`` answers (their projects from
    ``projects``)."""

    def __init__(self, applications: Objects, projects: Objects) -> None:
        self._applications = applications
        self._projects = projects
        #: app -> its annotation, for the apps that carry one
        self._declared: dict[str, str] = {}
        #: app -> the apps that name it (as far as their annotations parse)
        self._named_by: dict[str, set[str]] = {}
        self._graph: DependencyGraph | None = None

    def on_application(self, event_type: str, obj: Mapping[str, Any]) -> frozenset[str]:
        """Follow one Application event; answers the apps that depend on it (to compare
        again: their wait may be over)."""
        name = str(obj["metadata"]["name"])
        declared = None if event_type == "DELETED" else _annotation(obj)
        if declared != self._declared.get(name):
            self._redeclare(name, declared)
        if name in self._named_by and event_type in ("ADDED", "DELETED"):
            self._graph = None  # a dependency that appears or goes: "missing" changes
        return frozenset(self._named_by.get(name, ()))

    def _redeclare(self, name: str, declared: str | None) -> None:
        for named in self._names(self._declared.get(name), name):
            dependents = self._named_by.get(named)
            if dependents is not None:
                dependents.discard(name)
                if not dependents:
                    del self._named_by[named]
        if declared is None:
            self._declared.pop(name, None)
        else:
            self._declared[name] = declared
            for named in self._names(declared, name):
                self._named_by.setdefault(named, set()).add(name)
        self._graph = None

    @staticmethod
    def _names(declared: str | None, name: str) -> tuple[str, ...]:
        if declared is None:
            return ()
        try:
            return dependencies.parse_depends_on({DEPENDS_ON_ANNOTATION: declared}, name)
        except InvalidSpecError:
            return ()  # the graph reports it on the app itself

    def graph(self) -> DependencyGraph:
        """The graph, built again only after an annotation, or an app named in one, changed."""
        if self._graph is None:
            apps = self._applications()
            involved = set(self._declared) | {n for n in self._named_by if n in apps}
            self._graph = DependencyGraph.build({n: apps[n] for n in involved if n in apps})
        return self._graph

    def check(self, name: str) -> None:
        """InvalidSpecError when the app's dependencies cannot be: a bad annotation, a cycle,
        a dependency in a project the app's may not depend on."""
        if name not in self._declared:
            return
        graph = self.graph()
        graph.check(name)
        apps = self._applications()
        app = apps.get(name)
        if app is not None:
            named = (apps[d] for d in graph.dependencies_of(name) if d in apps)
            dependencies.check_projects(app, named, self._projects())

    def readiness(self, name: str) -> Readiness:
        """Whether the app's syncs may run as far as its dependencies go, and what it waits
        for."""
        if name not in self._declared:
            return _READY
        return dependencies.readiness(name, self.graph(), self._applications(), self._projects())
