"""The bounded YAML loader: PyYAML's values for real files, a clear error for hostile ones."""

from __future__ import annotations

import datetime
import math
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpora import CORPORA
from tests.render.bounded import run_python
from tether import safeyaml
from tether.safeyaml import (
    KubernetesLoader,
    YamlError,
    YamlLimitError,
    YamlLimits,
    bounded_events,
    check_nesting,
    iter_documents,
    load,
    load_all,
)


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the previous one nine times (9**levels strings)."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "l0: &l0 lol"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines.append(f"data: {{x: *l{levels}}}")
    return "\n".join(lines) + "\n"


def expanded_size(value: Any, cap: int) -> int:
    """How many values a reader walking ``value`` meets, aliases expanded (stops past cap)."""
    count = 0
    stack = [value]
    while stack and count <= cap:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def test_every_corpus_file_loads_as_pyyaml_loads_it() -> None:
    files = sorted(CORPORA.rglob("*.yaml"))
    assert len(files) > 100
    for path in files:
        data = path.read_bytes()
        try:
            expected = list(yaml.load_all(data, Loader=yaml.CSafeLoader))
        except yaml.YAMLError:
            # a few test inputs of fluxcd/pkg are templates, not YAML: both loaders refuse them
            with pytest.raises(YamlError):
                load_all(data)
            continue
        assert load_all(data) == expected, path


