"""What the Kustomization and HelmRelease reconcilers share: the failure they end with, the
refusal of a source in another namespace, and the ``dependsOn`` check (a cycle named, then each
dependency Ready)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.flux import depends
from tether.flux import status as fluxstatus
from tether.flux.specs import ObjectRef

#: how often an object waiting on a dependency looks again (Flux's --requeue-dependency); a
#: dependency becoming ready also wakes it at once
DEPENDENCY_REQUEUE = 30.0
#: Flux's reason when a cross-namespace reference is blocked
ACCESS_DENIED = "AccessDenied"
#: how soon an object looks again whose source is Ready but not fetched by this process yet
#: (a controller that just started): nothing is written meanwhile
SOURCE_PENDING = 1.0

Lookup = Callable[[depends.Key], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Failure(Exception):
    """A reconcile that ends with Ready=False: Flux's reason, the message, when to look again
    (None: when the object changes) and whether it is Stalled."""

    reason: str
    message: str
    requeue: float | None
    stalled: bool = False
    #: nothing to report (the status stays as it is): only look again after ``requeue``
    quiet: bool = False


def tenant_user(namespace: str, account: str | None) -> str | None:
    """The user a Flux object's ``serviceAccountName`` is impersonated as (in the object's own
    namespace), or None: the controller's own identity."""
    return f"system:serviceaccount:{namespace}:{account}" if account else None


def refuse_other_namespace(source: ObjectRef, namespace: str) -> None:
    """Flux's ``--no-cross-namespace-refs``, which its multi-tenancy guide turns on: a tenant
    must not read another namespace's source (fetched with that namespace's credentials)."""
    if source.namespace != namespace:
        raise Failure(
            ACCESS_DENIED,
            f"cannot access {source.kind}/{source.namespace}/{source.name}: "
            "cross-namespace references are not allowed",
            None,
            stalled=True,
        )


def check_dependencies(
    key: depends.Key,
    depends_on: Sequence[ObjectRef],
    lookup: Lookup,
    source: ObjectRef,
    revision: str | None,
    self_obj: Mapping[str, Any] | None = None,
) -> None:
    """Raise a ``DependencyNotReady`` failure for a cycle (named, not retried) or a dependency
    not Ready (retried); ``revision``: the source revision a dependency reading the same
    source must have applied (None: not checked)."""
    if not depends_on:
        return

    def edges(node: depends.Key) -> Sequence[depends.Key]:
        obj = lookup(node)
        found = []
        for entry in ((obj or {}).get("spec") or {}).get("dependsOn") or ():
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                found.append((str(entry.get("namespace") or node[0]), entry["name"]))
        return found

    cycle = depends.cycle_through(key, edges)
    if cycle is not None:
        raise Failure(fluxstatus.DEPENDENCY_NOT_READY, depends.describe_cycle(cycle), None)
    waiting = depends.blocking(depends_on, lookup, source, revision, self_obj)
    if waiting is not None:
        raise Failure(fluxstatus.DEPENDENCY_NOT_READY, waiting, DEPENDENCY_REQUEUE)


def source_pending(source: ObjectRef, found: Mapping[str, Any] | None) -> Failure | None:
    """The quiet wait of an object whose source is Ready (its status says so) but that this
    process has not fetched yet, as after a restart; None when the source is not Ready: then
    the failure is real and said."""
    if found is None or not fluxstatus.is_ready(found):
        return None
    message = f"{source.kind} '{source.namespace}/{source.name}' not fetched by this controller yet"
    return Failure(fluxstatus.ARTIFACT_FAILED, message, SOURCE_PENDING, quiet=True)
