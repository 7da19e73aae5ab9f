"""An Application from the set's template and one parameter set.

- fasttemplate (the default): ``{{ key }}`` in every string value is replaced by the flat
  parameter of that name; an unknown name is left as written (valyala/fasttemplate with Argo
  CD's tag function).
- Go templates (``goTemplate: true``): every string value is a Go ``text/template`` over the
  nested parameters, with Sprig and Argo CD's ``normalize``/``toYaml``/``fromYaml``;
  ``goTemplateOptions: ["missingkey=error"]`` makes a missing key an error. ``templatePatch``
  (a Go template of YAML) is rendered, then merged onto the Application (maps merged, lists
  replaced, as a strategic merge does for Application, whose lists carry no merge keys).

Only values are templated, never keys (Argo CD's rule). Nothing can read a file or the
environment: Tether's Go templates have no such functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml

from tether import safeyaml
from tether.appsets.errors import AppSetError
from tether.appsets.params import Params, go_string
from tether.gotemplate import MissingKey, TemplateError, TemplateOptions, parse

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
#: characters of one rendered string at most
MAX_RENDERED = 256 * 1024


def fasttemplate(text: str, params: Mapping[str, Any]) -> str:
    """``{{ key }}`` replaced by ``params[key]`` (trimmed), unknown keys left as they are."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        found = params.get(key)
        return match.group(0) if found is None else go_string(found)

    out = _TAG.sub(value, text) if "{{" in text else text
    if len(out) > MAX_RENDERED:
        raise AppSetError(f"a rendered value is longer than {MAX_RENDERED} characters")
    return out


def missing_key(options: list[str] | tuple[str, ...]) -> MissingKey:
    """Go's ``missingkey=`` option from ``goTemplateOptions`` (others are refused)."""
    found: MissingKey = "default"
    for option in options:
        name, _, value = str(option).partition("=")
        if name != "missingkey" or value not in ("default", "invalid", "zero", "error"):
            raise AppSetError(
                f"goTemplateOptions: {option!r} is not an option Tether knows (missingkey=error, "
                "missingkey=zero, missingkey=default)"
            )
        found = "default" if value == "invalid" else value  # type: ignore[assignment]
    return found


@lru_cache(maxsize=4096)
def _parsed(text: str, missing: MissingKey) -> Any:
    return parse(text, "template", options=TemplateOptions(missing_key=missing))


def go_template(text: str, params: Mapping[str, Any], missing: MissingKey) -> str:
    if "{{" not in text:
        return text
    try:
        out = _parsed(text, missing).execute(params)
    except TemplateError as exc:
        raise AppSetError(f"the template {text[:120]!r} failed: {exc.message}") from None
    if len(out) > MAX_RENDERED:
        raise AppSetError(f"a rendered value is longer than {MAX_RENDERED} characters")
    return out


def _render(value: Any, one: Any) -> Any:
    # the template comes from the ApplicationSet as stored: bounded in depth by the API server
    if isinstance(value, str):
        return one(value)
    if isinstance(value, Mapping):
        return {k: _render(v, one) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, one) for v in value]
    return value


def merge_patch(base: Any, patch: Any) -> Any:
    """``patch`` merged onto ``base``: maps key by key, anything else replaced."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge_patch(base.get(key), value) if key in base else value
        return merged
    return patch


def render_application(
    template: Mapping[str, Any],
    params: Params,
    *,
    go: bool,
    options: tuple[str, ...] = (),
    template_patch: str = "",
) -> dict[str, Any]:
    """The Application ``template`` gives for ``params`` (``metadata`` and ``spec``)."""
    if go:
        missing = missing_key(options)
        rendered = _render(template, lambda text: go_template(text, params, missing))
        if template_patch:
            patch_text = go_template(template_patch, params, missing)
            try:
                patch = safeyaml.load(patch_text.encode())
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise AppSetError(f"templatePatch did not render to YAML: {exc}") from None
            if patch is not None and not isinstance(patch, Mapping):
                raise AppSetError("templatePatch must render to a YAML object")
            rendered = merge_patch(rendered, patch or {})
    else:
        if template_patch:
            raise AppSetError("templatePatch needs goTemplate: true")
        rendered = _render(template, lambda text: fasttemplate(text, params))
    return dict(rendered)
