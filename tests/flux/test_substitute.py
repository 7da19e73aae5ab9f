"""Flux's post-build variable substitution per object: Flux's own test data, values as YAML,
variables, the opt-out, the bounds."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.corpora import CORPORA
from tether.flux.envsubst import SubstitutionError, SubstitutionLimits
from tether.flux.substitute import VarSource, collect_variables, substitute
from tether.names import FLUX_SUBSTITUTE_DISABLED, FLUX_SUBSTITUTE_KEY
from tether.safeyaml import KubernetesLoader, load_all

TESTDATA = CORPORA / "fluxcd-pkg" / "testdata"


def documents(name: str) -> list[dict[str, Any]]:
    text = (TESTDATA / name).read_text()
    return [doc for doc in load_all(text, loader=KubernetesLoader) if doc is not None]


def cluster_objects() -> dict[tuple[str, str], dict[str, str]]:
    """The ConfigMaps and Secrets Flux's tests create, as ``data`` the API server would hold."""
    found = {}
    for name in ("configmap.yaml", "configmap_empty.yaml", "secret_empty.yaml"):
        for doc in documents(name):
            data = dict(doc.get("data") or {})
            if doc["kind"] == "Secret":  # stringData is merged into data, which is base64
                data = {k: base64.b64decode(v).decode() for k, v in data.items()}
                data.update(doc.get("stringData") or {})
            found[(doc["kind"], doc["metadata"]["name"])] = data
    return found


def kustomization_variables(name: str) -> dict[str, str]:
    """What the controller fetches for a Flux Kustomization of the test data, collected."""
    (kustomization,) = documents(name)
    post_build = kustomization["spec"].get("postBuild") or {}
    fetched = cluster_objects()
    sources = [
        VarSource(
            kind=ref["kind"],
            name=ref["name"],
            optional=ref.get("optional", False),
            data=fetched.get((ref["kind"], ref["name"])),
        )
        for ref in post_build.get("substituteFrom") or []
    ]
    return collect_variables(post_build.get("substitute") or {}, sources)


def one(template: Any, variables: dict[str, str], **options: Any) -> Any:
    """The value of ``data.v`` once a ConfigMap holding ``template`` there is substituted."""
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"v": template},
    }
    (result,) = substitute([obj], variables, **options)
    return result["data"]["v"]


# ---- Flux's own test data ---------------------------------------------------------------------


def test_corpus_is_where_the_tests_expect_it() -> None:
    assert CORPORA.is_dir() and CORPORA.parent.name == "shared"  # beside the checkout
    assert (TESTDATA / "kustomization_varsub_expected.yaml").is_file()


def test_varsub_matches_fluxs_expected_output() -> None:
    rendered = documents("resources/deployment.yaml") + documents("resources/config.yaml")
    variables = kustomization_variables("kustomization_varsub.yaml")
    assert variables == {
        "cluster_env": "prod",
        "cluster_region": "eu-central-1",
        "prometheus_scrape": '"true"',
        "prometheus_port": '"9797"',
        "image": "nginx:1.21.4",
    }
    result = substitute(rendered, variables)
    assert result == documents("kustomization_varsub_expected.yaml")
    # the quotes inside the values made strings of "true" and "9797"
    annotations = result[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "9797"}
    assert result[1] is rendered[1]  # labelled disabled: untouched


def test_varsubstrict_fails_in_strict_mode_and_names_object_and_variable() -> None:
    rendered = documents("varsubstrict/config.yaml")
    variables = kustomization_variables("kustomization_varsub.yaml")
    with pytest.raises(SubstitutionError) as caught:
        substitute(rendered, variables, strict=True)
    assert str(caught.value) == (
        "post build failed for 'ConfigMap.v1.[noGrp]/app-vars-strict' in namespace 'apps': "
        'envsubst error: variable substitution failed: variable not set (strict mode): "missing"'
    )
    assert caught.value.variable == "missing"


def test_varsubstrict_passes_without_strict_mode_with_empty_values() -> None:
    rendered = documents("varsubstrict/config.yaml")
    (result,) = substitute(
        rendered, kustomization_variables("kustomization_varsub.yaml"), strict=False
    )
    assert result["metadata"]["labels"] == {"environment": "prod", "region": "eu-central-1"}
    assert result["data"] == {"missing": None}


