"""Every client command against the real thing: API server, controller, local cluster, git server
(`tests.cli.stack`). Nothing is mocked: what the CLI prints is what a user would see.
"""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from click.testing import CliRunner, Result

from tether.cli.api import NOT_LOGGED_IN, ApiClient
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.server.app import run_server
from tether.server.auth import hash_password
from tether.server.settings import ServerSettings

from .conftest import CLI
from .stack import APP_PATH, IN_CLUSTER, Env, app_json, clean_error, create_app, ok, running_env

pytestmark = pytest.mark.slow

CONTROL_NS = "cli-argocd"
VIEWER = "viewer"
VIEWER_PASSWORD = "viewer-pass-" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    settings = ServerSettings(rbac_policy_csv=f"g, {VIEWER}, role:readonly", secret_cache_seconds=0)
    async with running_env(local_cluster, tmp_path_factory, CONTROL_NS, settings) as started:
        yield started


# ---- signing in ---------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_login_saves_a_private_token_that_later_commands_use(
    env: Env, isolated_config: Path
) -> None:
    login = await env.cli(
        "login", env.url, "--username", "admin", "--password-stdin",
        token=None, input=env.admin_password + "\n",
    )  # fmt: skip
    assert f"Logged in to {env.url} as admin" in ok(login)
    assert env.admin_password not in login.output
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    saved = yaml.safe_load(isolated_config.read_text())
    assert saved["current"] == env.url
    token = saved["servers"][env.url]["token"]
    assert token and token not in login.output and env.admin_password not in str(saved)

    # no --server, no --token, no environment: the saved login is used
    runner = CliRunner(env={"TETHER_SERVER": None, "TETHER_TOKEN": None})
    listing = await asyncio.to_thread(runner.invoke, CLI, ["proj", "list"])
    assert "default" in ok(listing)

    assert f"Logged out from {env.url}" in ok(
        await asyncio.to_thread(runner.invoke, CLI, ["logout"])
    )
    after = await asyncio.to_thread(runner.invoke, CLI, ["app", "list"])
    clean_error(after, NOT_LOGGED_IN)

    # an API token (automation) is checked, then saved the same way
    with_token = await asyncio.to_thread(
        runner.invoke, CLI, ["login", env.url, "--token", env.admin_token]
    )
    assert "as admin" in ok(with_token) and env.admin_token not in with_token.output
    ok(await asyncio.to_thread(runner.invoke, CLI, ["app", "list"]))


@pytest.mark.asyncio(loop_scope="session")
async def test_login_with_a_wrong_password_shows_the_servers_refusal(env: Env) -> None:
    result = await env.cli("login", env.url, "--password", "wrong", token=None)
    line = clean_error(result, "error: ")
    assert "run tether login" not in line  # the sign-in's own reason, not the generic advice


@pytest.mark.asyncio(loop_scope="session")
async def test_commands_without_a_token_say_to_log_in(env: Env) -> None:
    for args in (("app", "list"), ("app", "get", "x"), ("proj", "list"), ("repo", "list")):
        clean_error(await env.cli(*args, token=None), NOT_LOGGED_IN)
    clean_error(await env.cli("app", "list", token="forged.token.value"), NOT_LOGGED_IN)


@pytest.mark.asyncio(loop_scope="session")
async def test_read_only_user_reads_but_every_write_is_refused_with_the_servers_403(
    env: Env,
) -> None:
    await create_app(env, "cli-readonly", "cli-readonly")
    # a local account that may sign in, with role:readonly from the server's policy
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": CONTROL_NS},
        "data": {f"accounts.{VIEWER}": "login"},
    }
    await env.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump(configmap))
    secret_hash = await hash_password(VIEWER_PASSWORD)
    patch = {
        "data": {f"accounts.{VIEWER}.password": base64.b64encode(secret_hash.encode()).decode()}
    }
    await env.kube("-n", CONTROL_NS, "patch", "secret", "tether-secret", "--type", "merge",
                   "-p", json.dumps(patch))  # fmt: skip

    async def viewer_token() -> str | None:
        def sign_in() -> str | None:
            with ApiClient(env.url) as api:
                try:
                    return api.sign_in(VIEWER, VIEWER_PASSWORD)
                except Exception:
                    return None

        return await asyncio.to_thread(sign_in)

    token = await eventually(viewer_token, what="the viewer account can sign in")
    assert "cli-readonly" in ok(await env.cli("app", "list", token=token))
    assert "cli-readonly" in ok(await env.cli("app", "get", "cli-readonly", token=token))
    writes = [
        ("app", "sync", "cli-readonly"),
        ("app", "delete", "cli-readonly", "-y"),
        ("app", "set", "cli-readonly", "--revision", "main"),
        ("app", "create", "cli-nope", "--repo", env.repo_url, "--path", APP_PATH,
         "--dest-server", IN_CLUSTER, "--dest-namespace", "x"),
        ("proj", "create", "cli-nope"),
        ("repo", "add", "https://git.example/x.git"),
    ]  # fmt: skip
    for args in writes:
        line = clean_error(await env.cli(*args, token=token), "permission denied")
        assert VIEWER in line, line
    cluster_add = await env.cli(
        "cluster", "add", "nope", "--server", "https://10.0.0.1:6443", "--token", "t", token=token
    )
    clean_error(cluster_add, "permission denied")
    assert "cli-readonly" in ok(await env.cli("app", "list"))


