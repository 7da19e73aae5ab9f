"""Property tests: any string as a jq path expression is a compiled rule or a clear error.

Evaluations run in the bounded jq workers; the timeout is lowered for the test so that the
generated loops (`repeat`, `range`, recursion) cost little.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.controller import models
from tether.engine.diff import SyncStatus, diff_resource
from tether.engine.ignore import IgnoreRule, parse_system_rules
from tether.errors import TetherError

# Pieces of jq, so that many generated expressions compile (and some loop or blow up).
TOKENS = [
    ".",
    "..",
    ".a",
    ".data",
    ".spec",
    "[]",
    "[0]",
    '["a"]',
    "?",
    "|",
    ",",
    "//",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ";",
    "select(",
    "repeat(",
    "range(",
    "recurse",
    "limit(",
    "1e9",
    "1",
    '"x"',
    '"\\(',
    "def f:",
    "f",
    "$x",
    " as ",
    "reduce ",
    "foreach ",
    "if ",
    " then ",
    " else ",
    " end",
    "#",
    "\n",
    "empty",
    "error",
    "paths",
    "getpath(",
    "..|",
    "env",
    "input",
    'include "x";',
    'import "x" as m;',
    "$__loc__",
    "label $l",
    "break $l",
    "\x00",
    " ",
]
expressions = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
)
SPEC: dict[str, Any] = {
    "source": {"repoURL": "https://git.example.com/apps.git", "path": "apps"},
    "destination": {"server": "https://kubernetes.default.svc", "namespace": "team"},
}
DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "team"},
    "data": {"a": "1", "b": "2"},
}
LIVE = {**DESIRED, "metadata": {**DESIRED["metadata"], "uid": "u1", "resourceVersion": "5"}}


@pytest.fixture(autouse=True)
def short_timeout() -> Iterator[None]:
    parse_system_rules({"ignore.normalizer.jq.timeout": "200ms"})
    yield
    parse_system_rules({})  # back to the defaults for the tests that follow


@settings(
    max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expression=expressions)
def test_any_expression_gives_a_spec_or_an_invalid_spec_error(expression: str) -> None:
    spec = {**SPEC, "ignoreDifferences": [{"kind": "ConfigMap", "jqPathExpressions": [expression]}]}
    try:
        parsed = models.parse_spec(spec)
    except models.InvalidSpecError as error:
        assert error.message.startswith("spec.ignoreDifferences[0].jqPathExpressions[0]: ")
        assert (
            "invalid jq expression" in error.message
            or "compiling it takes more than" in error.message
        )
        return
    assert parsed.ignore_differences[0]["jqPathExpressions"] == [expression]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expression=expressions)
def test_any_accepted_expression_compares_or_reports_why_not(expression: str) -> None:
    try:
        rule = IgnoreRule.from_spec({"kind": "ConfigMap", "jqPathExpressions": [expression]})
    except TetherError:
        return
    result = diff_resource(DESIRED, LIVE, [rule])
    if result.status is SyncStatus.UNKNOWN:
        assert result.error is not None and result.error.startswith("ignoreDifferences: ")
    else:
        assert result.status is SyncStatus.SYNCED and result.error is None