def test_billion_laughs_is_refused_before_anything_expands_it() -> None:
    # the child also walks what it loaded, as the controller's diff would: with an unbounded
    # loader that walk is 9**9 steps and the memory limit ends the child
    code = (
        "import sys, orjson; from tether import safeyaml\n"
        "try:\n"
        "    value = safeyaml.load(sys.stdin.buffer.read())\n"
        "    print(len(orjson.dumps(value)))\n"
        "except safeyaml.YamlLimitError as exc:\n"
        "    print('refused:', exc)\n"
    )
    run = run_python(code, stdin=billion_laughs().encode(), memory_bytes=1024**3, timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().startswith("refused: line 10: aliases expand to more than 400000")


@pytest.mark.parametrize(
    ("build", "line"),
    [('"[" * depth + "]" * depth', 1), ('"- " * depth + "x"', 1)],
    ids=["flow", "compact-sequences"],
)
def test_deep_nesting_is_refused_without_recursing(build: str, line: int) -> None:
    # 50,000 levels segfaulted PyYAML's C composer; 1,000 to 20,000 overflowed the constructor
    code = (
        "from tether import safeyaml\n"
        "for depth in (1_000, 20_000, 50_000):\n"
        "    try:\n"
        f"        safeyaml.load({build})\n"
        "        print('loaded', depth)\n"
        "    except safeyaml.YamlLimitError as exc:\n"
        "        print(exc.line, exc.problem)\n"
    )
    run = run_python(code, memory_bytes=1024**3, timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    expected = f"{line} nested deeper than 128 levels (YAML depth limit)"
    assert run.stdout.decode().splitlines() == [expected] * 3


def test_depth_through_an_alias_counts() -> None:
    deep = "[" * 100 + "]" * 100
    text = f"a: &deep {deep}\nb: " + "[" * 40 + "*deep" + "]" * 40 + "\n"
    with pytest.raises(YamlLimitError, match="alias \\*deep nests deeper than 128 levels"):
        load(text)
    assert load(f"a: &deep {deep}\nb: [[*deep]]\n")["b"][0][0] is not None


def test_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(YamlError, match="recursive structures are not allowed"):
        load("a: &a\n  b: *a\n")


def test_alias_count_and_expansion_limits() -> None:
    many = "a: &a x\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    with pytest.raises(YamlLimitError, match="more than 10 aliases"):
        load(many, limits=YamlLimits(max_aliases=10))
    assert load(many, limits=YamlLimits(max_aliases=11))["b"] == ["x"] * 11
    wide = "a: &a [1, 2, 3, 4]\nb: [*a, *a]\n"
    with pytest.raises(YamlLimitError, match="aliases expand to more than 9 values"):
        load(wide, limits=YamlLimits(max_alias_nodes=9))
    assert load(wide, limits=YamlLimits(max_alias_nodes=10))["b"] == [[1, 2, 3, 4]] * 2


def test_node_and_size_limits() -> None:
    text = "[" + ", ".join(str(i) for i in range(100)) + "]"
    with pytest.raises(YamlLimitError, match="more than 100 values"):
        load(text, limits=YamlLimits(max_nodes=100))
    assert len(load(text, limits=YamlLimits(max_nodes=101))) == 100
    with pytest.raises(YamlLimitError, match="larger than 10 bytes"):
        load("a: 12345678", limits=YamlLimits(max_bytes=10))


def test_node_limit_counts_every_document_of_a_stream() -> None:
    stream = "---\n[1, 2]\n---\n[3, 4]\n"
    with pytest.raises(YamlLimitError, match="more than 5 values"):
        load_all(stream, limits=YamlLimits(max_nodes=5))


def test_merge_keys_as_pyyaml() -> None:
    text = (
        "a: &a {k: 1, x: a}\n"
        "b: &b {k: 2, j: 2}\n"
        "c:\n  <<: [*a, *b]\n  x: own\n"
        "d:\n  x: own\n  <<: *a\n  <<: {k: 3}\n"
    )
    assert load(text) == yaml.load(text, Loader=yaml.CSafeLoader)
    assert load(text)["c"] == {"k": 1, "x": "own", "j": 2}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: [1, 2\n", "expected ',' or ']'"),
        ("<<: 1\n", "merge key) needs a mapping"),
        ("- <<\n", "merge key) is only allowed as a mapping key"),
        ("? [a]\n: 1\n", "found unhashable key"),
        ("a: !!set {x, y}\n", "tag tag:yaml.org,2002:set is not supported"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
        ("a: *nope\n", "found undefined alias"),
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor &x"),
        ("a: " + "9" * 5000 + "\n", "invalid int"),
        ("a: 2001-13-40\n", "invalid timestamp"),
        ("a: !!int nope\n", "invalid int"),
    ],
)
def test_bad_yaml_is_a_yaml_error_with_its_line(text: str, problem: str) -> None:
    with pytest.raises(YamlError) as caught:
        load(text)
    assert problem in caught.value.problem
    assert caught.value.line in (1, 2, 3)


def test_kubernetes_loader_reads_yaml_as_kubernetes_does() -> None:
    text = (
        "when: 2001-12-14 21:59:43.10 -5\n"
        "day: 2001-13-40\n"
        "ports: {8080: http, true: yes, 1.5: x}\n"
        "big: 99999999999999999999999\n"
        "blob: !!binary aGk=\n"
        "stamp: !!timestamp 2001-12-14\n"
    )
    value = load(text, loader=KubernetesLoader)
    assert value == {
        "when": "2001-12-14 21:59:43.10 -5",
        "day": "2001-13-40",
        "ports": {"8080": "http", "true": True, "1.5": "x"},
        "big": 1e23,
        "blob": "hi",
        "stamp": "2001-12-14",
    }
    assert isinstance(load("a: 2001-12-14\n")["a"], datetime.date)  # the safe loader's own
    with pytest.raises(YamlError, match="mapping key null is not a string, number or boolean"):
        load("~: x\n", loader=KubernetesLoader)


def test_single_document_and_lines() -> None:
    assert load("") is None
    with pytest.raises(YamlError, match="expected a single document"):
        load("--- 1\n--- 2\n")
    docs = list(iter_documents("# head\na: 1\n---\n\n\nb: 2\n---\n"))
    assert docs == [({"a": 1}, 2), ({"b": 2}, 6), (None, 8)]


def test_json_data_is_checked_without_recursing() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(YamlLimitError, match="nested deeper than 128 levels"):
        check_nesting(deep)
    with pytest.raises(YamlLimitError, match="more than 3 values"):
        check_nesting({"a": [1, 2]}, YamlLimits(max_nodes=3))
    check_nesting({"a": [1]}, YamlLimits(max_nodes=3))


def test_bounded_events_stop_at_the_depth_limit() -> None:
    with pytest.raises(YamlLimitError, match="line 1: nested deeper than 128"):
        list(bounded_events("[" * 10_000 + "]" * 10_000))
    kinds = [type(e).__name__ for e in bounded_events("a: [1]\n")]
    assert kinds[0] == "StreamStartEvent" and kinds[-1] == "StreamEndEvent"


# --- properties --------------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_DATA,
    flow=st.sampled_from([True, False, None]),
    share=st.booleans(),
)
def test_property_dumped_data_loads_as_pyyaml_loads_it(
    data: Any, flow: bool | None, share: bool
) -> None:
    # a shared value makes the dumper write an anchor and aliases
    document = {"first": data, "second": data} if share else data
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    assert load(text) == yaml.load(text, Loader=yaml.CSafeLoader)


_YAML_ALPHABET = st.sampled_from(
    [*"ab01:-?[]{},&*!|>'\"#%@` \n\t.<=~", "\n  ", "- ", ": ", "&a ", "*a", "<<: ", "!!"]
)


@settings(max_examples=1500, deadline=None)
@given(pieces=st.lists(_YAML_ALPHABET, max_size=60))
def test_property_any_text_gives_values_or_a_yaml_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    limits = YamlLimits(max_bytes=4096, max_nodes=2000, max_alias_nodes=500)
    for loader in (safeyaml.SafeLoader, KubernetesLoader):
        try:
            values = load_all(text, limits=limits, loader=loader)
        except YamlError:
            continue
        assert expanded_size(values, 10_000) <= limits.max_nodes + 1
        if loader is KubernetesLoader:
            orjson.dumps(values)  # Kubernetes values are always JSON


@st.composite
def alias_documents(draw: st.DrawFn) -> str:
    """Documents whose anchors list earlier anchors, in random widths and nestings."""
    lines = ["a0: &a0 [x]"]
    for i in range(1, draw(st.integers(1, 8))):
        width = draw(st.integers(1, 6))
        refs = [f"*a{draw(st.integers(0, i - 1))}" for _ in range(width)]
        wrap = draw(st.integers(0, 3))
        lines.append(f"a{i}: &a{i} " + "[" * wrap + "[" + ", ".join(refs) + "]" + "]" * wrap)
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(text=alias_documents(), max_nodes=st.integers(10, 3000), max_depth=st.integers(2, 20))
def test_property_aliases_never_expand_past_the_limits(
    text: str, max_nodes: int, max_depth: int
) -> None:
    limits = YamlLimits(max_nodes=max_nodes, max_alias_nodes=max_nodes, max_depth=max_depth)
    try:
        value = load(text, limits=limits)
    except YamlLimitError:
        return
    assert expanded_size(value, max_nodes * 2) <= max_nodes
    assert _depth(value) <= max_depth


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def test_floats_as_keys_follow_go() -> None:
    value = load("{0.1: a, 1.0e+3: b, .inf: c, .nan: d, 3.0: e}", loader=KubernetesLoader)
    assert list(value) == ["0.1", "1000", ".inf", ".nan", "3"]
    assert math.isinf(load("a: .inf")["a"])


CALLERS = """
import sys, tempfile
from pathlib import Path
from starlette.testclient import TestClient
from tether.cli.api import CliConfig, read_object_file
from tether.cli.seal import _documents
from tether.engine.health.customizations import _legacy_scripts
from tether.localcluster.api import decode_body
from tether.secrets.certserver import cert_app
from tether.secrets.keys import KeyRing, _keys_from_secret_yaml
from tether.secrets.sops import _load_yaml

text = sys.stdin.read()
path = Path(tempfile.mkdtemp()) / "doc.yaml"
path.write_text(text)
client = TestClient(cert_app(KeyRing()))
calls = {
    "localcluster body": lambda: decode_body(text.encode(), "application/yaml"),
    "sops file": lambda: _load_yaml(text.encode(), "s.yaml"),
    "sealing key secret": lambda: _keys_from_secret_yaml(text.encode(), "keys"),
    "cert server": lambda: client.post("/v1/verify", content=text.encode()).status_code,
    "tether seal input": lambda: _documents(text.encode(), "in.yaml"),
    "tether object file": lambda: read_object_file(str(path), "Application"),
    "tether config": lambda: CliConfig.load(path),
    "health customizations": lambda: _legacy_scripts(text),
}
for name, call in calls.items():
    try:
        print(name, "->", repr(call())[:40])
    except Exception as exc:
        print(name, "->", type(exc).__name__)
"""


@pytest.mark.parametrize(
    "text", ["- " * 50_000 + "x\n", billion_laughs()], ids=["deep", "billion-laughs"]
)
def test_every_caller_refuses_hostile_yaml(text: str) -> None:
    # before the bounded loader the deep document killed the first of these with a segfault
    run = run_python(CALLERS, stdin=text.encode(), memory_bytes=2 * 1024**3, timeout=120)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().splitlines() == [
        "localcluster body -> ApiError",
        "sops file -> SopsFormatError",
        "sealing key secret -> []",
        "cert server -> 400",
        "tether seal input -> ClickException",
        "tether object file -> CliError",
        "tether config -> CliConfigError",
        "health customizations -> HealthCustomizationError",
    ]