# ---- applications -------------------------------------------------------------------------------


@dataclass
class SyncedApp:
    name: str
    namespace: str
    sync_output: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def synced(env: Env) -> SyncedApp:
    """A manual Application created and synced through the CLI, then waited for."""
    name, namespace = "cli-pay", "cli-pay"
    await create_app(env, name, namespace, "--sync-policy", "none")
    sync = ok(await env.cli("app", "sync", name, "--timeout", "60"))
    ok(await env.cli("app", "wait", name, "--health", "--sync", "--timeout", "60"))
    return SyncedApp(name, namespace, sync)


@pytest.mark.asyncio(loop_scope="session")
async def test_app_sync_prints_live_progress_and_each_resource_result(synced: SyncedApp) -> None:
    lines = synced.sync_output.splitlines()
    progress = [line for line in lines if "operation" in line and line[:2].isdigit()]
    assert progress, synced.sync_output
    assert "operation Succeeded" in progress[-1]
    # the per-object results, then the operation summary
    table = [line.split() for line in lines]
    assert ["apps", "Deployment", synced.namespace, "payment-service", "Synced"] in [
        row[:5] for row in table
    ]
    assert any(row[:2] == ["Phase:", "Succeeded"] for row in table), synced.sync_output


@pytest.mark.asyncio(loop_scope="session")
async def test_app_get_shows_summary_resources_and_operation(env: Env, synced: SyncedApp) -> None:
    out = ok(await env.cli("app", "get", synced.name))
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())
    )
    assert fields["Name"] == synced.name
    assert fields["Sync Status"].startswith("Synced to HEAD (")
    assert fields["Health Status"] == "Healthy"
    assert fields["Sync Policy"] == "Manual"
    assert fields["Phase"] == "Succeeded"
    rows = [line.split() for line in out.splitlines()]
    assert ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"] in rows
    assert any(r[:5] == ["apps", "Deployment", synced.namespace, "payment-service", "Synced"]
               for r in rows)  # fmt: skip
    as_yaml = yaml.safe_load(ok(await env.cli("app", "get", synced.name, "-o", "yaml")))
    assert as_yaml["status"]["health"]["status"] == "Healthy"


