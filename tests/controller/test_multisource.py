"""Multi-source helpers (pure): revisions joined and split, what the status records, the ref
rules, and how objects of several sources combine."""

from __future__ import annotations

from typing import Any

import pytest

from tether.controller import models, multisource


def app(sources: list[dict[str, Any]] | None = None) -> models.Application:
    spec: dict[str, Any] = {"destination": {"server": "https://kubernetes.default.svc"}}
    if sources is None:
        spec["source"] = {"repoURL": "https://git.example/a.git", "path": "p"}
    else:
        spec["sources"] = sources
    return models.parse_application({"metadata": {"name": "shop"}, "spec": spec})


TWO = [
    {"repoURL": "https://charts.example", "chart": "web", "targetRevision": "1.x"},
    {"repoURL": "https://git.example/values.git", "ref": "values"},
]


def test_revisions_round_trip_and_missing_ones_are_empty() -> None:
    joined = multisource.join_revisions(["1.2.0", "a" * 40])
    assert multisource.split_revisions(joined, 2) == ("1.2.0", "a" * 40)
    assert multisource.split_revisions("1.2.0", 3) == ("1.2.0", "", "")
    assert multisource.split_revisions("", 2) == ("", "")


def test_the_status_records_revisions_and_sources_for_several() -> None:
    several = app(TWO)
    sync = {"status": "Synced", "revision": "1.2.0|abc", "comparedTo": {"source": {}, "x": 1}}
    recorded = multisource.as_recorded(several, sync, "1.2.0|abc")
    assert recorded["revisions"] == ["1.2.0", "abc"] and recorded["revision"] == ""
    assert recorded["comparedTo"] == {"x": 1, "sources": [s for s in TWO]}
    assert multisource.read_revision(recorded) == "1.2.0|abc"
    entry = multisource.as_recorded(several, {"revision": "r", "source": {}, "id": 3}, "1|2")
    assert entry == {"id": 3, "revisions": ["1", "2"], "sources": TWO}
    one = app()
    assert multisource.as_recorded(one, {"revision": "abc", "source": {}}, "abc") == {
        "revision": "abc",
        "source": {},
    }


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ([{"repoURL": "u", "ref": "a b"}], "'a b' is not a valid reference name"),
        ([{"repoURL": "u", "ref": "v"}, {"repoURL": "w", "ref": "v"}], "'v' names two sources"),
        ([{"repoURL": "u", "ref": "v", "chart": "c"}], "a source with a ref cannot be a chart"),
    ],
)
def test_ref_rules_name_the_source(sources: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(models.InvalidSpecError, match=message):
        multisource.check_sources(app(sources).spec.sources)


def test_a_ref_source_renders_only_with_a_path() -> None:
    ref_only, with_path = app(
        [{"repoURL": "u", "ref": "v"}, {"repoURL": "u", "ref": "w", "path": "p"}]
    ).spec.sources
    assert not multisource.renders(ref_only) and multisource.renders(with_path)


def test_the_later_source_wins_in_the_place_of_the_first() -> None:
    def cm(name: str, value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"v": value},
        }

    combined = multisource.last_wins([cm("a", "1"), cm("b", "1"), cm("a", "2")])
    assert [(o["metadata"]["name"], o["data"]["v"]) for o in combined] == [("a", "2"), ("b", "1")]


def test_operations_and_targets_name_every_source() -> None:
    several = app(TWO)
    assert multisource.sync_operation_revision(several, "1|2") == {"revisions": ("1", "2")}
    assert multisource.sync_operation_revision(app(), "abc") == {"revision": "abc"}
    assert multisource.operation_revision(models.SyncOperation(revisions=("1", "2"))) == "1|2"
    assert multisource.operation_revision(models.SyncOperation()) is None
    assert multisource.target_text(several) == "1.x, HEAD"
    assert multisource.repo_urls({"spec": {"sources": TWO}}) == [s["repoURL"] for s in TWO]
    assert multisource.app_of(multisource.source_key("shop", 1)) == "shop"
