"""Properties of manifest parsing: any input gives Kubernetes objects or a RenderError.

Never another exception, never a value JSON cannot carry, never more values than the limits
allow, whatever the bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_safeyaml import expanded_size
from tether.render import RenderError, RenderLimits
from tether.render.manifests import (
    iter_yaml_documents,
    parse_json_manifests,
    parse_tool_output,
    parse_yaml_manifests,
)

LIMITS = RenderLimits(
    max_file_bytes=8192,
    max_output_bytes=8192,
    max_yaml_depth=12,
    max_yaml_nodes=3000,
    max_yaml_alias_nodes=500,
)

_FRAGMENTS = st.sampled_from(
    [
        "apiVersion: v1\n",
        "kind: ConfigMap\n",
        "kind: List\nitems:\n",
        "metadata:\n  name: x\n",
        "metadata: {name: y, labels: &l {a: b}}\n",
        "data: {k: *l}\n",
        "  <<: *l\n",
        "---\n",
        "--- # comment\n",
        "# Source: c/templates/x.yaml\n",
        "- ",
        "  ",
        "\n",
        "a: [1, {b: c}, ~, 2001-12-14, 0x1F, 1:20, .inf, !!binary aGk=]\n",
        "? [k]\n: v\n",
        "&a x: *a\n",
        "!!set {a}\n",
        "1: one\n",
        "{",
        "[",
        "'",
        '"\\x',
        "\t",
        "\x00",
        "é",
    ]
)
_TEXT = st.lists(_FRAGMENTS | st.text(max_size=6), max_size=25).map("".join)


def _check(objects: list[dict[str, Any]]) -> None:
    """What every caller relies on: objects with a kind and a name, whose values are JSON."""
    for obj in objects:
        assert isinstance(obj, dict)
        assert isinstance(obj["apiVersion"], str) and isinstance(obj["kind"], str)
        assert isinstance(obj["metadata"], dict)
    orjson.dumps(objects)
    assert expanded_size(objects, 100_000) <= LIMITS.max_yaml_nodes + 1


@settings(max_examples=1000, deadline=None)
@given(text=_TEXT, as_bytes=st.booleans())
def test_property_yaml_manifests_are_objects_or_a_render_error(text: str, as_bytes: bool) -> None:
    data: str | bytes = text.encode(errors="surrogatepass") if as_bytes else text
    try:
        _check(parse_yaml_manifests(data, "app/x.yaml", LIMITS))
    except RenderError as exc:
        assert str(exc).startswith("app/x.yaml")
    try:
        for _, line in iter_yaml_documents(data, "app/x.yaml", limits=LIMITS):
            assert line >= 1
    except RenderError:
        pass


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=30,
)


@st.composite
def json_bytes(draw: st.DrawFn) -> bytes:
    """Valid JSON (objects, arrays, deep nesting), sometimes cut or spliced with junk."""
    value = draw(_JSON)
    if draw(st.booleans()):
        value = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "d": value}
    depth = draw(st.sampled_from([0, 0, 20, 300, 2000]))
    data = b"[" * depth + orjson.dumps(value) + b"]" * depth
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=6)) + data[cut:]
    return data


@settings(max_examples=600, deadline=None)
@given(data=json_bytes())
def test_property_json_manifests_are_objects_or_a_render_error(data: bytes) -> None:
    try:
        _check(parse_json_manifests(data, "app/x.json", LIMITS))
    except RenderError as exc:
        assert str(exc).startswith("app/x.json")


@settings(max_examples=1000, deadline=None)
@given(text=_TEXT, tool=st.sampled_from(["helm", "kustomize"]))
def test_property_tool_output_is_objects_or_a_render_error(text: str, tool: str) -> None:
    try:
        _check(parse_tool_output(text.encode(errors="surrogatepass"), tool, LIMITS))
    except RenderError as exc:
        assert exc.file is None or exc.file.startswith(("c/templates/x.yaml", f"<{tool} output>"))