@pytest.mark.asyncio(loop_scope="session")
async def test_app_wait_with_json_output_keeps_progress_on_stderr(
    env: Env, synced: SyncedApp
) -> None:
    result = await env.cli("app", "wait", synced.name, "--timeout", "30", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metadata"]["name"] == synced.name
    assert "sync Synced, health Healthy" in result.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_app_list_shows_argocd_columns_and_filters(env: Env, synced: SyncedApp) -> None:
    out = ok(await env.cli("app", "list"))
    header, *rows = [line.split() for line in out.splitlines()]
    assert header == [
        "NAME", "CLUSTER", "NAMESPACE", "PROJECT", "STATUS", "HEALTH", "SYNCPOLICY",
        "CONDITIONS", "REPO", "PATH", "TARGET",
    ]  # fmt: skip
    row = next(r for r in rows if r[0] == synced.name)
    assert row[1:] == [
        IN_CLUSTER, synced.namespace, "default", "Synced", "Healthy", "Manual", "<none>",
        env.repo_url, APP_PATH, "HEAD",
    ]  # fmt: skip
    healthy = json.loads(ok(await env.cli("app", "list", "--health", "Healthy", "-o", "json")))
    assert synced.name in [a["metadata"]["name"] for a in healthy]
    degraded = json.loads(ok(await env.cli("app", "list", "--health", "Degraded", "-o", "json")))
    assert synced.name not in [a["metadata"]["name"] for a in degraded]
    other = yaml.safe_load(ok(await env.cli("app", "list", "-p", "no-such-project", "-o", "yaml")))
    assert other == []


@pytest.mark.asyncio(loop_scope="session")
async def test_app_manifests_prints_the_desired_objects(env: Env, synced: SyncedApp) -> None:
    docs = list(yaml.safe_load_all(ok(await env.cli("app", "manifests", synced.name))))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    as_json = json.loads(ok(await env.cli("app", "manifests", synced.name, "-o", "json")))
    assert sorted(d["kind"] for d in as_json) == kinds
    table = ok(await env.cli("app", "manifests", synced.name, "-o", "table"))
    assert "payment-service-config" in table


@pytest.mark.asyncio(loop_scope="session")
async def test_app_diff_exit_code_is_0_when_synced_and_1_after_a_live_edit(
    env: Env, synced: SyncedApp
) -> None:
    clean = await env.cli("app", "diff", synced.name)
    assert clean.exit_code == 0 and clean.output == "", clean.output
    await env.kube("-n", synced.namespace, "scale", "deployment", "payment-service", "--replicas=5")

    async def drift_seen() -> Result | None:
        result = await env.cli("app", "diff", synced.name)
        return result if result.exit_code == 1 else None

    drift = await eventually(drift_seen, what="app diff exits 1 after kubectl scale")
    assert "===== apps/Deployment" in drift.output and "replicas" in drift.output
    assert (await env.cli("app", "diff", synced.name, "--no-exit-code")).exit_code == 0
    structured = json.loads((await env.cli("app", "diff", synced.name, "-o", "json")).output)
    assert [d["kind"] for d in structured] == ["Deployment"]

    # sync puts Git's replica count back; the diff is clean again
    ok(await env.cli("app", "sync", synced.name, "--timeout", "60"))
    clean_again = await eventually(
        lambda: _diff_exit(env, synced.name, 0), what="app diff exits 0 after the sync"
    )
    assert clean_again


async def _diff_exit(env: Env, name: str, code: int) -> bool:
    return (await env.cli("app", "diff", name)).exit_code == code


@pytest.mark.asyncio(loop_scope="session")
async def test_app_history_and_rollback(env: Env, synced: SyncedApp) -> None:
    out = ok(await env.cli("app", "history", synced.name))
    header, *rows = [line.split() for line in out.splitlines()]
    assert header[:5] == ["ID", "DATE", "REVISION", "TRIGGER", "INITIATED"]
    assert rows and rows[0][0] == "0" and rows[0][3:5] == ["manual", "admin"]
    assert out.splitlines()[1].endswith("Initial manifests")
    history = json.loads(ok(await env.cli("app", "history", synced.name, "-o", "json")))
    first = history[0]["id"]
    rollback = ok(await env.cli("app", "rollback", synced.name, str(first), "--timeout", "60"))
    assert "operation Succeeded" in rollback
    missing = await env.cli("app", "rollback", synced.name, "999")
    clean_error(missing, "999")


@pytest.mark.asyncio(loop_scope="session")
async def test_app_wait_health_times_out_with_a_clear_message(env: Env) -> None:
    # created but never synced: its objects are Missing, so it cannot become Healthy
    await create_app(env, "cli-unsynced", "cli-unsynced")
    await eventually(
        lambda: _health_is(env, "cli-unsynced", "Missing"), what="the unsynced app is Missing"
    )
    result = await env.cli("app", "wait", "cli-unsynced", "--health", "--timeout", "1")
    line = clean_error(result, "timed out after 1s", code=1)
    assert "Healthy (is Missing)" in line
    assert "health Missing" in result.stdout  # the progress line before giving up


async def _health_is(env: Env, name: str, health: str) -> bool:
    return (await app_json(env, name)).get("status", {}).get("health", {}).get("status") == health


@pytest.mark.asyncio(loop_scope="session")
async def test_app_sync_to_an_unknown_revision_fails_with_exit_1(env: Env) -> None:
    await create_app(env, "cli-badrev", "cli-badrev")
    result = await env.cli(
        "app", "sync", "cli-badrev", "--revision", "no-such-branch", "--timeout", "60"
    )
    line = clean_error(result, "operation ", code=1)
    assert "Failed" in line or "Error" in line


@pytest.mark.asyncio(loop_scope="session")
async def test_app_sync_of_one_resource_and_dry_run(env: Env) -> None:
    await create_app(env, "cli-partial", "cli-partial")
    dry = ok(await env.cli("app", "sync", "cli-partial", "--dry-run", "--timeout", "60"))
    assert "operation Succeeded" in dry
    assert (await env.kube("-n", "cli-partial", "get", "configmap", "payment-service-config",
                           check=False)).returncode != 0  # fmt: skip
    one = ok(
        await env.cli(
            "app", "sync", "cli-partial", "--resource", ":ConfigMap:payment-service-config",
            "--timeout", "60",
        )
    )  # fmt: skip
    assert "payment-service-config" in one
    await env.kube("-n", "cli-partial", "get", "configmap", "payment-service-config")
    deployment = await env.kube("-n", "cli-partial", "get", "deployment", "payment-service",
                                check=False)  # fmt: skip
    assert deployment.returncode != 0, "only the chosen object is synced"


@pytest.mark.asyncio(loop_scope="session")
async def test_app_set_changes_the_spec(env: Env) -> None:
    await create_app(env, "cli-set", "cli-set")
    ok(
        await env.cli(
            "app", "set", "cli-set", "--revision", "main", "--sync-policy", "automated",
            "--self-heal", "--sync-option", "Validate=false",
        )
    )  # fmt: skip
    spec = (await app_json(env, "cli-set"))["spec"]
    assert spec["source"]["targetRevision"] == "main"
    assert spec["syncPolicy"]["automated"] == {"selfHeal": True}
    assert spec["syncPolicy"]["syncOptions"] == ["Validate=false"]
    usage = await env.cli("app", "set", "cli-set")
    assert usage.exit_code == 2 and "nothing to set" in usage.output


@pytest.mark.asyncio(loop_scope="session")
async def test_app_create_from_a_file_upsert_and_delete(env: Env, tmp_path: Path) -> None:
    await env.namespace("cli-file")
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "cli-file"},
        "spec": {
            "project": "default",
            "source": {"repoURL": env.repo_url, "path": APP_PATH, "targetRevision": "HEAD"},
            "destination": {"server": IN_CLUSTER, "namespace": "cli-file"},
        },
    }
    file = tmp_path / "app.yaml"
    file.write_text(yaml.safe_dump(manifest))
    assert "application 'cli-file' created" in ok(await env.cli("app", "create", "-f", str(file)))
    changed = await env.cli("app", "create", "-f", str(file), "--revision", "main")
    clean_error(changed, "already exists")
    ok(await env.cli("app", "create", "-f", str(file), "--revision", "main", "--upsert"))
    assert (await app_json(env, "cli-file"))["spec"]["source"]["targetRevision"] == "main"

    assert "deleted" in ok(await env.cli("app", "delete", "cli-file", "--no-cascade", "-y"))

    async def gone() -> bool:
        return (await env.cli("app", "get", "cli-file")).exit_code == 2

    await eventually(gone, what="the deleted app is gone")
    clean_error(await env.cli("app", "get", "cli-file"), "cli-file")


