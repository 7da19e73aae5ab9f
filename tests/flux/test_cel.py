"""The CEL Flux's health check expressions use: CEL's semantics on plain data (selection,
macros, error absorption by && and ||, strict types), and the bounds hostile expressions meet."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tether.flux.cel import MAX_DEPTH, MAX_LENGTH, CelError, CelSyntaxError, compile_expr

OBJ: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 3},
    "status": {
        "readyReplicas": 2,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Progressing"},
            {"type": "Available", "status": "True"},
        ],
    },
}


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')", False),
        ("status.conditions.exists(e, e.type == 'Available' && e.status == 'True')", True),
        ("status.conditions.exists_one(e, e.status == 'True')", True),
        ("status.readyReplicas < spec.replicas", True),
        ("status.conditions.map(c, c.type)", ["Ready", "Available"]),
        ("status.conditions.map(c, c.status == 'True', c.type)", ["Available"]),
        ("size(status.conditions) == 2 && size('abc') == 3", True),
        ("has(status.observedGeneration)", False),
        ("has(metadata.labels.app) ? metadata.labels.app : 'none'", "web"),
        ("metadata.labels['app'].startsWith('we') && !metadata.name.startsWith('x')", True),
        ("metadata.name.contains('eb') && metadata.name.endsWith('b')", True),
        ("metadata.name.matches('^w[a-z]+$')", True),
        ("'app' in metadata.labels && !('x' in metadata.labels)", True),
        ("7 / 2 == 3 && -7 % 3 == -1 && 7.0 / 2.0 == 3.5", True),
        ("1 == 1.0 && 2u == 2 && true != 1", True),
        ("[1, 2] + [3] == [1, 2, 3] && {'a': [1]}['a'][0] == 1", True),
        ("string(1) + 'x' == '1x' && int('42') == 42 && double(1) == 1.0", True),
        ("'a\\tb' == 'a\\u0009b' && '\\u00e9' == 'é' && r'\\n' != '\\n'", True),
        ("status.missing == 1 || true", True),
        ("false && status.missing == 1", False),
    ],
)  # fmt: skip
def test_values(expr: str, value: Any) -> None:
    assert compile_expr(expr).evaluate(OBJ) == value


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("status.missing", "no such key: 'missing'"),
        ("status.missing == 1 || false", "no such key"),
        ("spec.replicas + 'x'", "no matching overload for '+'"),
        ("1 / 0", "division by zero"),
        ("status.conditions[5]", "index out of range"),
        ("nothing", "undeclared reference to 'nothing'"),
        ("frobnicate(1)", "undeclared function 'frobnicate'"),
        ("metadata.name.matches('(a')", "matches"),
        ("spec.replicas.all(x, true)", "all() on a int"),
        ("status.conditions.all(c, c.type)", "bool predicate"),
    ],
)
def test_errors(expr: str, message: str) -> None:
    with pytest.raises(CelError, match=re.escape(message)):
        compile_expr(expr).evaluate(OBJ)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("status.(", "expected a field name at 8"),
        ("1 +", "unexpected 'the end' at 4"),
        ("a.all(1, 2)", "takes a variable and an expression"),
        ("has(x)", "takes a field selection"),
        ("'unterminated", "unexpected character"),
        ("1 # 2", "unexpected character '#'"),
        ("", "empty expression"),
        ("99999999999999999999", "out of range"),
    ],
)
def test_syntax_errors_name_the_place(expr: str, message: str) -> None:
    with pytest.raises(CelSyntaxError, match=re.escape(message)):
        compile_expr(expr)


def test_hostile_expressions_meet_the_bounds() -> None:
    with pytest.raises(CelSyntaxError, match="longer than"):
        compile_expr("1 + " * (MAX_LENGTH // 4) + "1")
    with pytest.raises(CelSyntaxError, match="nested more than"):
        compile_expr("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    quadratic = (
        "[" + ",".join(["1"] * 200) + "].all(x, [" + ",".join(["1"] * 200) + "].all(y, x == y))"
    )
    with pytest.raises(CelError, match="steps"):
        compile_expr(quadratic).evaluate({})
    doubling = "'ab'" + " + 'ab'" * 10
    assert len(compile_expr(doubling).evaluate({})) == 22


def test_ready_expr_decides_a_dependency() -> None:
    from tether.flux.depends import blocking
    from tether.flux.specs import InvalidExpression, ObjectRef, parse_kustomization

    spec = parse_kustomization(
        {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "s"},
         "dependsOn": [{"name": "db", "readyExpr": "dep.metadata.generation == dep.status.observedGeneration && self.metadata.name == 'app'"}]},
        "apps",
    )  # fmt: skip
    dep = {"metadata": {"generation": 2, "name": "db"}, "status": {"observedGeneration": 1}}
    source = ObjectRef("GitRepository", "s", "apps")
    me = {"metadata": {"name": "app"}}
    verdict = blocking(spec.depends_on, lambda key: dep, source, None, me)
    assert verdict is not None and verdict.startswith(
        "dependency 'apps/db' is not ready: readyExpr"
    )
    dep["status"]["observedGeneration"] = 2  # not Ready by conditions: the expression decides
    assert blocking(spec.depends_on, lambda key: dep, source, None, me) is None
    with pytest.raises(
        InvalidExpression, match="invalid CEL expression: expected a field name at 5"
    ):
        parse_kustomization(
            {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "s"},
             "dependsOn": [{"name": "db", "readyExpr": "dep.("}]}, "apps")  # fmt: skip
