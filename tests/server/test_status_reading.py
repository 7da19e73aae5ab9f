"""One reading of an Application's status: the API's list filters, the metrics and the CLI agree
on its sync and health words, whatever its ``status`` holds (written by another tool, edited
by hand, not written yet)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from tether.cli.app_view import app_row, health_status, sync_status
from tether.controller.status import read_status
from tether.server.applications import AppFilter
from tether.server.metrics import APP_INFO_LABELS, _app_info_labels

WORDS = st.sampled_from(["Synced", "OutOfSync", "Unknown", "Healthy", "Degraded", ""])
ODD = st.none() | st.integers() | st.booleans() | st.lists(st.integers(), max_size=2)
VALUE = WORDS | ODD
PART = VALUE | st.fixed_dictionaries({}, optional={"status": VALUE, "message": VALUE})
STATUS = ODD | st.fixed_dictionaries({}, optional={"sync": PART, "health": PART})


def _app(status: Any, with_status: bool) -> dict[str, Any]:
    app: dict[str, Any] = {"metadata": {"name": "shop"}, "spec": {"project": "default"}}
    if with_status:
        app["status"] = status
    return app


def _label(app: dict[str, Any], label: str) -> str:
    return _app_info_labels("argocd", app, read_status(app))[APP_INFO_LABELS.index(label)]


@settings(max_examples=400, deadline=None, database=None)
@given(status=STATUS, with_status=st.booleans())
def test_the_filters_metrics_and_cli_read_the_same_sync_and_health(
    status: Any, with_status: bool
) -> None:
    app = _app(status, with_status)
    sync, health = sync_status(app), health_status(app)
    assert sync and health, "a word is always shown, Unknown when the status says nothing"
    assert app_row(app)[4:6] == [sync, health]
    assert (_label(app, "sync_status"), _label(app, "health_status")) == (sync, health)
    query = QueryParams([("sync", sync), ("health", health)])
    assert AppFilter.from_query(query).matches("shop", app)
    others = QueryParams([("sync", sync + "-not")])
    assert not AppFilter.from_query(others).matches("shop", app)


def test_an_application_not_compared_yet_is_listed_as_unknown() -> None:
    app = _app(None, with_status=False)
    unknown = AppFilter.from_query(QueryParams([("sync", "Unknown"), ("health", "Unknown")]))
    assert unknown.matches("shop", app)
    assert not AppFilter.from_query(QueryParams([("sync", "Synced")])).matches("shop", app)
