"""Which Alerts an event goes to, and the event each of them sends (pure).

As Flux's notification-controller: an event source matches on kind, namespace (the Alert's when
unset) and name (``*`` for any), and ``matchLabels`` on the object's labels; an Alert with
``eventSeverity: error`` takes only errors; the message must match one ``inclusionList``
expression when there are any, and none of ``exclusionList`` (exclusion wins). The Alert's
``eventMetadata`` (and its deprecated ``summary``) are added to the event's metadata without
overriding a key the event already has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from tether.notify.expr.errors import ExprError
from tether.notify.expr.re2 import Regex
from tether.notify.flux.models import Alert, EventSource, FluxEvent

log = logging.getLogger(__name__)


def _source_matches(source: EventSource, event: FluxEvent) -> bool:
    obj = event.involved
    if (source.kind, source.namespace) != (obj.kind, obj.namespace):
        return False
    if source.name not in ("*", obj.name):
        return False
    return all(event.labels.get(k) == v for k, v in source.match_labels.items())


def _any_match(patterns: Iterable[Regex], text: str) -> bool:
    for pattern in patterns:
        try:
            if pattern.search(text, 0):
                return True
        except ExprError as exc:  # a message too long or a pattern too costly: no match
            log.info("alert pattern %r not applied: %s", pattern.pattern, exc.message)
    return False


def matches(alert: Alert, event: FluxEvent) -> bool:
    """Whether ``alert`` forwards ``event``."""
    if alert.suspended:
        return False
    if alert.severity == "error" and event.severity != "error":
        return False
    if not any(_source_matches(source, event) for source in alert.sources):
        return False
    if alert.inclusions and not _any_match(alert.inclusions, event.message):
        return False
    return not _any_match(alert.exclusions, event.message)


def for_alert(alert: Alert, event: FluxEvent) -> FluxEvent:
    """``event`` with the Alert's metadata added (the event's own keys are kept)."""
    extra = dict(alert.metadata)
    if alert.summary:
        extra.setdefault("summary", alert.summary)
    if not extra:
        return event
    return replace(event, metadata={**extra, **event.metadata})


def route(alerts: Iterable[Alert], event: FluxEvent) -> list[tuple[Alert, FluxEvent]]:
    """Every Alert forwarding ``event``, with the event it sends."""
    return [(alert, for_alert(alert, event)) for alert in alerts if matches(alert, event)]
