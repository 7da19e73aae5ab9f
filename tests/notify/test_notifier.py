"""The notifier from an Application's change to a delivered message: subscriptions read from
annotations, a trigger fired once per revision, its template rendered, delivered to a real
loopback webhook receiver, the sent key recorded on the app (and dropped when delivery fails for
good), problems named once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.notify.test_delivery import Receiver, receiver  # noqa: F401 (fixture)
from tether.notify.delivery import Delivery, DeliverySettings
from tether.notify.firing import STATE_ANNOTATION
from tether.notify.notifier import (
    Notifier,
    NotifierParts,
    expression_evaluator,
    template_renderer,
)

pytestmark = pytest.mark.asyncio

SUCCEEDED = "app.status.operationState.phase in ['Succeeded']"


def configmap(url: str) -> dict[str, Any]:
    return {
        "metadata": {"resourceVersion": "1"},
        "data": {
            "context": "argocdUrl: https://cd.example\n",
            "service.webhook.hook": f"url: {url}\n",
            "template.synced": (
                "message: synced\nwebhook:\n  hook:\n    method: POST\n    path: /apps\n"
                "    body: '{{.app.metadata.name}} at {{.context.argocdUrl}}'\n"
            ),
            "trigger.on-sync-succeeded": (
                f'- when: "{SUCCEEDED}"\n  send: [synced]\n  oncePer: app.status.sync.revision\n'
            ),
        },
    }


def app(revision: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    notes = {"notifications.argoproj.io/subscribe.on-sync-succeeded.hook": ""}
    notes.update(annotations or {})
    return {
        "metadata": {"name": "shop", "annotations": notes},
        "status": {"operationState": {"phase": "Succeeded"}, "sync": {"revision": revision}},
    }


class Store:
    """The app's annotation as the notifier writes it."""

    def __init__(self) -> None:
        self.value = ""

    async def record(self, name: str, value: str) -> None:
        self.value = value

    def current(self, name: str) -> dict[str, Any]:
        return app("a1", {STATE_ANNOTATION: self.value})


async def test_a_sync_sends_once_per_revision_and_records_it(receiver: Receiver) -> None:  # noqa: F811
    store, delivery = Store(), Delivery(DeliverySettings(workers=1))
    parts = NotifierParts(
        lambda: configmap(receiver.url), lambda: None, lambda a: None,
        store.record, store.current, expression_evaluator(), template_renderer(),
    )  # fmt: skip
    notifier = Notifier(parts, delivery)
    delivery.start()
    try:
        await notifier.on_application(app("a1"))
        await delivery.idle()
        assert [(r["method"], r["path"], r["body"]) for r in receiver.requests] == [
            ("POST", "/apps", "shop at https://cd.example")
        ]
        assert len(json.loads(store.value)) == 1
        # the same revision again (a restart reads the annotation): nothing more
        await notifier.on_application(app("a1", {STATE_ANNOTATION: store.value}))
        await delivery.idle()
        assert len(receiver.requests) == 1
        # a failure for good drops the key: the next change tries again
        receiver.answers = [(400, {}, b"no")]
        await notifier.on_application(app("b2", {STATE_ANNOTATION: store.value}))
        await delivery.idle()
        assert len(receiver.requests) == 2 and len(json.loads(store.value)) == 1
    finally:
        await delivery.stop()
        await notifier.aclose()


async def test_unknown_names_are_told_once_and_nothing_is_sent(
    receiver: Receiver,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, delivery = Store(), Delivery()
    parts = NotifierParts(
        lambda: configmap(receiver.url), lambda: None, lambda a: None,
        store.record, store.current, expression_evaluator(), template_renderer(),
    )  # fmt: skip
    notifier = Notifier(parts, delivery)
    odd = app("a1", {"notifications.argoproj.io/subscribe.on-nothing.hook": ""})
    odd["metadata"]["annotations"].pop("notifications.argoproj.io/subscribe.on-sync-succeeded.hook")
    for _ in range(3):
        await notifier.on_application(odd)
    told = [r.message for r in caplog.records if "on-nothing" in r.message]
    assert told == [
        "notifications of shop: trigger 'on-nothing' is not defined in the notifications ConfigMap"
    ]
    assert receiver.requests == [] and store.value == ""
    await notifier.aclose()


async def test_an_app_without_status_yet_is_no_error(
    receiver: Receiver,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new Application has no status until its first comparison; Argo CD's typed one always
    has one, so the catalog's ``app.status.operationState != nil`` is false there, not an error
    told for every new app."""
    store, delivery = Store(), Delivery()
    catalog = configmap(receiver.url)
    catalog["data"]["trigger.on-sync-succeeded"] = (
        "- when: app.status.operationState != nil and "
        "app.status.operationState.phase in ['Succeeded']\n  send: [synced]\n"
    )
    parts = NotifierParts(
        lambda: catalog, lambda: None, lambda a: None,
        store.record, store.current, expression_evaluator(), template_renderer(),
    )  # fmt: skip
    notifier = Notifier(parts, delivery)
    new = app("a1")
    del new["status"]
    await notifier.on_application(new)
    assert [r.message for r in caplog.records if "shop" in r.message] == []
    assert receiver.requests == [] and store.value == ""
    await notifier.aclose()
