"""Property tests: any Application or AppProject document, however malformed, parses or is refused
with InvalidSpecError naming the field, and the checks built on them never crash.

Generated documents start from real manifests (the issue's Application, a restrictive project)
and replace, delete or retype values at random paths, so most inputs are nearly valid, which is
where parsers break; a share are arbitrary JSON.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.controller.test_crds import PAYMENT_SERVICE
from tether.controller import admission
from tether.controller.models import InvalidSpecError, parse_application, parse_operation
from tether.controller.project import ProjectViolation, parse_project

BASE_APP: dict[str, Any] = yaml.safe_load(PAYMENT_SERVICE)
BASE_APP["spec"]["ignoreDifferences"] = [
    {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
    {"kind": "ConfigMap", "jqPathExpressions": [".data.x"]},
]
BASE_APP["operation"] = {
    "sync": {"revision": "HEAD", "prune": True, "resources": [{"kind": "ConfigMap", "name": "a"}]},
    "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
}
BASE_PROJECT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AppProject",
    "metadata": {"name": "team", "annotations": {"tether.io/child-projects": "team-*"}},
    "spec": {
        "sourceRepos": ["https://git.example.com/team/*", "!https://git.example.com/team/x"],
        "destinations": [{"server": "*", "namespace": "team-*"}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
        "syncWindows": [{"kind": "deny", "schedule": "0 22 * * *", "duration": "1h"}],
    },
}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["*", "!", "**", "[", "{a,", "\\", "-1s", "1h30m", "HEAD", "true", ""]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # sometimes not even an object
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        candidates = paths(doc)
        path = draw(st.sampled_from(candidates))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return doc


FUZZ = settings(
    max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@FUZZ
@given(mutated(BASE_APP))
def test_any_application_parses_or_is_an_invalid_spec(doc: Any) -> None:
    try:
        app = parse_application(doc)
    except InvalidSpecError as exc:
        assert exc.message and "Traceback" not in exc.message
        return
    assert app.name
    if isinstance(doc, dict) and isinstance(doc.get("operation"), dict):
        try:
            parse_operation(doc["operation"])
        except InvalidSpecError:
            pass


@FUZZ
@given(mutated(BASE_PROJECT), mutated(BASE_APP))
def test_any_project_parses_and_its_checks_never_crash(doc: Any, obj: Any) -> None:
    try:
        project = parse_project(doc)
    except InvalidSpecError as exc:
        assert exc.message
        return
    scope = admission.WriteScope.of(
        doc, project, "https://kubernetes.default.svc", "in-cluster", "argocd"
    )
    if not isinstance(obj, dict):
        return
    # a rendered object of any shape is checked or refused, never a crash
    for check in (
        lambda: admission.check_object(scope, obj),
        lambda: project.check_source(str(obj.get("kind"))),
        lambda: admission.check_secret_use(obj, "s", project.name, "decryption"),
    ):
        try:
            check()
        except ProjectViolation as exc:
            assert exc.message