def test_strict_is_the_default() -> None:
    with pytest.raises(SubstitutionError, match="strict mode"):
        substitute(documents("varsubstrict/config.yaml"), {"cluster_region": "x"})


def test_varsubstrictempty_empty_values_count_as_set_in_strict_mode() -> None:
    rendered = documents("varsubstrictempty/config.yaml")
    variables = kustomization_variables("kustomization_varsub_empty.yaml")
    assert variables == {"empty_inline": "", "empty_cm": "", "empty_secret": ""}
    (result,) = substitute(rendered, variables, strict=True)
    labels = result["metadata"]["labels"]
    assert labels == {"from-inline": None, "from-configmap": None, "from-secret": None}
    # the same as leaving them out in non-strict mode (a dummy variable makes it run)
    dummy = kustomization_variables("kustomization_varsub_dummy.yaml")
    assert substitute(rendered, dummy, strict=False) == [result]


def test_varsubalways_defaults_apply_only_with_always() -> None:
    rendered = documents("varsubalways/config.yaml")
    variables = kustomization_variables("kustomization_varsub_novars.yaml")
    assert variables == {}
    assert substitute(rendered, variables) == rendered
    assert rendered[0]["metadata"]["labels"]["environment"] == "${cluster_env:=dev}"
    (result,) = substitute(rendered, variables, always=True)
    assert result["metadata"]["labels"]["environment"] == "dev"
    assert result["data"]["region"] == "eu-central-1"


# ---- values go in as YAML ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"true"', "true"),
        ("true", True),
        ("yes", True),  # YAML 1.1, as Kubernetes reads YAML
        ("8080", 8080),
        ("'0755'", "0755"),
        ("[a, b]", ["a", "b"]),
        ("text # comment", "text"),
        ("", None),
    ],
)
def test_values_are_inserted_as_yaml_text(value: str, expected: Any) -> None:
    assert one("${v}", {"v": value}) == expected


def test_expressions_inside_longer_and_multiline_strings() -> None:
    assert one("image: ${v}:1.0", {"v": "nginx"}) == "image: nginx:1.0"
    script = "#!/bin/sh\necho ${v} $$HOME\n"
    assert one(script, {"v": 'it\'s "quoted"'}) == '#!/bin/sh\necho it\'s "quoted" $HOME\n'
    # "- ${v}" cannot be plain YAML, so it is written '- ${v}' (as kustomize does): a quote
    # in the value ends that string early, in Flux as here
    assert one("- ${v}", {"v": "it is"}) == "- it is"
    with pytest.raises(SubstitutionError, match="not a YAML object"):
        one("- ${v}", {"v": "it's"})


def test_keys_are_substituted_too() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"${k}": "v"}}
    assert substitute([obj], {"k": "key"})[0]["data"] == {"key": "v"}


def test_newlines_are_removed_from_values() -> None:
    variables = collect_variables(
        {"a": "one\ntwo\n"}, [VarSource("Secret", "s", data={"b": "x\ny"})]
    )
    assert variables == {"a": "onetwo", "b": "xy"}


def test_a_value_that_breaks_the_yaml_is_reported_without_the_value() -> None:
    secret = "hunter2: leaked"
    with pytest.raises(SubstitutionError) as caught:
        substitute(
            [{"kind": "Secret", "metadata": {"name": "s"}, "data": {"v": "${pw}"}}], {"pw": secret}
        )
    message = str(caught.value)
    assert "'Secret.[noVer].[noGrp]/s'" in message and "pw" in message
    assert "hunter2" not in message and "leaked" not in message


# ---- variables: where they come from, which wins --------------------------------------------


def test_later_sources_win_and_inline_wins_over_all() -> None:
    sources = [
        VarSource("ConfigMap", "first", data={"a": "cm1", "b": "cm1", "c": "cm1"}),
        VarSource("Secret", "second", data={"b": "secret", "c": "secret"}),
    ]
    assert collect_variables({"c": "inline"}, sources) == {"a": "cm1", "b": "secret", "c": "inline"}


