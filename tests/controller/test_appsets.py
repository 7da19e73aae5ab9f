"""ApplicationSets on the real stack: a Git-directory set over the loopback git server makes one
owned Application per directory; a pushed directory adds one, a removed one is deleted only
under a policy that deletes; a template error leaves the Applications as they are and says so;
a regeneration that changes nothing writes nothing; deleting the set deletes its Applications
(the API server's garbage collection)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import yaml

from tests.controller.stack import CONTROL_NS, Env
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def no_sets_left(env: Env) -> AsyncIterator[None]:
    """Each test's sets (and so their Applications) are deleted after it: the next test module
    on this worker shares the cluster and must not generate them."""
    yield
    await env.kube("delete", "applicationsets", "--all", "-n", CONTROL_NS, "--wait=false")


def configmap(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                           "data": {"app": name}})  # fmt: skip


def appset(name: str, url: str, namespace: str, policy: str = "sync") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": url, "revision": "HEAD",
                                    "directories": [{"path": "apps/*"}]}}],
            "syncPolicy": {"applicationsSync": policy},
            "template": {
                "metadata": {"name": f"{name}-{{{{.path.basename}}}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": url, "targetRevision": "HEAD",
                               "path": "{{.path.path}}"},
                    "destination": {"server": "https://kubernetes.default.svc",
                                    "namespace": namespace},
                },
            },
        },
    }  # fmt: skip


def generated(env: Env, name: str) -> dict[str, dict[str, Any]]:
    return {
        app_name: app
        for app_name, app in env.controller.applications().items()
        if any(r.get("name") == name for r in app["metadata"].get("ownerReferences") or [])
    }


async def conditions(env: Env, name: str) -> dict[str, dict[str, Any]]:
    info = await env.client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
    obj = await env.client.get(info, name, CONTROL_NS)
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


async def test_a_git_directory_set_follows_its_repository(env: Env) -> None:
    url, work = env.new_repo({"apps/web/cm.yaml": configmap("web"),
                              "apps/api/cm.yaml": configmap("api")})  # fmt: skip
    name = f"set-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    await env.apply(appset(name, url, name))
    await eventually(lambda: len(generated(env, name)) == 2, 60, "two Applications")
    apps = generated(env, name)
    assert sorted(apps) == [f"{name}-api", f"{name}-web"]
    web = apps[f"{name}-web"]
    assert web["spec"]["source"]["path"] == "apps/web"
    (owner,) = web["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ApplicationSet", name, True)
    await eventually(lambda: conditions(env, name), 30, "status written")
    found = await conditions(env, name)
    assert found["ResourcesUpToDate"]["status"] == "True"
    assert found["ErrorOccurred"]["status"] == "False"

    # nothing changed: a regeneration writes nothing
    writes = env.controller.appsets.writes
    await env.controller.appsets.reconcile(name)
    assert env.controller.appsets.writes == writes

    # a directory pushed: one more; a directory removed: its Application deleted
    commit_and_push(work, "add jobs, drop api", {"apps/jobs/cm.yaml": configmap("jobs"),
                                                  "apps/api/cm.yaml": None})  # fmt: skip
    await env.controller.on_webhook([url])
    await eventually(
        lambda: sorted(generated(env, name)) == [f"{name}-jobs", f"{name}-web"],
        60,
        "jobs added, api deleted",
    )


async def test_a_broken_template_keeps_the_applications_and_says_why(env: Env) -> None:
    url, _ = env.new_repo({"apps/web/cm.yaml": configmap("web")})
    name = f"set-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    await env.apply(appset(name, url, name, policy="create-update"))
    await eventually(lambda: len(generated(env, name)) == 1, 60, "the Application")
    broken = appset(name, url, name, policy="create-update")
    broken["spec"]["template"]["metadata"]["name"] = f"{name}-{{{{.path.nope}}}}"
    await env.apply(broken)

    async def told() -> bool:
        error = (await conditions(env, name)).get("ErrorOccurred") or {}
        return error.get("status") == "True" and "nope" in error.get("message", "")

    await eventually(told, 60, "the error on the set's status")
    assert list(generated(env, name)) == [f"{name}-web"]  # left as it was

    # deleting the set deletes its Applications
    await env.kube("delete", "applicationset", name, "-n", CONTROL_NS)
    await eventually(lambda: not generated(env, name), 60, "the Applications deleted")


async def test_a_pull_request_labelled_preview_gets_an_app_until_it_closes(env: Env) -> None:
    from tether.demo.repo import create_repository, push_branch
    from tether.githost.fake import FakeGitHost

    token = "ghp_appset_" + uuid.uuid4().hex
    name = f"prs-{uuid.uuid4().hex[:6]}"
    with FakeGitHost(env.git, {token: "tether-bot"}) as forge:
        repo = f"acme/{name}"
        work = env.root / f"{name}-work"
        create_repository(env.git.root / "acme" / f"{name}.git", work,
                          {"apps/web/cm.yaml": configmap("web")})  # fmt: skip
        url = forge.repo_url(repo)
        await env.kube("create", "namespace", name)
        await env.apply({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": f"{name}-token", "namespace": CONTROL_NS},
                         "stringData": {"token": token}})  # fmt: skip
        head = push_branch(work, "feature-x", {"apps/web/cm.yaml": configmap("web-x")})
        labelled = forge.forge.open_pull(repo, "feature-x", "main", "Feature X", "", "dev")
        forge.forge.label_pull(repo, labelled.number, ("preview",))
        push_branch(work, "feature-y", {"apps/web/cm.yaml": configmap("web-y")})
        forge.forge.open_pull(repo, "feature-y", "main", "Feature Y", "", "dev")  # no label
        spec = appset(name, url, name)
        spec["spec"]["generators"] = [{"pullRequest": {"github": {
            "owner": "acme", "repo": name, "api": forge.url,
            "tokenRef": {"secretName": f"{name}-token", "key": "token"},
            "labels": ["preview"]}}}]  # fmt: skip
        template = spec["spec"]["template"]
        template["metadata"]["name"] = f"{name}-pr-{{{{.number}}}}-{{{{.branch_slug}}}}"
        template["spec"]["source"].update(targetRevision="{{.head_sha}}", path="apps/web")
        await env.apply(spec)
        await eventually(lambda: len(generated(env, name)) == 1, 60, "the preview Application")
        (app,) = generated(env, name).values()
        assert app["metadata"]["name"] == f"{name}-pr-{labelled.number}-feature-x"
        assert app["spec"]["source"]["targetRevision"] == head

        # the pull request closes: its Application goes at the next generation
        forge.forge.edit_pull(repo, labelled.number, state="closed")
        env.controller.appsets.on_pull_request()  # as the pull_request webhook does
        await eventually(lambda: not generated(env, name), 60, "the preview Application deleted")


async def test_a_rolling_sync_holds_production_behind_a_broken_staging(env: Env) -> None:
    from tether.demo.repo import demo_files

    files = demo_files()
    staging = "apps/payment-service/staging/kustomization.yaml"
    overlay = yaml.safe_load(files[staging])
    good_tag = overlay["images"][0]["newTag"]
    overlay["images"][0]["newTag"] = "1.4.0-crashloop"
    overlay["patches"].append({
        "target": {"kind": "Deployment", "name": "payment-service"},
        "patch": "- op: add\n  path: /spec/progressDeadlineSeconds\n  value: 2\n",
    })  # fmt: skip
    files[staging] = yaml.safe_dump(overlay)
    url, work = env.new_repo(files)
    name = f"roll-{uuid.uuid4().hex[:6]}"
    for stage in ("staging", "production"):
        await env.kube("create", "namespace", f"{name}-{stage}")
    spec = appset(name, url, name)
    spec["spec"]["generators"] = [{"list": {"elements": [{"env": "staging"},
                                                         {"env": "production"}]}}]  # fmt: skip
    spec["spec"]["strategy"] = {"type": "RollingSync", "rollingSync": {"steps": [
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["staging"]}]},
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["production"]}]},
    ]}}  # fmt: skip
    template = spec["spec"]["template"]
    template["metadata"] = {"name": f"{name}-{{{{.env}}}}", "labels": {"env": "{{.env}}"}}
    template["spec"]["source"]["path"] = "apps/payment-service/{{.env}}"
    template["spec"]["destination"]["namespace"] = f"{name}-{{{{.env}}}}"
    template["spec"]["syncPolicy"] = {"automated": {"prune": True}}  # the rollout overrides it
    await env.apply(spec)

    async def rollout() -> dict[str, dict[str, Any]]:
        info = await env.client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
        obj = await env.client.get(info, name, CONTROL_NS)
        return {
            a["application"]: a for a in (obj.get("status") or {}).get("applicationStatus") or []
        }

    async def staging_degraded() -> bool:
        staging = env.controller.applications().get(f"{name}-staging")  # not made yet: None
        health = ((staging or {}).get("status") or {}).get("health") or {}
        return health.get("status") == "Degraded"

    await eventually(staging_degraded, 120, "staging synced by the rollout, then Degraded")
    generated_apps = generated(env, name)
    assert "automated" not in (generated_apps[f"{name}-staging"]["spec"].get("syncPolicy") or {})

    async def production_held() -> bool:
        entry = (await rollout()).get(f"{name}-production") or {}
        return entry.get("status") == "Waiting" and f"{name}-staging failed" in entry.get(
            "message", ""
        )

    await eventually(production_held, 60, "production held, naming the staging app")
    production = await env.app(f"{name}-production")
    assert not (production.get("status") or {}).get("operationState")  # never synced

    # staging fixed in Git: the rollout syncs it, then production
    overlay["images"][0]["newTag"] = good_tag
    commit_and_push(work, "fix staging", {staging: yaml.safe_dump(overlay)})
    await env.controller.on_webhook([url])

    async def both_healthy() -> bool:
        entries = await rollout()
        return len(entries) == 2 and all(e["status"] == "Healthy" for e in entries.values())

    await eventually(both_healthy, 180, "staging then production Synced and Healthy")


async def test_an_scm_provider_set_makes_an_app_per_repository_that_passes_its_filters(
    env: Env,
) -> None:
    from tether.demo.repo import create_repository
    from tether.githost.fake import FakeGitHost

    token = "ghp_scm_" + uuid.uuid4().hex
    org = f"scm-{uuid.uuid4().hex[:6]}"
    with FakeGitHost(env.git, {token: "tether-bot"}) as forge:
        for repo, files in (
            ("shop-web", {"deploy/cm.yaml": configmap("web")}),
            ("shop-api", {"deploy/cm.yaml": configmap("api")}),
            ("docs", {"README.md": "docs\n"}),
        ):
            create_repository(env.git.root / org / f"{repo}.git", env.root / f"{org}-{repo}", files)
        forge.forge.set_topics(f"{org}/shop-web", ("deploy-ok",))
        forge.forge.set_topics(f"{org}/shop-api", ("deploy-ok", "frozen"))
        await env.kube("create", "namespace", org)
        await env.apply({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": f"{org}-token", "namespace": CONTROL_NS},
                         "stringData": {"token": token}})  # fmt: skip
        spec = appset(org, "unused", org)
        spec["spec"]["generators"] = [{"scmProvider": {
            "github": {"organization": org, "api": forge.url,
                       "tokenRef": {"secretName": f"{org}-token", "key": "token"}},
            "filters": [{"pathsExist": ["deploy"], "labelMatch": "^deploy-ok$",
                         "repositoryMatch": "^shop-(web|api)$"}]}}]  # fmt: skip
        template = spec["spec"]["template"]
        template["metadata"]["name"] = f"{org}-{{{{.repository}}}}-{{{{.branch}}}}"
        template["spec"]["source"].update(repoURL="{{.url}}", targetRevision="{{.sha}}",
                                          path="deploy")  # fmt: skip
        await env.apply(spec)
        await eventually(lambda: len(generated(env, org)) == 2, 60, "two Applications")
        apps = generated(env, org)
        assert sorted(apps) == [f"{org}-shop-api-main", f"{org}-shop-web-main"]
        web = apps[f"{org}-shop-web-main"]["spec"]["source"]
        assert web["repoURL"] == forge.repo_url(f"{org}/shop-web")
        assert len(web["targetRevision"]) == 40
