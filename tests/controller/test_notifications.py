"""Notifications on the real stack: argocd-notifications-cm and -secret as Argo CD's docs write
them, an Application subscribed by annotation to on-sync-succeeded on a loopback webhook, a
Slack fake (Slack's documented Web API) and a real SMTP server (aiosmtpd): one message each per
synced revision, none again after a restart of the notifier, the sent keys on the Application."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller as SmtpController
from aiosmtpd.handlers import Message

from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tests.notify.fakeslack import FakeSlack
from tests.notify.test_delivery import Receiver
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually
from tether.notify.firing import STATE_ANNOTATION

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLACK_TOKEN = "xoxb-notify-" + uuid.uuid4().hex
SUCCEEDED = (
    "- description: Application syncing has succeeded\n"
    "  send: [app-sync-succeeded]\n"
    "  when: app.status.operationState != nil and "
    "app.status.operationState.phase in ['Succeeded']\n"
    "  oncePer: app.status.operationState?.syncResult?.revision\n"
)
TEMPLATE = (
    "message: |\n"
    "  Application {{.app.metadata.name}} has been successfully synced at "
    "{{.app.status.operationState.syncResult.revision | trunc 7}}.\n"
    "  Sync operation details are available at: {{.context.argocdUrl}}/applications/"
    "{{.app.metadata.name}}?operation=true .\n"
    "email:\n  subject: Application {{.app.metadata.name}} has been successfully synced.\n"
    "slack:\n  groupingKey: '{{.app.metadata.name}}'\n"
    "webhook:\n  hook:\n    method: POST\n    path: /deployed\n"
    '    body: \'{"app": "{{.app.metadata.name}}", "phase": '
    '"{{.app.status.operationState.phase}}"}\'\n'
)


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []
        mails = self.mails

        class Collect(Message):
            def handle_message(self, message: Any) -> None:
                mails.append(message)

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = SmtpController(Collect(), hostname="127.0.0.1", port=self.port)
        self.server.start()


@pytest.fixture(scope="module")
def parts() -> Iterator[tuple[Receiver, FakeSlack, Mailbox]]:
    hook, slack, mailbox = Receiver(), FakeSlack(SLACK_TOKEN, {"deploys"}), Mailbox()
    yield hook, slack, mailbox
    hook.server.shutdown()
    slack.close()
    mailbox.server.stop()


async def settings(env: Env, hook: Receiver, slack: FakeSlack, mailbox: Mailbox) -> None:
    data = {
        "context": "argocdUrl: https://cd.example.com\n",
        "service.webhook.hook": f"url: {hook.url}\n",
        "service.slack": f"token: $slack-token\napiURL: {slack.api_url}\n",
        "service.email": f"host: 127.0.0.1\nport: {mailbox.port}\nfrom: cd@example.com\n",
        "template.app-sync-succeeded": TEMPLATE,
        "trigger.on-sync-succeeded": SUCCEEDED,
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
          "metadata": {"name": "argocd-notifications-cm", "namespace": CONTROL_NS}}  # fmt: skip
    secret = {"apiVersion": "v1", "kind": "Secret", "stringData": {"slack-token": SLACK_TOKEN},
              "metadata": {"name": "argocd-notifications-secret", "namespace": CONTROL_NS}}  # fmt: skip
    await env.apply(secret, cm)


async def test_a_sync_notifies_each_subscriber_once_per_revision(
    env: Env, parts: tuple[Receiver, FakeSlack, Mailbox]
) -> None:
    hook, slack, mailbox = parts
    await settings(env, hook, slack, mailbox)
    url, work = env.new_repo()
    name = f"notify-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    subscribe = "notifications.argoproj.io/subscribe.on-sync-succeeded"
    annotations = {f"{subscribe}.hook": "", f"{subscribe}.slack": "deploys",
                   f"{subscribe}.email": "ops@example.com"}  # fmt: skip
    await env.application(name, url, name, **{"metadata.annotations": annotations})
    await eventually(lambda: synced_healthy(env, name), 60, f"{name} synced")

    def mine(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in requests if f'"{name}"' in r.get("body", "")]

    await eventually(lambda: len(mine(hook.requests)) == 1, 30, "the webhook called")
    await eventually(lambda: any(name in m["text"] for m in slack.posted), 30, "slack posted")
    await eventually(lambda: any(name in m["Subject"] for m in mailbox.mails), 30, "mailed")
    (call,) = mine(hook.requests)
    assert (call["method"], call["path"]) == ("POST", "/deployed")
    assert yaml.safe_load(call["body"]) == {"app": name, "phase": "Succeeded"}
    (post,) = [m for m in slack.posted if name in m["text"]]
    assert post["channel"] == "deploys" and "https://cd.example.com/applications/" in post["text"]
    (mail,) = [m for m in mailbox.mails if name in m["Subject"]]
    assert mail["To"] == "ops@example.com"
    state = (await env.app(name))["metadata"]["annotations"][STATE_ANNOTATION]
    assert len(yaml.safe_load(state)) == 3  # one key per destination

    # a new revision that changes the app: synced, one more message each
    overlay = "apps/payment-service/production/kustomization.yaml"
    doc = yaml.safe_load((work / overlay).read_text())
    doc["images"][0]["newTag"] = "1.5.0"
    second = commit_and_push(work, "payment-service 1.5.0", {overlay: yaml.safe_dump(doc)})
    await env.controller.refresh(name, hard=True)
    # the sync first (a worker shared with earlier modules' apps can be slow), then its message
    await eventually(lambda: synced_healthy(env, name, second), 120, "the new revision synced")
    await eventually(lambda: len(mine(hook.requests)) == 2, 30, "the second webhook call")
    await eventually(
        lambda: len([m for m in slack.posted if name in m["text"]]) == 2, 30, "slack again"
    )
    threaded = [m for m in slack.posted if name in m["text"]][1]
    assert threaded["thread_ts"] == post["ts"]  # groupingKey threads them


async def test_bad_settings_are_told_and_a_failing_service_is_retried_without_slowing_syncs(
    env: Env, parts: tuple[Receiver, FakeSlack, Mailbox], caplog: pytest.LogCaptureFixture
) -> None:
    hook, slack, mailbox = parts
    await settings(env, hook, slack, mailbox)
    bad = {
        "trigger.on-outside": "- when: env('HOME') == '/root'\n  send: [app-sync-succeeded]\n",
        "trigger.on-bad-template": SUCCEEDED.replace("app-sync-succeeded", "broken"),
        "trigger.on-missing-template": SUCCEEDED.replace("app-sync-succeeded", "nope"),
        "template.broken": "message: '{{ .app.metadata.name | nosuchfunc }}'\n",
    }
    info = await env.client.resource_for("v1", "ConfigMap")
    await env.client.patch(info, "argocd-notifications-cm", {"data": bad}, CONTROL_NS)
    hook.answers = [(500, {}, b"down"), (429, {"Retry-After": "1"}, b"slow down")]
    url, _work = env.new_repo()
    name = f"notify-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    subscribe = "notifications.argoproj.io/subscribe"
    annotations = {f"{subscribe}.{t}.hook": "" for t in (
        "on-sync-succeeded", "on-outside", "on-bad-template", "on-missing-template",
        "on-nowhere")}  # fmt: skip
    annotations[f"{subscribe}.on-sync-succeeded.pager"] = "ops"  # no such service
    await env.application(name, url, name, **{"metadata.annotations": annotations})
    # the sync goes on as ever
    await eventually(lambda: synced_healthy(env, name), 60, f"{name} synced")

    def mine() -> list[dict[str, Any]]:
        return [r for r in hook.requests if f'"{name}"' in r.get("body", "")]

    # 500, then 429, then delivered: three requests, one message
    await eventually(lambda: len(mine()) == 3, 30, "delivered after two retries")

    def told(fragment: str) -> bool:
        return any(name in r.getMessage() and fragment in r.getMessage() for r in caplog.records)

    await eventually(lambda: told("unsupported: function 'env' at column 1"), 30, "outside")
    await eventually(lambda: told("template broken: ") and told("nosuchfunc"), 30, "template")
    await eventually(lambda: told("template 'nope' is not defined"), 30, "missing template")
    await eventually(lambda: told("trigger 'on-nowhere' is not defined"), 30, "unknown trigger")
    await eventually(lambda: told("service 'pager' is not defined"), 30, "unknown service")


async def test_copies_older_than_what_the_notifier_knows_never_send_again() -> None:
    """The races the 1,000-app bench found: a status write older than the notifier's own state
    write reaches it after that write, or after a newer copy; neither may send again."""
    from tether.controller.notifications import AppNotifications

    parts = AppNotifications(
        None,  # type: ignore[arg-type]  # no request is made here
        CONTROL_NS,
        "tether",
        configmap=lambda name: {"metadata": {"resourceVersion": "1"}},
        applications=lambda: {},
        projects=lambda: {},
        owns=lambda name: True,
    )

    def copy(version: int, state: str | None = None) -> dict[str, Any]:
        annotations = {STATE_ANNOTATION: state} if state else {}
        return {"metadata": {"name": "web", "uid": "u", "resourceVersion": str(version),
                             "annotations": annotations}}  # fmt: skip

    parts._written["web"] = ('{"k": 1}', None)  # the state write is in flight
    carried = parts._with_last_state("web", copy(5))
    assert carried["metadata"]["annotations"][STATE_ANNOTATION] == '{"k": 1}'
    parts._written["web"] = ('{"k": 1}', "6")  # written: resourceVersion 6
    older = copy(5)
    assert parts._with_last_state("web", older)["metadata"]["annotations"][STATE_ANNOTATION]
    assert older["metadata"]["annotations"] == {}  # the cached copy is left alone
    newer = copy(7, '{"k": 1}')
    assert parts._with_last_state("web", newer) is newer
    # waiting: 5; the notifier's own write (6) replaces it; an older copy (4) is not taken
    parts.on_application("MODIFIED", copy(5))
    own = copy(6, '{"k": 1}')
    parts.on_application("MODIFIED", own)
    assert parts._pending["web"] is own
    parts.on_application("MODIFIED", copy(4))
    assert parts._pending["web"] is own


DEPLOYED = (
    "- description: Application is synced and healthy\n"
    "  send: [app-deployed]\n"
    "  when: app.status.operationState != nil and app.status.operationState.phase in "
    "['Succeeded'] and app.status.health.status == 'Healthy'\n"
    "  oncePer: app.status.operationState?.syncResult?.revision\n"
)
DEGRADED = (
    "- description: Application has degraded\n"
    "  send: [app-health-degraded]\n"
    "  when: app.status.health.status == 'Degraded'\n"
)
DEPLOYED_TEMPLATE = (
    "message: Application {{.app.metadata.name}} is now running new version.\n"
    "github:\n"
    "  repoURLPath: '{{.app.spec.source.repoURL}}'\n"
    "  revisionPath: '{{.app.status.operationState.syncResult.revision}}'\n"
    "  status:\n"
    "    state: success\n"
    "    label: 'continuous-delivery/{{.app.metadata.name}}'\n"
    "    targetURL: '{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true'\n"
)
DEGRADED_TEMPLATE = (
    "message: Application {{.app.metadata.name}} has degraded.\n"
    "webhook:\n  hook:\n    method: POST\n    path: /degraded\n"
    '    body: \'{"app": "{{.app.metadata.name}}", '
    '"health": "{{.app.status.health.status}}"}\'\n'
)


async def test_a_deploy_sets_the_commit_status_and_a_crash_loop_degrades_once(
    env: Env, parts: tuple[Receiver, FakeSlack, Mailbox]
) -> None:
    from tether.demo.repo import create_repository
    from tether.githost.fake import FakeGitHost

    hook, slack, mailbox = parts
    await settings(env, hook, slack, mailbox)
    token = "ghp_notify_" + uuid.uuid4().hex
    with FakeGitHost(env.git, {token: "tether-bot"}) as forge:
        extra = {
            "service.github": f"apiURL: {forge.github_api_url}\ntoken: $github-token\n",
            "template.app-deployed": DEPLOYED_TEMPLATE,
            "template.app-health-degraded": DEGRADED_TEMPLATE,
            "trigger.on-deployed": DEPLOYED,
            "trigger.on-health-degraded": DEGRADED,
        }
        info = await env.client.resource_for("v1", "ConfigMap")
        await env.client.patch(info, "argocd-notifications-cm", {"data": extra}, CONTROL_NS)
        secret = await env.client.resource_for("v1", "Secret")
        await env.client.patch(
            secret, "argocd-notifications-secret", {"stringData": {"github-token": token}},
            CONTROL_NS,
        )  # fmt: skip
        name = f"notify-{uuid.uuid4().hex[:6]}"
        repo = f"acme/{name}"
        work = env.root / f"{name}-work"
        create_repository(env.git.root / "acme" / f"{name}.git", work)
        await env.kube("create", "namespace", name)
        subscribe = "notifications.argoproj.io/subscribe"
        annotations = {f"{subscribe}.on-deployed.github": "",
                       f"{subscribe}.on-health-degraded.hook": ""}  # fmt: skip
        await env.application(
            name, forge.repo_url(repo), name, **{"metadata.annotations": annotations}
        )
        await eventually(lambda: synced_healthy(env, name), 60, f"{name} synced")
        deployed = (await env.app(name))["status"]["sync"]["revision"]

        def status_of_deploy() -> list[Any]:
            return [s for s in forge.statuses(repo, deployed) if s.context.endswith(name)]

        await eventually(status_of_deploy, 30, "the commit status")
        (status,) = status_of_deploy()
        assert (status.state, status.context) == ("success", f"continuous-delivery/{name}")
        assert status.target_url == f"https://cd.example.com/applications/{name}?operation=true"

        # a crash-looping image: Degraded once the (short) progress deadline passes
        overlay = "apps/payment-service/production/kustomization.yaml"
        doc = yaml.safe_load((work / overlay).read_text())
        doc["images"][0]["newTag"] = "1.5.0-crashloop"
        doc["patches"].append({
            "target": {"kind": "Deployment", "name": "payment-service"},
            "patch": "- op: add\n  path: /spec/progressDeadlineSeconds\n  value: 2\n",
        })  # fmt: skip
        commit_and_push(work, "payment-service crashes", {overlay: yaml.safe_dump(doc)})
        await env.controller.refresh(name, hard=True)

        async def degraded() -> bool:
            return ((await env.app(name)).get("status") or {}).get("health", {}).get(
                "status"
            ) == "Degraded"

        await eventually(degraded, 120, f"{name} degraded")

        def degraded_calls() -> list[dict[str, Any]]:
            return [r for r in hook.requests
                    if r["path"] == "/degraded" and f'"{name}"' in r["body"]]  # fmt: skip

        await eventually(lambda: len(degraded_calls()) == 1, 30, "on-health-degraded sent")
        # still degraded, the app changes again (an annotation, more comparisons): nothing more
        await env.kube("annotate", "application", name, "-n", CONTROL_NS, "touched=yes")
        await eventually(
            lambda: "touched" in env.controller.applications()[name]["metadata"]["annotations"],
            30,
            "the change seen by the controller",
        )
        for _ in range(2):
            await env.controller.reconcile(name)
        await eventually(degraded, 30, "still degraded")
        await env.controller.notifications.idle()  # every change so far considered and sent
        assert len(degraded_calls()) == 1
        assert yaml.safe_load(degraded_calls()[0]["body"]) == {"app": name, "health": "Degraded"}
