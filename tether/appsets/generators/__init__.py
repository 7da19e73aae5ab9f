"""The generators of an ApplicationSet: each turns its part of ``spec.generators`` into parameter
sets. :func:`generate` dispatches on the generator's one key and applies its ``selector``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.appsets.errors import MAX_PARAMS, AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.generators.decisions import decisions
from tether.appsets.generators.git import git
from tether.appsets.generators.pullrequests import pull_requests
from tether.appsets.generators.scm import scm_provider
from tether.appsets.generators.simple import clusters, list_generator
from tether.appsets.params import Params, select

#: generators Tether runs (the others of Argo CD are refused by name)
KNOWN = (
    "list",
    "clusters",
    "git",
    "matrix",
    "merge",
    "pullRequest",
    "scmProvider",
    "clusterDecisionResource",
)
#: Argo CD's generators that Tether does not run yet
NOT_YET = ("plugin",)
#: matrix and merge inside each other at most (Argo CD allows two levels)
MAX_DEPTH = 2


def generate(
    generator: Mapping[str, Any], ctx: Context, *, go: bool, where: str, depth: int = 0
) -> list[Params]:
    """The parameter sets of one generator, after its ``selector``."""
    if not isinstance(generator, Mapping):
        raise AppSetError(f"{where} must be an object")
    kinds = [k for k in generator if k not in ("selector", "template", "values")]
    if len(kinds) != 1:
        raise AppSetError(
            f"{where} must name exactly one generator ({', '.join(KNOWN)}), not "
            f"{', '.join(kinds) or 'none'}"
        )
    kind = kinds[0]
    spec = generator[kind]
    inner = f"{where}.{kind}"
    if kind in NOT_YET:
        raise AppSetError(f"{inner}: the {kind} generator is not supported by Tether yet")
    if kind not in KNOWN:
        raise AppSetError(f"{inner}: {kind!r} is not a generator ({', '.join(KNOWN)})")
    if not isinstance(spec, Mapping):
        raise AppSetError(f"{inner} must be an object")
    if kind == "list":
        found = list_generator(spec, go=go, where=inner)
    elif kind == "clusters":
        found = clusters(spec, ctx, go=go, where=inner)
    elif kind == "git":
        found = git(spec, ctx, go=go, where=inner)
    elif kind == "pullRequest":
        found = pull_requests(spec, ctx, go=go, where=inner)
    elif kind == "scmProvider":
        found = scm_provider(spec, ctx, go=go, where=inner)
    elif kind == "clusterDecisionResource":
        found = decisions(spec, ctx, go=go, where=inner)
    else:
        if depth >= MAX_DEPTH:
            raise AppSetError(f"{inner}: matrix and merge nest {MAX_DEPTH} levels deep at most")
        from tether.appsets.generators.combine import matrix, merge

        combine = matrix if kind == "matrix" else merge
        found = combine(spec, ctx, go=go, where=inner, depth=depth + 1)
    if len(found) > MAX_PARAMS:
        raise AppSetError(
            f"{inner} produced {len(found)} parameter sets, more than {MAX_PARAMS}: narrow it "
            "(a path, a selector)"
        )
    return select(found, generator.get("selector"), go, f"{where}.selector")
