"""Application dependencies (pure): the annotation, the graph, projects, readiness, the document."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.controller import dependencies as deps
from tether.controller.dependencies import (
    DEPENDENCY_PROJECTS_ANNOTATION,
    DEPENDS_ON_ANNOTATION,
    DependencyGraph,
    Waiting,
    check_projects,
    graph_document,
    parse_depends_on,
    readiness,
)
from tether.controller.models import InvalidSpecError

COMMIT = "a" * 40
NEWER = "b" * 40
REPO = "https://git.example.com/platform/gitops.git"


def app(
    name: str,
    depends: str | None = None,
    *,
    project: str = "default",
    sync: str = "Synced",
    health: str = "Healthy",
    revision: str = COMMIT,
    repo: str = REPO,
    target: str = "main",
    chart: str | None = None,
    compared: dict[str, Any] | None = None,
    phase: str | None = None,
    operation: bool = False,
    annotations: dict[str, str] | None = None,
    history: bool = True,
    status: bool = True,
) -> dict[str, Any]:
    """An Application; with ``status`` it was compared at ``revision`` for its current source."""
    notes = dict(annotations or {})
    if depends is not None:
        notes[DEPENDS_ON_ANNOTATION] = depends
    source: dict[str, Any] = {"repoURL": repo, "targetRevision": target, "path": name}
    if chart:
        source = {"repoURL": repo, "targetRevision": target, "chart": chart}
    obj: dict[str, Any] = {
        "metadata": {"name": name, "annotations": notes},
        "spec": {"project": project, "source": source},
    }
    if status:
        obj["status"] = {
            "sync": {
                "status": sync,
                "revision": revision,
                "comparedTo": {"source": compared if compared is not None else dict(source)},
            },
            "health": {"status": health},
            "history": [{"id": 0, "revision": revision}] if history else [],
        }
        if phase:
            obj["status"]["operationState"] = {"phase": phase}
    if operation:
        obj["operation"] = {"sync": {"revision": revision}}
    return obj


def apps_of(*objs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs}


def graph_of(edges: dict[str, str]) -> tuple[DependencyGraph, dict[str, dict[str, Any]]]:
    """Apps named by ``edges`` (name to its annotation); every app exists and is ready."""
    apps = apps_of(*(app(name, depends or None) for name, depends in edges.items()))
    return DependencyGraph.build(apps), apps


def parse(value: Any, name: str = "shop") -> tuple[str, ...]:
    return parse_depends_on({DEPENDS_ON_ANNOTATION: value}, name)


# --------------------------------------------------------------------------- the annotation


def test_depends_on_reads_names_separated_by_commas_and_whitespace_in_order() -> None:
    assert parse("infra-cert-manager, infra-ingress") == ("infra-cert-manager", "infra-ingress")
    assert parse(" b\n\ta ,, c,\n") == ("b", "a", "c")
    assert parse("db.example-1") == ("db.example-1",)


def test_depends_on_keeps_the_first_of_each_name() -> None:
    assert parse("b, a, b, c, a") == ("b", "a", "c")


def test_no_annotation_or_an_empty_one_depends_on_nothing() -> None:
    assert parse_depends_on(None, "shop") == ()
    assert parse_depends_on({}, "shop") == ()
    assert parse(" , \n") == ()


def test_depends_on_names_at_most_fifty_applications() -> None:
    names = [f"app-{i}" for i in range(deps.MAX_DEPENDENCIES)]
    assert len(parse(", ".join(names))) == 50
    # repeats do not count
    assert len(parse(", ".join(names * 3))) == 50
    with pytest.raises(InvalidSpecError, match="at most 50 Applications, found 51"):
        parse(", ".join([*names, "one-more"]))


def test_a_name_of_253_characters_is_accepted_and_a_longer_one_named() -> None:
    longest = ".".join(["a" * 63] * 4)[:253]
    assert len(longest) == 253
    assert parse(longest) == (longest,)
    with pytest.raises(InvalidSpecError, match="longer than 253 characters") as err:
        parse("ok, " + longest + "b")
    assert '"' + longest[:40] in err.value.message


@pytest.mark.parametrize("bad", ["Infra", "-infra", "infra-", "in_fra", "a..b", "ns/app", "é"])
def test_a_name_that_is_not_a_dns_subdomain_is_named_in_the_error(bad: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse(f"fine, {bad}")
    assert err.value.message.startswith(f'{DEPENDS_ON_ANNOTATION}: "{bad}" is not an Application')


def test_an_annotation_that_is_not_a_string_or_too_long_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="must be a string"):
        parse(["infra"])
    with pytest.raises(InvalidSpecError, match="longer than 16384 characters"):
        parse("a " * 9000)


def test_an_application_that_depends_on_itself_is_refused_as_a_cycle() -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse("infra, shop")
    assert err.value.message == (
        f"{DEPENDS_ON_ANNOTATION}: dependency cycle shop -> shop"
        " (an Application cannot depend on itself)"
    )


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.lists(names, max_size=60), st.lists(st.sampled_from([",", " ", ", ", "\n", "\t,"])))
@settings(max_examples=200, deadline=None)
def test_depends_on_reads_back_any_list_it_was_written_from(
    written: list[str], separators: list[str]
) -> None:
    written = [name for name in written if name != "shop"]
    text = "".join(
        name + (separators[index % len(separators)] if separators else ",")
        for index, name in enumerate(written)
    )
    unique = tuple(dict.fromkeys(written))
    if len(unique) > deps.MAX_DEPENDENCIES:
        with pytest.raises(InvalidSpecError, match="at most 50"):
            parse(text)
    else:
        assert parse(text) == unique


# --------------------------------------------------------------------------- the graph


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7])
def test_every_app_on_a_cycle_is_invalid_with_the_cycle_named(length: int) -> None:
    ring = [f"app-{i}" for i in range(length)]
    edges = {name: ring[(i + 1) % length] for i, name in enumerate(ring)}
    edges["outside"] = "app-0"  # depends on the cycle, is not on it
    graph, apps = graph_of(edges)
    text = " -> ".join([*ring, ring[0]])
    assert graph.cycles == (tuple(ring),)
    for name in ring:
        with pytest.raises(InvalidSpecError) as err:
            graph.check(name)
        assert err.value.message.startswith(f"{DEPENDS_ON_ANNOTATION}: dependency cycle {text}")
        assert readiness(name, graph, apps).error == err.value.message
    graph.check("outside")
    assert graph.error_of("outside") == ""


def test_a_cycle_is_reported_from_its_smallest_name() -> None:
    graph, _ = graph_of({"c": "a", "a": "b", "b": "c"})
    assert graph.cycles == (("a", "b", "c"),)
    assert graph.error_of("c") == f"{DEPENDS_ON_ANNOTATION}: dependency cycle a -> b -> c -> a"


def test_an_app_in_a_knot_of_cycles_but_not_on_the_named_one_is_invalid_too() -> None:
    # a <-> b is the shortest cycle through a; c is on a -> b -> c -> a only
    graph, _ = graph_of({"a": "b", "b": "a, c", "c": "a"})
    assert graph.cycles == (("a", "b"),)
    assert graph.error_of("a") == f"{DEPENDS_ON_ANNOTATION}: dependency cycle a -> b -> a"
    assert graph.error_of("c") == (
        f"{DEPENDS_ON_ANNOTATION}: dependency cycle: c depends on, and is depended on by, the"
        " cycle a -> b -> a"
    )


def test_separate_cycles_are_each_reported() -> None:
    graph, _ = graph_of({"x": "y", "y": "x", "b": "a", "a": "b", "solo": "solo", "free": "a"})
    assert graph.cycles == (("a", "b"), ("solo",), ("x", "y"))
    assert set(graph.errors) == {"a", "b", "x", "y", "solo"}
    assert "solo -> solo (an Application cannot depend on itself)" in graph.error_of("solo")


def test_a_diamond_is_no_cycle_and_dependents_are_direct_only() -> None:
    graph, apps = graph_of(
        {"top": "left, right", "left": "bottom", "right": "bottom", "bottom": ""}
    )
    assert graph.errors == {} and graph.cycles == ()
    assert graph.dependencies_of("top") == ("left", "right")
    assert graph.dependents_of("bottom") == frozenset({"left", "right"})
    assert graph.dependents_of("left") == frozenset({"top"})
    assert graph.dependents_of("top") == frozenset()
    assert readiness("top", graph, apps).ready


def test_a_missing_dependency_is_waited_for_not_an_error() -> None:
    graph, apps = graph_of({"shop": "infra-cert-manager, infra-ingress", "infra-cert-manager": ""})
    assert graph.error_of("shop") == ""
    assert graph.missing_of("shop") == ("infra-ingress",)
    assert graph.missing_reason("shop") == "waits for infra-ingress, which does not exist"
    assert graph.missing_reason("infra-cert-manager") == ""
    # when infra-ingress is created, shop is looked at again
    assert graph.dependents_of("infra-ingress") == frozenset({"shop"})
    verdict = readiness("shop", graph, apps)
    assert not verdict.ready and verdict.error == ""
    assert verdict.waiting == (Waiting("infra-ingress", ("does not exist",)),)
    assert verdict.reason == "waits for infra-ingress (does not exist)"


def test_several_missing_dependencies_are_named_together() -> None:
    graph, _ = graph_of({"shop": "x, y"})
    assert graph.missing_reason("shop") == "waits for x, y, which do not exist"


def test_an_unreadable_annotation_makes_that_app_invalid_and_no_other() -> None:
    graph, apps = graph_of({"shop": "Infra", "infra": "", "web": "shop"})
    assert graph.error_of("shop").startswith(f'{DEPENDS_ON_ANNOTATION}: "Infra" is not')
    assert graph.dependencies_of("shop") == ()
    assert graph.error_of("web") == ""
    assert readiness("web", graph, apps).ready


def test_an_app_that_is_not_known_has_no_dependencies() -> None:
    graph, apps = graph_of({"shop": ""})
    assert readiness("ghost", graph, apps) == deps.Readiness(True, (), "no dependencies")


def test_ten_thousand_apps_build_in_one_pass() -> None:
    count = 10_000
    # each app depends on the next and on up to two further ones: no cycle, ~30,000 edges
    later = {
        i: sorted(j for j in {i + 1, i + 2 + i % 13, i + 3 + i % 97} if j < count)
        for i in range(count)
    }
    apps = apps_of(
        *(app(f"app-{i}", ", ".join(f"app-{j}" for j in later[i]) or None) for i in range(count))
    )
    started = time.perf_counter()
    graph = DependencyGraph.build(apps)
    built = time.perf_counter() - started
    # one ring through all of them: no recursion limit, a shortened message
    ring = apps_of(*(app(f"r-{i:05}", f"r-{(i + 1) % count:05}") for i in range(count)))
    started = time.perf_counter()
    ring_graph = DependencyGraph.build(ring)
    ring_built = time.perf_counter() - started
    print(f"10,000 apps: acyclic {built * 1000:.0f} ms, one ring {ring_built * 1000:.0f} ms")
    assert len(graph.names) == count and graph.errors == {} and graph.cycles == ()
    assert sum(len(graph.dependencies_of(n)) for n in apps) == sum(len(v) for v in later.values())
    assert graph.dependents_of("app-1") == frozenset({"app-0"})
    assert len(ring_graph.errors) == count and len(ring_graph.cycles[0]) == count
    message = ring_graph.error_of("r-00042")
    assert "cycle r-00000 -> r-00001" in message and "(9990 more)" in message
    assert message.endswith("r-09999 -> r-00000") and len(message) < 400


@st.composite
def small_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    count = draw(st.integers(1, 9))
    nodes = [f"n{i}" for i in range(count)]
    targets = st.sampled_from([*nodes, "gone"])
    return {n: draw(st.lists(targets, max_size=3, unique=True)) for n in nodes}


def _reachable(edges: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, []))
    while todo:
        node = todo.pop()
        if node not in seen and node in edges:
            seen.add(node)
            todo.extend(edges[node])
    return seen


@given(small_graphs())
@settings(max_examples=300, deadline=None)
def test_exactly_the_apps_on_cycles_are_invalid_and_each_reported_cycle_is_real(
    edges: dict[str, list[str]],
) -> None:
    apps = apps_of(*(app(n, ", ".join(d)) for n, d in edges.items()))
    graph = DependencyGraph.build(apps)
    on_cycles = {n for n in edges if n in _reachable(edges, n)}
    assert set(graph.errors) == on_cycles
    for cycle in graph.cycles:
        assert cycle[0] == min(cycle) and len(set(cycle)) == len(cycle)
        for here, there in zip(cycle, (*cycle[1:], cycle[0]), strict=True):
            assert there in edges[here]
    assert {n for c in graph.cycles for n in c} <= on_cycles
    for node, named in edges.items():
        for dependency in named:
            assert node in graph.dependents_of(dependency)
        assert graph.missing_of(node) == tuple(d for d in named if d == "gone")


# --------------------------------------------------------------------------- projects


PROJECTS = {
    "shop": {
        "metadata": {
            "name": "shop",
            "annotations": {DEPENDENCY_PROJECTS_ANNOTATION: "infra-*, platform"},
        }
    },
    "infra-eu": {"metadata": {"name": "infra-eu"}},
    "team": {"metadata": {"name": "team"}},
}


def test_a_dependency_in_the_same_project_is_allowed() -> None:
    check_projects(app("web", project="team"), [app("db", project="team")], PROJECTS)
    check_projects(app("web"), [app("db")], {})  # both "default"


def test_a_dependency_in_a_project_the_annotation_lists_is_allowed() -> None:
    dependencies = [app("certs", project="infra-eu"), app("ingress", project="platform")]
    check_projects(app("web", project="shop"), dependencies, PROJECTS)


def test_a_dependency_in_another_project_is_refused_naming_both_projects() -> None:
    with pytest.raises(InvalidSpecError) as err:
        check_projects(app("web", project="team"), [app("certs", project="infra-eu")], PROJECTS)
    assert err.value.message == (
        f"{DEPENDS_ON_ANNOTATION}: depends on certs of project infra-eu, which project team does"
        f" not allow (list the project in the {DEPENDENCY_PROJECTS_ANNOTATION} annotation of"
        " AppProject team)"
    )


def test_only_the_dependents_project_grants_not_the_dependencys() -> None:
    # shop lists infra-*, but that lets shop's apps depend on infra's, not the other way round
    with pytest.raises(InvalidSpecError, match="depends on web of project shop"):
        check_projects(app("certs", project="infra-eu"), [app("web", project="shop")], PROJECTS)


def test_a_project_not_found_allows_only_its_own_apps() -> None:
    check_projects(app("web", project="gone"), [app("db", project="gone")], PROJECTS)
    with pytest.raises(InvalidSpecError, match="which project gone does not allow"):
        check_projects(app("web", project="gone"), [app("db")], PROJECTS)


def test_readiness_with_projects_refuses_a_dependency_of_a_project_not_allowed() -> None:
    apps = apps_of(app("web", "certs, missing", project="team"), app("certs", project="infra-eu"))
    graph = DependencyGraph.build(apps)
    assert readiness("web", graph, apps).waiting == (Waiting("missing", ("does not exist",)),)
    verdict = readiness("web", graph, apps, PROJECTS)
    assert not verdict.ready and verdict.waiting == ()
    assert (
        verdict.reason == verdict.error and "depends on certs of project infra-eu" in verdict.error
    )


# --------------------------------------------------------------------------- readiness


def verdict_for(
    dependency: dict[str, Any], dependent: dict[str, Any] | None = None
) -> deps.Readiness:
    shop = dependent or app("shop", "infra")
    apps = apps_of(shop, dependency)
    return readiness("shop", DependencyGraph.build(apps), apps)


def test_an_app_without_dependencies_is_ready() -> None:
    apps = apps_of(app("shop"))
    assert readiness("shop", DependencyGraph.build(apps), apps) == deps.Readiness(
        True, (), "no dependencies"
    )


def test_an_app_whose_dependencies_are_synced_and_healthy_is_ready() -> None:
    apps = apps_of(app("shop", "a, b"), app("a"), app("b"))
    verdict = readiness("shop", DependencyGraph.build(apps), apps)
    assert verdict == deps.Readiness(True, (), "dependencies ready: a, b")


def test_the_reason_names_each_dependency_waited_for_in_the_order_written() -> None:
    apps = apps_of(
        app("shop", "infra-ingress, infra-cert-manager, infra-dns"),
        app("infra-ingress", sync="OutOfSync"),
        app("infra-cert-manager", health="Progressing"),
        app("infra-dns"),
    )
    verdict = readiness("shop", DependencyGraph.build(apps), apps)
    assert not verdict.ready
    assert verdict.reason == "waits for infra-ingress (OutOfSync), infra-cert-manager (Progressing)"
    assert [w.dependency for w in verdict.waiting] == ["infra-ingress", "infra-cert-manager"]


@pytest.mark.parametrize(
    ("dependency", "reasons"),
    [
        (app("infra", sync="OutOfSync"), ("OutOfSync",)),
        (app("infra", sync="Unknown"), ("Unknown",)),
        (app("infra", health="Progressing"), ("Progressing",)),
        (app("infra", health="Degraded"), ("Degraded",)),
        (app("infra", health="Missing"), ("Missing",)),
        (app("infra", health="Suspended"), ("Suspended",)),
        (app("infra", sync="OutOfSync", health="Degraded"), ("OutOfSync", "Degraded")),
        (app("infra", phase="Running"), ("sync running",)),
        (app("infra", phase="Terminating"), ("sync running",)),
        (app("infra", operation=True), ("sync requested",)),
        (app("infra", phase="Running", operation=True), ("sync running",)),
        (
            app("infra", annotations={"argocd.argoproj.io/refresh": "normal"}),
            ("refresh requested",),
        ),
        (app("infra", status=False), ("never synced",)),
        (app("infra", revision="", history=False, sync="Unknown"), ("never synced",)),
    ],
)
def test_a_dependency_is_waited_for_with_every_reason_it_is_not_ready(
    dependency: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    verdict = verdict_for(dependency)
    assert not verdict.ready
    assert verdict.waiting == (Waiting("infra", reasons),)
    assert verdict.reason == f"waits for infra ({', '.join(reasons)})"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Error", "Terminated"])
def test_a_finished_operation_does_not_hold_a_synced_healthy_dependency(phase: str) -> None:
    assert verdict_for(app("infra", phase=phase)).ready


def test_a_dependency_being_deleted_is_waited_for() -> None:
    infra = app("infra")
    infra["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert verdict_for(infra).waiting == (Waiting("infra", ("being deleted",)),)


def test_a_dependency_compared_for_a_source_its_spec_no_longer_names_is_waited_for() -> None:
    stale = app("infra", compared={"repoURL": REPO, "targetRevision": "v1", "path": "infra"})
    assert verdict_for(stale).waiting == (Waiting("infra", (deps.SOURCE_CHANGED,)),)
    moved = app("infra", compared={"repoURL": REPO, "targetRevision": "main", "path": "old"})
    assert not verdict_for(moved).ready


def test_a_comparison_of_head_counts_for_a_spec_that_leaves_the_revision_unset() -> None:
    infra = app(
        "infra", target="", compared={"repoURL": REPO, "targetRevision": "HEAD", "path": "infra"}
    )
    assert deps.compared_for_spec(infra)
    no_record = app("infra")
    del no_record["status"]["sync"]["comparedTo"]
    assert deps.compared_for_spec(no_record)


def test_on_the_same_branch_a_dependency_must_have_seen_the_dependents_commit() -> None:
    shop = app("shop", "infra", revision=NEWER)
    verdict = verdict_for(app("infra", revision=COMMIT), shop)
    assert verdict.waiting == (Waiting("infra", ("compared at aaaaaaa, shop at bbbbbbb",)),)
    assert verdict_for(app("infra", revision=NEWER), shop).ready
    # ahead is no better: which commit is newer is not in the status (shop compares again soon)
    behind = verdict_for(app("infra", revision=NEWER), app("shop", "infra", revision=COMMIT))
    assert behind.reason == "waits for infra (compared at bbbbbbb, shop at aaaaaaa)"
    # the same repository written another way is the same branch
    other_spelling = app("infra", repo="https://GIT.example.com/platform/gitops", revision=COMMIT)
    assert not verdict_for(other_spelling, shop).ready


@pytest.mark.parametrize(
    "dependency",
    [
        app("infra", target="release-1", revision=COMMIT),
        app("infra", repo="https://git.example.com/platform/infra.git", revision=COMMIT),
        app("infra", repo="https://charts.example.com", chart="infra", revision="1.2.3"),
    ],
)
def test_another_branch_repository_or_a_chart_is_not_held_to_the_dependents_commit(
    dependency: dict[str, Any],
) -> None:
    assert verdict_for(dependency, app("shop", "infra", revision=NEWER)).ready


def test_a_dependent_never_compared_holds_no_dependency_to_a_commit() -> None:
    assert verdict_for(app("infra"), app("shop", "infra", status=False)).ready


def test_a_dependency_on_a_cycle_is_waited_for_by_its_state_only() -> None:
    apps = apps_of(app("shop", "a"), app("a", "b"), app("b", "a", sync="OutOfSync"))
    graph = DependencyGraph.build(apps)
    assert readiness("shop", graph, apps).ready  # a itself is Synced and Healthy
    apps = apps_of(app("shop", "b"), app("a", "b"), app("b", "a", sync="OutOfSync"))
    assert readiness("shop", DependencyGraph.build(apps), apps).reason == "waits for b (OutOfSync)"


def test_a_long_reason_is_shortened() -> None:
    many = [f"d{i}" for i in range(15)]
    apps = apps_of(app("shop", ", ".join(many)))
    verdict = readiness("shop", DependencyGraph.build(apps), apps)
    assert len(verdict.waiting) == 15
    assert verdict.reason.endswith("d9 (does not exist) and 5 more")


statuses = st.fixed_dictionaries(
    {
        "sync": st.sampled_from(["Synced", "OutOfSync", "Unknown"]),
        "health": st.sampled_from(["Healthy", "Progressing", "Degraded", "Missing"]),
        "phase": st.sampled_from([None, "Running", "Succeeded", "Failed", "Terminating"]),
        "operation": st.booleans(),
        "revision": st.sampled_from([COMMIT, NEWER]),
        "target": st.sampled_from(["main", "v2"]),
        "exists": st.booleans(),
    }
)


@given(st.lists(statuses, min_size=1, max_size=5), st.sampled_from([COMMIT, NEWER]))
@settings(max_examples=300, deadline=None)
def test_an_app_is_ready_exactly_when_every_dependency_is_synced_healthy_idle_and_current(
    states: list[dict[str, Any]], own_revision: str
) -> None:
    names = [f"d{i}" for i in range(len(states))]
    dependencies = [
        app(n, **{k: v for k, v in s.items() if k != "exists"})
        for n, s in zip(names, states, strict=True)
        if s["exists"]
    ]
    apps = apps_of(app("shop", ", ".join(names), revision=own_revision), *dependencies)
    expected = all(
        s["exists"]
        and s["sync"] == "Synced"
        and s["health"] == "Healthy"
        and s["phase"] not in ("Running", "Terminating")
        and not s["operation"]
        and (s["target"] != "main" or s["revision"] == own_revision)
        for s in states
    )
    verdict = readiness("shop", DependencyGraph.build(apps), apps)
    assert verdict.ready == expected
    assert verdict.ready == (verdict.waiting == ())
    assert all(w.reasons for w in verdict.waiting)


# --------------------------------------------------------------------------- the document


def test_the_document_lists_nodes_edges_and_cycles() -> None:
    apps = apps_of(
        app("shop", "infra, gone", project="team"),
        app("infra", health="Progressing"),
        app("a", "b"),
        app("b", "a"),
        app("alone"),
    )
    doc = graph_document(DependencyGraph.build(apps), apps)
    assert [n["name"] for n in doc["nodes"]] == ["a", "b", "gone", "infra", "shop"]
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["gone"] == {"name": "gone", "exists": False}
    assert nodes["shop"] == {
        "name": "shop",
        "exists": True,
        "project": "team",
        "sync": "Synced",
        "health": "Healthy",
        "revision": COMMIT,
        "ready": False,
        "reason": "waits for infra (Progressing), gone (does not exist)",
        "error": None,
        "dependsOn": ["infra", "gone"],
    }
    assert nodes["infra"]["ready"] and nodes["infra"]["reason"] == "no dependencies"
    assert nodes["a"]["error"] == f"{DEPENDS_ON_ANNOTATION}: dependency cycle a -> b -> a"
    assert doc["edges"] == [
        {"from": "a", "to": "b", "missing": False},
        {"from": "b", "to": "a", "missing": False},
        {"from": "shop", "to": "infra", "missing": False},
        {"from": "shop", "to": "gone", "missing": True},
    ]
    assert doc["cycles"] == [["a", "b"]]


def test_the_document_of_one_app_shows_its_neighbours_only() -> None:
    apps = apps_of(app("web", "shop"), app("shop", "infra"), app("infra", "base"), app("base"))
    doc = graph_document(DependencyGraph.build(apps), apps, ["shop"])
    assert [n["name"] for n in doc["nodes"]] == ["infra", "shop", "web"]
    assert [(e["from"], e["to"]) for e in doc["edges"]] == [("shop", "infra"), ("web", "shop")]
    assert doc["cycles"] == []


def test_the_document_with_projects_shows_a_refused_dependency_as_an_error() -> None:
    apps = apps_of(app("web", "certs", project="team"), app("certs", project="infra-eu"))
    doc = graph_document(DependencyGraph.build(apps), apps, projects=PROJECTS)
    web = next(n for n in doc["nodes"] if n["name"] == "web")
    assert not web["ready"] and "which project team does not allow" in web["error"]