# ---- projects, repositories, clusters -----------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_proj_create_list_and_get(env: Env) -> None:
    created = await env.cli(
        "proj", "create", "cli-team", "--description", "the CLI team",
        "-s", env.repo_url, "-d", f"{IN_CLUSTER},cli-*",
        "--allow-cluster-resource", "/Namespace",
    )  # fmt: skip
    assert "project 'cli-team' created" in ok(created)
    rows = [line.split() for line in ok(await env.cli("proj", "list")).splitlines()]
    assert rows[0][:2] == ["NAME", "DESCRIPTION"]
    assert any(r[0] == "cli-team" for r in rows) and any(r[0] == "default" for r in rows)
    got = ok(await env.cli("proj", "get", "cli-team"))
    assert "the CLI team" in got and f"{IN_CLUSTER},cli-*" in got and "/Namespace" in got
    as_json = json.loads(ok(await env.cli("proj", "get", "cli-team", "-o", "json")))
    assert as_json["spec"]["sourceRepos"] == [env.repo_url]
    clean_error(await env.cli("proj", "get", "no-such-project"), "no-such-project")


@pytest.mark.asyncio(loop_scope="session")
async def test_proj_windows_list_and_app_get_show_the_sync_windows(env: Env) -> None:
    windows = [
        {"kind": "deny", "schedule": "* * * * *", "duration": "24h", "namespaces": ["cli-win"]},
        {"kind": "allow", "schedule": "0 6 * * 1-5", "duration": "10h", "clusters": ["other"],
         "manualSync": True, "timeZone": "Europe/Berlin"},
    ]  # fmt: skip
    await env.kube(
        "apply", "--server-side", "-f", "-",
        input=yaml.safe_dump({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "cli-win", "namespace": env.controller.namespace},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                     "syncWindows": windows},
        }),
    )  # fmt: skip
    rows = [line.split() for line in ok(await env.cli("proj", "windows", "list", "cli-win"))
            .splitlines()]  # fmt: skip
    assert rows[0][:5] == ["ID", "STATUS", "KIND", "SCHEDULE", "DURATION"]
    assert rows[1][:3] == ["0", "Active", "deny"] and rows[1][-2:] == ["Disabled", "UTC"]
    assert rows[2][:3] == ["1", "Inactive", "allow"] and rows[2][-2:] == [
        "Enabled",
        "Europe/Berlin",
    ]
    await create_app(env, "cli-win", "cli-win", "--project", "cli-win", "--sync-policy", "none")
    got = ok(await env.cli("app", "get", "cli-win"))
    assert "Sync Window:" in got and "Sync Denied (sync denied by window #0 deny" in got
    assert "Assigned Windows:" in got and "deny:* * * * *:24h" in got
    refused = await env.cli("app", "sync", "cli-win")
    assert refused.exit_code != 0 and "cannot sync: sync denied by window #0" in refused.output
    clean_error(await env.cli("proj", "windows", "list", "no-such-project"), "no-such-project")


