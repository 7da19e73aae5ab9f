"""An ApplicationSet's Applications, as its generators and template make them (pure).

Every generator runs, each parameter set renders the template (a generator's own ``template``
overrides the set's field by field), and the Applications are checked as a whole before any is
used: a valid name, a spec Tether can read, no name twice. Any problem is one `AppSetError`
naming the generator or the Application, and nothing of that generation is used (the caller
keeps the Applications as they are).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tether.appsets.errors import MAX_PARAMS, AppSetError
from tether.appsets.generators import generate
from tether.appsets.generators.context import Context
from tether.appsets.render import merge_patch, render_application
from tether.controller import models
from tether.errors import TetherError
from tether.names import APPLICATION, ARGO_API_VERSION

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _spec(appset: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = appset.get("spec")
    if not isinstance(spec, Mapping):
        raise AppSetError("spec must be an object")
    return spec


def _checked(app: dict[str, Any], where: str) -> str:
    name = (app.get("metadata") or {}).get("name")
    if not isinstance(name, str) or len(name) > 253 or _NAME.fullmatch(name) is None:
        raise AppSetError(
            f"{where} renders the Application name {str(name)[:80]!r}, which is not a valid "
            "name (lowercase letters, digits, '-' and '.', at most 253 characters)"
        )
    try:
        models.parse_application(app)
    except TetherError as exc:
        raise AppSetError(
            f"{where} renders Application {name}, which is invalid: {exc.message}"
        ) from None
    return name


def generate_applications(appset: Mapping[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """The Applications of ``appset`` (in its namespace), by generator then parameter set."""
    spec = _spec(appset)
    namespace = str((appset.get("metadata") or {}).get("namespace") or "")
    go = spec.get("goTemplate") is True
    options = spec.get("goTemplateOptions") or []
    if not isinstance(options, list):
        raise AppSetError("goTemplateOptions must be a list")
    patch = spec.get("templatePatch") or ""
    if not isinstance(patch, str):
        raise AppSetError("templatePatch must be a string (a Go template of YAML)")
    template = spec.get("template")
    if not isinstance(template, Mapping):
        raise AppSetError("spec.template is required")
    generators = spec.get("generators")
    if not isinstance(generators, list) or not generators:
        raise AppSetError("spec.generators must list at least one generator")
    apps: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for index, generator in enumerate(generators):
        where = f"spec.generators[{index}]"
        own = generator.get("template") if isinstance(generator, Mapping) else None
        used = merge_patch(template, own) if isinstance(own, Mapping) else template
        for params in generate(generator, ctx, go=go, where=where):
            rendered = render_application(
                used, params, go=go, options=tuple(str(o) for o in options), template_patch=patch
            )
            app = {
                "apiVersion": ARGO_API_VERSION,
                "kind": APPLICATION,
                "metadata": {**(rendered.get("metadata") or {}), "namespace": namespace},
                "spec": rendered.get("spec") or {},
            }
            name = _checked(app, where)
            if name in names:
                raise AppSetError(
                    f"{where} and {names[name]} both render Application {name}: names must be "
                    "unique (use a parameter in metadata.name)"
                )
            names[name] = where
            apps.append(app)
            if len(apps) > MAX_PARAMS:
                raise AppSetError(f"the generators make more than {MAX_PARAMS} Applications")
    return apps
