"""``spec.dependsOn`` of Kustomizations: what holds one back, and cycles.

A dependency is ready as Flux has it: it exists, its ``Ready`` condition is True for its current
generation, and — when it reads the same source — it has applied the revision the source holds
now (so a commit is rolled out in dependency order, not only the first time). Flux lets a cycle
wait forever; Tether names it, so the user sees why nothing in it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tether.flux.cel import CelError, Program
from tether.flux.specs import ObjectRef
from tether.flux.status import is_ready

Key = tuple[str, str]  # (namespace, name)


def key_of(ref: ObjectRef) -> Key:
    return (ref.namespace, ref.name)


def blocking(
    depends_on: Sequence[ObjectRef],
    lookup: Callable[[Key], Mapping[str, Any] | None],
    source: ObjectRef,
    source_revision: str | None,
    self_obj: Mapping[str, Any] | None = None,
) -> str | None:
    """Why the Kustomization must wait (Flux's ``DependencyNotReady`` message), or None.

    ``lookup`` gives a dependency's object (None when it does not exist); ``source`` and
    ``source_revision`` are the waiting Kustomization's own source and its current revision.
    A dependency with a ``readyExpr`` is ready when the expression is true (over ``dep``, the
    dependency, and ``self``, the waiting object), whatever its Ready condition.
    """
    for ref in depends_on:
        name = f"{ref.namespace}/{ref.name}"
        dep = lookup(key_of(ref))
        if dep is None:
            return f"dependency '{name}' not found"
        if ref.ready_expr is not None:
            verdict = _ready_by_expr(ref.ready_expr, dep, self_obj)
            if verdict is not None:
                return f"dependency '{name}' is not ready: {verdict}"
            continue
        if not is_ready(dep):
            return f"dependency '{name}' is not ready"
        if source_revision and _same_source(dep, source):
            applied = (dep.get("status") or {}).get("lastAppliedRevision")
            if applied != source_revision:
                return f"dependency '{name}' revision is not up to date"
    return None


def _same_source(dep: Mapping[str, Any], source: ObjectRef) -> bool:
    ref = (dep.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or (dep.get("metadata") or {}).get("namespace")
    return (ref.get("kind"), ref.get("name"), namespace) == (
        source.kind,
        source.name,
        source.namespace,
    )


def cycle_through(start: Key, edges: Callable[[Key], Sequence[Key]]) -> list[Key] | None:
    """A dependency cycle that ``start`` is on (``[start, …, start]``), or None.

    Iterative depth-first search over at most the reachable objects; ``edges`` gives an
    object's dependencies (empty for one that does not exist).
    """
    stack: list[tuple[Key, int]] = [(start, 0)]
    path: list[Key] = [start]
    seen: set[Key] = {start}
    while stack:
        node, index = stack[-1]
        deps = edges(node)
        if index >= len(deps):
            stack.pop()
            path.pop()
            continue
        stack[-1] = (node, index + 1)
        nxt = deps[index]
        if nxt == start:
            return [*path, start]
        if nxt not in seen:
            seen.add(nxt)
            stack.append((nxt, 0))
            path.append(nxt)
    return None


def describe_cycle(cycle: Sequence[Key]) -> str:
    return "dependency cycle: " + " -> ".join(f"{ns}/{name}" for ns, name in cycle)


def _ready_by_expr(
    program: Program, dep: Mapping[str, Any], self_obj: Mapping[str, Any] | None
) -> str | None:
    """None when the expression is true, else why not."""
    try:
        value = program.evaluate({"dep": dict(dep), "self": dict(self_obj or {})})
    except CelError as exc:
        return f"readyExpr failed: {exc.message}"
    if value is True:
        return None
    return f"readyExpr '{program.text}' is {str(value).lower() if isinstance(value, bool) else 'not a bool'}"
