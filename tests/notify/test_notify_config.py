"""Argo CD's notification settings read as Argo CD's docs write them: triggers, templates,
services with secret references, default triggers, context, subscriptions by annotation on the
Application and its AppProject, and global ones selected by labels."""

from __future__ import annotations

import base64
from typing import Any

from tether.notify.config import (
    CONFIGMAP,
    Subscription,
    parse_config,
    secret_values,
    subscriptions_of,
)

CM: dict[str, Any] = {
    "metadata": {"name": CONFIGMAP},
    "data": {
        "context": "argocdUrl: https://cd.example.com\n",
        "service.slack": "token: $slack-token\nsigningSecret: ${signing}\n",
        "service.webhook.github": (
            "url: https://api.github.com\nheaders:\n- name: Authorization\n"
            "  value: token $github-token\n"
        ),
        "service.email.gmail": "host: smtp.gmail.com\nport: 465\nfrom: $email-from\n",
        "template.app-sync-succeeded": (
            "message: Application {{.app.metadata.name}} has been successfully synced.\n"
            "slack:\n  groupingKey: '{{.app.metadata.name}}'\n"
            "email:\n  subject: Synced {{.app.metadata.name}}\n"
        ),
        "trigger.on-sync-succeeded": (
            "- description: Application syncing has succeeded\n"
            "  send: [app-sync-succeeded]\n"
            "  when: app.status.operationState.phase in ['Succeeded']\n"
            "  oncePer: app.status.sync.revision\n"
        ),
        "trigger.on-broken": "- when: true\n",
        "defaultTriggers": "- on-sync-succeeded\n",
        "defaultTriggers.gmail": "- on-health-degraded\n",
        "subscriptions": (
            "- recipients: [slack:ops, 'github:']\n  selector: team=payments\n"
            "  triggers: [on-sync-succeeded]\n"
            "- recipients: [gmail:oncall@example.com]\n"
        ),
        "unrelated": "kept out",
    },
}
SECRET = {
    "data": {"slack-token": base64.b64encode(b"xoxb-secret").decode()},
    "stringData": {"github-token": "ghp-secret", "signing": "sign-secret"},
}


def test_every_kind_of_entry_is_read_and_secrets_filled_in() -> None:
    config = parse_config(CM, SECRET)
    assert set(config.triggers) == {"on-sync-succeeded"}
    (condition,) = config.triggers["on-sync-succeeded"].conditions
    assert condition.send == ("app-sync-succeeded",)
    assert condition.once_per == "app.status.sync.revision"
    template = config.templates["app-sync-succeeded"]
    assert template.message.startswith("Application {{.app.metadata.name}}")
    assert template.parts["slack"] == {"groupingKey": "{{.app.metadata.name}}"}
    slack, github, gmail = (config.services[n] for n in ("slack", "github", "gmail"))
    assert (slack.type, github.type, gmail.type) == ("slack", "webhook", "email")
    assert slack.options == {"token": "xoxb-secret", "signingSecret": "sign-secret"}
    assert github.options["headers"][0]["value"] == "token ghp-secret"
    assert gmail.options["from"] == "$email-from"  # not in the secret: left as written
    assert "xoxb-secret" not in repr(slack) and set(slack.secrets) == {"xoxb-secret", "sign-secret"}
    assert config.default_triggers == ("on-sync-succeeded",)
    assert config.defaults_for("gmail") == ("on-health-degraded",)
    assert config.context == {"argocdUrl": "https://cd.example.com"}
    assert config.errors == ("trigger.on-broken[0]: needs `when` (an expression)",)


def test_one_bad_entry_is_reported_and_the_others_still_work() -> None:
    data = dict(CM["data"])
    data["template.broken"] = "message: [unclosed\n"
    data["service.slack.bad name"] = "token: x\n"
    config = parse_config({"data": data}, None)
    assert any(e.startswith("template.broken: not valid YAML") for e in config.errors)
    assert any("'bad name' is not a valid name" in e for e in config.errors)
    assert "app-sync-succeeded" in config.templates and "slack" in config.services


def app(annotations: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "shop", "annotations": annotations, "labels": labels or {}}}


def test_subscriptions_come_from_the_app_its_project_and_the_global_list() -> None:
    config = parse_config(CM, SECRET)
    shop = app(
        {
            "notifications.argoproj.io/subscribe.on-sync-succeeded.slack": "deploys;alerts",
            "notifications.argoproj.io/subscribe.gmail": "me@example.com",
            "unrelated/annotation": "x",
        },
        {"team": "payments"},
    )
    project = app({"notifications.argoproj.io/subscribe.on-deployed.github": ""})
    found = subscriptions_of(shop, project, config)
    assert found == (
        Subscription("on-sync-succeeded", "slack", "deploys"),
        Subscription("on-sync-succeeded", "slack", "alerts"),
        Subscription("on-health-degraded", "gmail", "me@example.com"),  # its default trigger
        Subscription("on-deployed", "github", ""),
        Subscription("on-sync-succeeded", "slack", "ops"),
        Subscription("on-sync-succeeded", "github", ""),
        Subscription("on-health-degraded", "gmail", "oncall@example.com"),
    )
    other = subscriptions_of(app({}, {"team": "search"}), None, config)
    assert other == (Subscription("on-health-degraded", "gmail", "oncall@example.com"),)


def test_the_subscriptions_annotation_lists_destinations() -> None:
    config = parse_config(CM, None)
    listed = (
        "- trigger: [on-sync-succeeded]\n  destinations:\n"
        "  - service: slack\n    recipients: [a, b]\n"
        "- destinations:\n  - service: gmail\n    recipients: [c@example.com]\n"
    )
    found = subscriptions_of(app({"notifications.argoproj.io/subscriptions": listed}), None, config)
    assert [(s.trigger, s.service, s.recipient) for s in found[:3]] == [
        ("on-sync-succeeded", "slack", "a"),
        ("on-sync-succeeded", "slack", "b"),
        ("on-health-degraded", "gmail", "c@example.com"),
    ]


def test_secret_values_skip_what_is_not_text() -> None:
    secret = {"data": {"ok": base64.b64encode(b"v").decode(), "bad": "%%%"}}
    assert secret_values(secret) == {"ok": "v"}
    assert parse_config(None, None).triggers == {}
