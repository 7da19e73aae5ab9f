"""A HelmRelease's values composed as helm-controller composes them."""

from __future__ import annotations

import pytest

from tether.flux.helmvalues import ValuesError, ValuesInput, compose, set_path, typed


def source(data: dict[str, str] | None, **fields: object) -> ValuesInput:
    base = {"kind": "ConfigMap", "name": "v", "namespace": "apps", "values_key": "values.yaml",
            "target_path": None, "optional": False, "data": data}  # fmt: skip
    base.update(fields)
    return ValuesInput(**base)  # type: ignore[arg-type]


def test_sources_merge_in_order_and_values_win() -> None:
    first = source({"values.yaml": "a: {b: 1, c: 2}\nlist: [1, 2]\n"})
    second = source({"values.yaml": "a: {c: 3}\nlist: [9]\n"}, name="w")
    result = compose([first, second], {"a": {"d": 4}})
    assert result == {"a": {"b": 1, "c": 3, "d": 4}, "list": [9]}


def test_target_path_sets_one_typed_value() -> None:
    secret = source({"password": "s3cret"}, kind="Secret", values_key="password",
                    target_path="auth.password")  # fmt: skip
    flag = source({"on": "true"}, values_key="on", target_path="features[1].enabled")
    assert compose([secret, flag], {}) == {
        "auth": {"password": "s3cret"},
        "features": [None, {"enabled": True}],
    }


def test_missing_sources_fail_unless_optional() -> None:
    with pytest.raises(ValuesError, match="could not find ConfigMap 'apps/v'"):
        compose([source(None)], {})
    with pytest.raises(ValuesError, match=r"missing key 'values\.yaml'"):
        compose([source({})], {})
    assert compose([source(None, optional=True), source({}, optional=True)], {"x": 1}) == {"x": 1}


def test_hostile_values_are_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(ValuesError, match="unable to read values"):
        compose([source({"values.yaml": bomb})], {})
    with pytest.raises(ValuesError, match="not a YAML map"):
        compose([source({"values.yaml": "- a\n- b\n"})], {})


def test_typing_as_helm_set() -> None:
    assert [typed(t) for t in ("true", "false", "null", "42", "0", "007", "1.5", "x")] == [
        True, False, None, 42, 0, "007", "1.5", "x",
    ]  # fmt: skip
    values: dict[str, object] = {}
    set_path(values, r"ingress.annotations.kubernetes\.io/class", "nginx")
    assert values == {"ingress": {"annotations": {"kubernetes.io/class": "nginx"}}}
