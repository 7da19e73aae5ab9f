"""``tether flux get|reconcile|suspend|resume|build`` on the real stack (local cluster, loopback
git server, the controller reconciling Flux objects), through the kubeconfig as a user runs them:
Flux's table, a reconcile that waits for the controller's answer and prints the revision it
applied, a suspended Kustomization left alone until resumed, a failed reconcile as one ✗ line
with the Ready message and exit code 1, a build reading the Kustomization and its substituteFrom
variables from the cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.controller.stack import Env
from tests.controller.test_flux import configmap, get, git_repository, kustomization, ready, tenant
from tether.cli.main import cli
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

KS = "kustomize.toolkit.fluxcd.io/v1"


async def flux(env: Env, *args: str) -> Result:
    """``tether flux ARGS`` in a thread (it runs its own event loop; the controller runs here)."""
    argv = ["flux", *args, "--kubeconfig", str(env.cluster.kubeconfig)]
    return await asyncio.to_thread(CliRunner().invoke, cli, argv)


async def applied(env: Env, name: str, namespace: str) -> str:
    """The revision the Kustomization applied once it is Ready."""

    async def revision() -> str | None:
        if (await ready(env, name, namespace)).get("status") != "True":
            return None
        obj = await get(env, KS, "Kustomization", name, namespace)
        return (obj or {}).get("status", {}).get("lastAppliedRevision")

    return str(await eventually(revision, 60, f"{name} Ready"))


async def test_get_and_reconcile_with_source_print_what_the_controller_did(env: Env) -> None:
    namespace = await tenant(env)
    url, work = env.new_repo({"deploy/cm.yaml": configmap("app", "one")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
    )
    revision = await applied(env, "app", namespace)

    table = await flux(env, "get", "ks", "-n", namespace)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines() == [
        f"NAME  REVISION{' ' * (len(revision) - 8)}  SUSPENDED  READY  MESSAGE",
        f"app   {revision}  False      True   Applied revision: {revision}",
    ]
    everywhere = await flux(env, "get", "kustomizations", "app", "-A")
    header, *rows = everywhere.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert [row.split()[:5] for row in rows if row.startswith(namespace)] == [
        [namespace, "app", revision, "False", "True"]
    ]
    sources = await flux(env, "get", "sources", "git", "repo", "-n", namespace)
    assert sources.stdout.splitlines()[1].split()[:4] == ["repo", revision, "False", "True"]
    missing = await flux(env, "get", "ks", "nothing", "-n", namespace)
    assert missing.exit_code == 0 and missing.stdout == ""  # as Flux: said, not a failure
    assert missing.stderr == (
        f"✗ Kustomization object 'nothing' not found in \"{namespace}\" namespace\n"
    )
    empty = await flux(env, "get", "sources", "git", "-n", f"{namespace}-empty")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f'✗ no GitRepository objects found in "{namespace}-empty" namespace\n'

    # a push, then `flux reconcile ks --with-source`: the new commit fetched and applied at once
    commit = commit_and_push(work, "two", {"deploy/cm.yaml": configmap("app", "two")})
    done = await flux(env, "reconcile", "ks", "app", "-n", namespace, "--with-source",
                      "--timeout", "60s")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines() == [
        f"► annotating GitRepository repo in {namespace} namespace",
        "✔ GitRepository annotated",
        "◎ waiting for GitRepository reconciliation",
        "✔ GitRepository reconciliation completed",
        f"✔ fetched revision main@sha1:{commit}",
        f"► annotating Kustomization app in {namespace} namespace",
        "✔ Kustomization annotated",
        "◎ waiting for Kustomization reconciliation",
        "✔ Kustomization reconciliation completed",
        f"✔ applied revision main@sha1:{commit}",
    ]
    live = await get(env, "v1", "ConfigMap", "app", namespace)
    assert live is not None and live["data"]["k"] == "two"
    obj = await get(env, KS, "Kustomization", "app", namespace)
    assert obj is not None
    requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert obj["status"]["lastHandledReconcileAt"] == requested


async def test_suspend_leaves_a_kustomization_alone_until_resumed(env: Env) -> None:
    namespace = await tenant(env)
    url, work = env.new_repo({"deploy/cm.yaml": configmap("app", "one")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
    )
    await applied(env, "app", namespace)

    suspended = await flux(env, "suspend", "ks", "app", "-n", namespace)
    assert suspended.exit_code == 0, suspended.output
    assert suspended.stderr.splitlines() == [
        f"► suspending kustomization app in {namespace} namespace",
        "✔ kustomization suspended",
    ]
    obj = await get(env, KS, "Kustomization", "app", namespace)
    assert obj is not None and obj["spec"]["suspend"] is True
    table = await flux(env, "get", "ks", "-n", namespace)
    assert table.stdout.splitlines()[1].split()[2] == "True"
    refused = await flux(env, "reconcile", "ks", "app", "-n", namespace)
    assert refused.exit_code == 1 and refused.stderr == "✗ resource is suspended\n"

    # a new commit is fetched, but the suspended Kustomization does not apply it
    commit = commit_and_push(work, "two", {"deploy/cm.yaml": configmap("app", "two")})
    fetched = await flux(env, "reconcile", "source", "git", "repo", "-n", namespace)
    assert f"✔ fetched revision main@sha1:{commit}" in fetched.stderr, fetched.output
    live = await get(env, "v1", "ConfigMap", "app", namespace)
    assert live is not None and live["data"]["k"] == "one"

    resumed = await flux(env, "resume", "ks", "app", "-n", namespace, "--timeout", "60s")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.splitlines() == [
        f"► resuming kustomization app in {namespace} namespace",
        "✔ kustomization resumed",
        "◎ waiting for Kustomization reconciliation",
        "✔ Kustomization reconciliation completed",
        f"✔ applied revision main@sha1:{commit}",
    ]
    live = await get(env, "v1", "ConfigMap", "app", namespace)
    assert live is not None and live["data"]["k"] == "two"


async def test_a_failed_reconcile_is_one_line_with_the_ready_message(env: Env) -> None:
    namespace = await tenant(env)
    url, _ = env.new_repo({"deploy/cm.yaml": configmap("vars", "${region}")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization(
            "app",
            namespace,
            "repo",
            path="./deploy",
            postBuild={"substitute": {"cluster_env": "prod"}},
        ),
    )

    async def failed() -> bool:
        return (await ready(env, "app", namespace)).get("reason") == "BuildFailed"

    await eventually(failed, 60, "the build failed")
    result = await flux(env, "reconcile", "kustomization", "app", "-n", namespace)
    assert result.exit_code == 1, result.output
    *progress, last = result.stderr.splitlines()
    assert progress[-1] == "✔ Kustomization reconciliation completed"
    message = (await ready(env, "app", namespace))["message"]
    assert "region" in message
    assert last == f"✗ Kustomization reconciliation failed: '{message}'"

    for args in (("suspend", "ks", "nothing"), ("resume", "source", "git", "nothing")):
        missing = await flux(env, *args, "-n", namespace)
        assert missing.exit_code == 1
        assert missing.stderr.endswith(f"'nothing' not found in {namespace} namespace\n")


async def test_build_reads_the_kustomization_and_its_variables_from_the_cluster(
    env: Env, tmp_path: Path
) -> None:
    namespace = await tenant(env)
    url, work = env.new_repo({"deploy/cm.yaml": configmap("settings", "${env}-${region}")})
    vars_cm = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cluster-vars", "namespace": namespace},
               "data": {"env": "from-cluster", "region": "eu"}}  # fmt: skip
    post_build = {"substitute": {"env": "staging"},
                  "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]}  # fmt: skip
    spec = kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace,
                         postBuild=post_build)  # fmt: skip
    await env.apply(vars_cm, git_repository("repo", namespace, url), spec)

    # the Kustomization read from the cluster by name; the checkout is the repository root
    result = await flux(env, "build", "ks", "app", "-n", namespace, "--path", str(work / "deploy"))
    assert result.exit_code == 0, result.output
    [built] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert built["metadata"]["namespace"] == namespace
    assert built["data"]["k"] == "staging-eu"  # inline variables win over substituteFrom's
    assert built["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }

    # from a file, substituteFrom is still read from the cluster; a missing one is named
    file = tmp_path / "app.yaml"
    post_build["substituteFrom"] = [{"kind": "Secret", "name": "absent"}]
    file.write_text(yaml.safe_dump(spec))
    missing = await flux(env, "build", "ks", "app", "--path", str(work / "deploy"),
                         "--kustomization-file", str(file))  # fmt: skip
    assert missing.exit_code == 1
    assert missing.stderr == (
        "✗ substitute from 'Secret/absent' error: secrets \"absent\" not found\n"
    )


async def test_diff_shows_what_a_local_folder_would_change(env: Env) -> None:
    namespace = await tenant(env)
    url, work = env.new_repo(
        {"deploy/a.yaml": configmap("a", "one"), "deploy/b.yaml": configmap("b")}
    )
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
    )
    await applied(env, "app", namespace)

    same = await flux(env, "diff", "ks", "app", "-n", namespace, "--path", str(work / "deploy"))
    assert same.exit_code == 0, same.output
    assert same.stdout == ""

    (work / "deploy" / "a.yaml").write_text(configmap("a", "two"))
    (work / "deploy" / "b.yaml").unlink()
    (work / "deploy" / "c.yaml").write_text(configmap("c"))
    changed = await flux(env, "diff", "ks", "app", "-n", namespace, "--path", str(work / "deploy"))
    assert changed.exit_code == 1, changed.output
    lines = changed.stdout.splitlines()
    assert f"► ConfigMap/{namespace}/a drifted" in lines
    assert "-  k: one" in lines and "+  k: two" in lines
    assert f"► ConfigMap/{namespace}/c created" in lines
    assert f"► ConfigMap/{namespace}/b deleted" in lines
    # nothing was applied
    live = await get(env, "v1", "ConfigMap", "a", namespace)
    assert live is not None and live["data"]["k"] == "one"


async def test_tree_draws_what_a_kustomization_manages_to_any_depth(env: Env) -> None:
    namespace = await tenant(env)
    inner = kustomization("inner", namespace, "repo", path="./inner", targetNamespace=namespace)
    url, _ = env.new_repo({
        "outer/inner.yaml": yaml.safe_dump(inner),
        "outer/cm.yaml": configmap("outer-cm"),
        "inner/cm.yaml": configmap("inner-cm"),
    })  # fmt: skip
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("outer", namespace, "repo", path="./outer", targetNamespace=namespace),
    )
    await applied(env, "outer", namespace)
    await applied(env, "inner", namespace)
    result = await flux(env, "tree", "ks", "outer", "-n", namespace)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Kustomization/{namespace}/outer",
        f"├── Kustomization/{namespace}/inner",
        f"│   └── ConfigMap/{namespace}/inner-cm",
        f"└── ConfigMap/{namespace}/outer-cm",
    ]
    missing = await flux(env, "tree", "ks", "nope", "-n", namespace)
    assert missing.exit_code == 1 and "not found" in missing.output


async def test_events_list_what_the_controller_recorded(env: Env) -> None:
    namespace = await tenant(env)
    url, _ = env.new_repo({"deploy/cm.yaml": configmap("evented")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
        kustomization("broken", namespace, "repo", path="./missing", targetNamespace=namespace),
    )
    revision = await applied(env, "app", namespace)

    async def listed() -> Result | None:
        result = await flux(env, "events", "-n", namespace)
        return result if "broken" in result.stdout and "app" in result.stdout else None

    result = await eventually(listed, 60, "both Kustomizations' events")
    assert result.stdout.splitlines()[0].split() == [
        "LAST",
        "SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "MESSAGE",
    ]
    rows = [line.split(None, 4) for line in result.stdout.splitlines()[1:]]
    # oldest first: the last of app's is its success (a first try may have found the
    # GitRepository not fetched yet)
    assert [r[1:4] for r in rows if r[3] == "Kustomization/app"][-1] == [
        "Normal", "ReconciliationSucceeded", "Kustomization/app",
    ]  # fmt: skip
    assert any(r[1:4] == ["Warning", "BuildFailed", "Kustomization/broken"] for r in rows)
    assert any(f"Applied revision: {revision}" in line for line in result.stdout.splitlines())
    only = await flux(env, "events", "--for", "Kustomization/broken", "-n", namespace)
    assert "Kustomization/app" not in only.stdout and "Kustomization/broken" in only.stdout