def test_a_missing_optional_source_is_skipped_a_required_one_fails() -> None:
    assert collect_variables({}, [VarSource("ConfigMap", "gone", optional=True)]) == {}
    with pytest.raises(SubstitutionError) as caught:
        collect_variables({}, [VarSource("Secret", "gone")])
    assert str(caught.value) == "substitute from 'Secret/gone' error: secrets \"gone\" not found"


def test_sources_of_other_kinds_are_ignored_as_flux_does() -> None:
    assert collect_variables({}, [VarSource("Namespace", "x", data={"a": "b"})]) == {}


def test_an_invalid_variable_name_fails_at_the_first_substituted_object() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
    }
    with pytest.raises(SubstitutionError) as caught:
        substitute([obj], {"good": "1", "my-var": "2"})
    assert str(caught.value) == (
        "post build failed for 'Deployment.v1.apps/d' in namespace 'n': envsubst error: "
        "'my-var' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
    )
    assert caught.value.variable == "my-var"
    with pytest.raises(SubstitutionError):
        substitute([obj], {"trailing_newline\n": "x"})
    disabled = {"kind": "ConfigMap", "metadata": {"annotations": {FLUX_SUBSTITUTE_KEY: "disabled"}}}
    assert substitute([disabled], {"my-var": "2"}) == [disabled]


# ---- the opt-out ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_disabled_objects_are_left_alone(where: str) -> None:
    obj = {"kind": "ConfigMap", "metadata": {where: {FLUX_SUBSTITUTE_KEY: FLUX_SUBSTITUTE_DISABLED}},
           "data": {"v": "${unset} $$"}}  # fmt: skip
    assert substitute([obj], {"x": "1"}, strict=True) == [obj]


def test_only_the_exact_value_disabled_opts_out() -> None:
    obj = {
        "kind": "ConfigMap",
        "metadata": {"labels": {FLUX_SUBSTITUTE_KEY: "Disabled"}},
        "data": {"v": "${x}"},
    }
    assert substitute([obj], {"x": "1"})[0]["data"] == {"v": 1}


def test_objects_without_expressions_come_back_as_they_are() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"n": "007", "y": "y"}}
    assert substitute([obj], {"x": "1"})[0] is obj


# ---- bounds -----------------------------------------------------------------------------------


def test_too_many_variables_or_too_long_a_value() -> None:
    small = SubstitutionLimits(max_variables=2, max_value_bytes=8)
    with pytest.raises(SubstitutionError, match="more than 2 variables"):
        substitute([], {"a": "", "b": "", "c": ""}, limits=small)
    with pytest.raises(SubstitutionError) as caught:
        substitute([], {"long": "x" * 9}, limits=small)
    assert caught.value.variable == "long" and "xxxxxxxxx" not in str(caught.value)


def test_a_substituted_object_is_bounded() -> None:
    limits = SubstitutionLimits(max_object_bytes=1 << 20, max_work_bytes=4 << 20)
    with pytest.raises(SubstitutionError, match="exceeds 1048576 bytes"):
        one("${v}" * 5000, {"v": "a" * 2000}, limits=limits)


def test_total_output_is_bounded() -> None:
    objects = [
        {"kind": "ConfigMap", "metadata": {"name": str(i)}, "data": {"v": "${v}"}}
        for i in range(20)
    ]
    with pytest.raises(SubstitutionError, match="exceed 10000 bytes"):
        substitute(objects, {"v": "x" * 1000}, limits=SubstitutionLimits(max_total_bytes=10_000))


def test_shared_and_huge_objects_are_bounded() -> None:
    layer: Any = ["${v}"]
    for _ in range(40):  # aliases of aliases: 2**40 strings once written out
        layer = [layer, layer]
    with pytest.raises(SubstitutionError, match="cannot be written as YAML"):
        substitute([{"kind": "ConfigMap", "data": layer}], {"v": "x"})
    huge = {"kind": "ConfigMap", "data": {"v": "${v}" + "x" * 2000}}
    with pytest.raises(SubstitutionError, match="larger than 1000 bytes"):
        substitute([huge], {"v": "x"}, limits=SubstitutionLimits(max_object_bytes=1000))


def test_reparse_is_bounded_by_the_safe_loader() -> None:
    with pytest.raises(SubstitutionError, match="not a YAML object"):
        one("${v}", {"v": "[" * 500 + "]" * 500})
