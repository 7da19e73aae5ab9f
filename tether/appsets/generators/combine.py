"""The Matrix and Merge generators, over two (matrix) or more (merge) child generators.

Matrix: every set of the first child with every set of the second; the second child is
rendered with the first's parameters before it runs (so it may use them, Argo CD's rule), and
a key both give with different values is an error. Merge: the sets of the first child, each
updated by the sets of later children that agree with it on ``mergeKeys``; two sets of one
child with the same merge key values are an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tether.appsets.errors import MAX_PARAMS, AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.params import Params, flatten
from tether.appsets.render import render_application


def _children(spec: Mapping[str, Any], where: str, least: int, most: int | None) -> list[Any]:
    children = spec.get("generators")
    if (
        not isinstance(children, list)
        or len(children) < least
        or (most is not None and len(children) > most)
    ):
        count = f"exactly {least}" if most == least else f"at least {least}"
        raise AppSetError(f"{where}.generators must list {count} generators")
    return children


def _combined(first: Params, second: Params, where: str) -> Params:
    out = dict(first)
    for key, value in second.items():
        if key in out and out[key] != value:
            raise AppSetError(
                f"{where}: both generators give {key!r}, with different values "
                f"({json.dumps(out[key], default=str)[:60]} and "
                f"{json.dumps(value, default=str)[:60]})"
            )
        out[key] = value
    return out


def matrix(
    spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str, depth: int
) -> list[Params]:
    from tether.appsets.generators import generate

    first_spec, second_spec = _children(spec, where, 2, 2)
    found: list[Params] = []
    for first in generate(first_spec, ctx, go=go, where=f"{where}.generators[0]", depth=depth):
        # the second generator sees the first's parameters (its strings are templates)
        second_rendered = render_application(second_spec, first, go=go)
        seconds = generate(second_rendered, ctx, go=go, where=f"{where}.generators[1]", depth=depth)
        for second in seconds:
            found.append(_combined(first, second, where))
            if len(found) > MAX_PARAMS:
                raise AppSetError(f"{where} combines to more than {MAX_PARAMS} parameter sets")
    return found


def _merge_key(params: Params, keys: list[str], go: bool) -> tuple[str, ...] | None:
    flat = flatten(params) if go else params
    if not all(k in flat for k in keys):
        return None
    return tuple(str(flat[k]) for k in keys)


def merge(
    spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str, depth: int
) -> list[Params]:
    from tether.appsets.generators import generate

    keys = spec.get("mergeKeys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise AppSetError(f"{where}.mergeKeys must list at least one key")
    children = _children(spec, where, 2, None)
    base = generate(children[0], ctx, go=go, where=f"{where}.generators[0]", depth=depth)
    by_key: dict[tuple[str, ...], int] = {}
    for index, params in enumerate(base):
        key = _merge_key(params, keys, go)
        if key is None:
            continue
        if key in by_key:
            raise AppSetError(f"{where}: two sets of generators[0] share the merge key {key}")
        by_key[key] = index
    merged = [dict(p) for p in base]
    for number, child in enumerate(children[1:], start=1):
        seen: set[tuple[str, ...]] = set()
        for params in generate(
            child, ctx, go=go, where=f"{where}.generators[{number}]", depth=depth
        ):
            key = _merge_key(params, keys, go)
            if key is None:
                continue
            if key in seen:
                raise AppSetError(
                    f"{where}: two sets of generators[{number}] share the merge key {key}"
                )
            seen.add(key)
            if key in by_key:
                merged[by_key[key]].update(params)
    return merged