@pytest.mark.asyncio(loop_scope="session")
async def test_repo_add_and_list_never_show_the_password(env: Env) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    added = await env.cli(
        "repo", "add", "https://git.example.com/team/private.git", "--username", "bot",
        "--password-stdin", input=secret + "\n",
    )  # fmt: skip
    assert "added" in ok(added)
    listing = ok(await env.cli("repo", "list"))
    row = next(line.split() for line in listing.splitlines() if "private.git" in line)
    assert row[:3] == ["git", "https://git.example.com/team/private.git", "bot"]
    for output in ("json", "yaml"):
        assert secret not in ok(await env.cli("repo", "list", "-o", output))
    assert secret not in listing and secret not in added.output


@pytest.mark.asyncio(loop_scope="session")
async def test_cluster_add_and_list(env: Env, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token = "cluster-token-" + uuid.uuid4().hex
    added = await env.cli(
        "cluster", "add", "cli-remote", "--server", "https://10.1.2.3:6443",
        "--token", token, "--ca", str(ca),
    )  # fmt: skip
    assert "cluster 'cli-remote'" in ok(added)
    listing = ok(await env.cli("cluster", "list"))
    assert ["https://10.1.2.3:6443", "cli-remote"] in [
        line.split()[:2] for line in listing.splitlines()
    ]
    as_json = ok(await env.cli("cluster", "list", "-o", "json"))
    assert token not in as_json and token not in added.output


# ---- TLS ----------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (the CA a user would pass to --ca)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tether-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.asyncio(loop_scope="session")
async def test_login_over_tls_needs_the_ca_or_insecure(env: Env, tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = await run_server(
        env.controller, listen="127.0.0.1:0", tls_cert=str(cert), tls_key=str(key)
    )
    try:
        assert server.url.startswith("https://")
        password = env.admin_password + "\n"
        untrusted = await env.cli("login", server.url, "--password-stdin", token=None,
                                  input=password)  # fmt: skip
        clean_error(untrusted, "--ca FILE")
        trusted = await env.cli("login", server.url, "--password-stdin", "--ca", str(cert),
                                token=None, input=password)  # fmt: skip
        assert "Logged in" in ok(trusted)
        # later commands reuse the saved CA
        runner = CliRunner(env={"TETHER_SERVER": None, "TETHER_TOKEN": None})
        ok(await asyncio.to_thread(runner.invoke, CLI, ["proj", "list"]))
        insecure = await env.cli("login", server.url.removeprefix("https://"), "--insecure",
                                 "--password-stdin", token=None, input=password)  # fmt: skip
        assert "Logged in" in ok(insecure)
    finally:
        await server.stop()
