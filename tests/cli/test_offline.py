"""The client commands' own logic, without a server: config file, flags, output, error lines.

Commands here point at a closed port or at no server at all; every failure must be one
``error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from tether.cli.api import (
    NOT_LOGGED_IN,
    ApiClient,
    ApiClientError,
    CliConfig,
    CliConfigError,
    ServerEntry,
    normalize_server,
    resolve_connection,
)
from tether.cli.app import (
    APP_COLUMNS,
    SpecChanges,
    WaitFor,
    app_row,
    build_application,
    conditions_text,
    differing_resources,
    operation_done,
    parse_resource,
    sync_policy_text,
    unified_diff_of,
)
from tether.cli.clusters_cmd import cluster_request
from tether.cli.main import cli
from tether.cli.repo import repository_request

from .conftest import CLI


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(CLI, list(args), input=input)


def assert_clean_error(result: Result, fragment: str, code: int = 2) -> None:
    """One ``error:`` line, last on stderr, containing ``fragment``, exit ``code``, no traceback."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.output


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def application(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "payment-service"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "http://git/repo.git",
                "path": "apps/pay",
                "targetRevision": "v1",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "pay"},
            "syncPolicy": {"automated": {"prune": True}},
        },
        "status": status,
    }


# ---- config file ----------------------------------------------------------------------------


def test_config_file_is_private_and_round_trips(isolated_config: Path) -> None:
    config = CliConfig.load()
    assert config.path == isolated_config and config.current is None
    config.servers["https://tether.example"] = ServerEntry("tok-123", "admin", True, None)
    config.current = "https://tether.example"
    config.save()
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    again = CliConfig.load()
    assert again.current == "https://tether.example"
    assert again.servers["https://tether.example"] == ServerEntry("tok-123", "admin", True, None)


def test_malformed_config_file_is_a_clean_error(isolated_config: Path) -> None:
    isolated_config.parent.mkdir(parents=True)
    isolated_config.write_text("servers: [unclosed")
    with pytest.raises(CliConfigError, match="not valid YAML"):
        CliConfig.load()
    assert_clean_error(run("app", "list"), "is not valid YAML")


def test_flags_override_environment_which_overrides_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = CliConfig.load()
    config.servers["https://saved:8080"] = ServerEntry("saved-token", insecure=True)
    config.current = "https://saved:8080"
    config.save()
    saved = resolve_connection(None, None)
    assert (saved.server, saved.token, saved.verify) == ("https://saved:8080", "saved-token", False)
    monkeypatch.setenv("TETHER_SERVER", "http://env:1")
    monkeypatch.setenv("TETHER_TOKEN", "env-token")
    from_env = resolve_connection(None, None)
    assert (from_env.server, from_env.token) == ("http://env:1", "env-token")
    from_flags = resolve_connection("flag:2", "flag-token")
    assert (from_flags.server, from_flags.token) == ("https://flag:2", "flag-token")


def test_server_addresses_are_normalized() -> None:
    assert normalize_server("tether.example:443/") == "https://tether.example:443"
    assert normalize_server("127.0.0.1:8080", plaintext=True) == "http://127.0.0.1:8080"
    assert normalize_server("http://x:1") == "http://x:1"
    with pytest.raises(CliConfigError):
        normalize_server("ftp://x")


# ---- failures without a server ----------------------------------------------------------------


def test_no_server_configured_says_to_log_in() -> None:
    assert_clean_error(run("app", "list"), "run tether login")


def test_connection_refused_is_one_error_line() -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    for args in (
        ("app", "list"),
        ("app", "get", "x"),
        ("app", "diff", "x"),
        ("app", "sync", "x"),
        ("app", "wait", "x", "--timeout", "1"),
        ("proj", "list"),
        ("repo", "list"),
    ):
        assert_clean_error(run(*args, "--server", server), "connection refused")
    result = CliRunner(env={"TETHER_SERVER": server}).invoke(CLI, ["cluster", "list"])
    assert_clean_error(result, "connection refused")
    login = run("login", server, "--password", "x")
    assert_clean_error(login, "connection refused")


def test_login_refuses_two_password_sources() -> None:
    result = run("login", "http://x", "--password", "a", "--password-stdin", input="b\n")
    assert result.exit_code == 2 and "only one of" in result.output


def test_login_without_password_or_terminal_is_an_error() -> None:
    assert_clean_error(run("login", "http://127.0.0.1:1"), "no password")


def test_logout_when_not_logged_in_is_an_error() -> None:
    assert_clean_error(run("logout"), "not logged in")


def test_delete_without_confirmation_changes_nothing() -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    result = run("app", "delete", "pay", "--server", server, input="n\n")
    assert_clean_error(result, "not confirmed")


def test_bad_resource_flag_is_a_usage_error() -> None:
    result = run("app", "sync", "x", "--server", "http://127.0.0.1:1", "--resource", "Deployment")
    assert result.exit_code == 2 and "GROUP:KIND:NAME" in result.output


def test_unknown_output_format_is_a_usage_error() -> None:
    result = run("app", "list", "-o", "xml")
    assert result.exit_code == 2 and "xml" in result.output


# ---- the HTTP client's error messages ----------------------------------------------------------


def client_answering(status: int, body: Any) -> ApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return ApiClient("http://tether.test", "tok", transport=httpx.MockTransport(answer))


def test_401_tells_to_log_in_but_sign_in_keeps_the_servers_reason() -> None:
    with pytest.raises(ApiClientError, match="run tether login") as info:
        client_answering(401, {"error": "token expired", "code": 401}).list_applications()
    assert str(info.value) == NOT_LOGGED_IN and info.value.status == 401
    with pytest.raises(ApiClientError, match="invalid username or password"):
        client_answering(401, {"error": "invalid username or password"}).sign_in("a", "b")


def test_403_and_other_errors_carry_the_servers_message() -> None:
    refused = {"error": "permission denied: applications, sync, default/pay", "code": 403}
    with pytest.raises(ApiClientError, match="permission denied: applications, sync"):
        client_answering(403, refused).sync_application("pay", {})
    with pytest.raises(ApiClientError, match="HTTP 502"):
        client_answering(502, "<html>bad gateway</html>").application("pay")
    with pytest.raises(ApiClientError, match="not JSON"):
        client_answering(200, "<html>a web page</html>").application("pay")


def test_names_cannot_escape_their_path_segment() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={})

    client = ApiClient("http://tether.test", transport=httpx.MockTransport(answer))
    client.application("../../session")
    assert seen == ["/api/v1/applications/..%2F..%2Fsession"]


def test_list_filters_become_repeated_query_parameters() -> None:
    seen: list[httpx.QueryParams] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json={"items": []})

    client = ApiClient("http://tether.test", transport=httpx.MockTransport(answer))
    client.list_applications(["a", "b"], "Synced", None, "team=pay")
    assert seen[0].get_list("project") == ["a", "b"]
    assert seen[0]["sync"] == "Synced" and seen[0]["selector"] == "team=pay"
    assert "health" not in seen[0]


# ---- output ---------------------------------------------------------------------------------------


def test_app_row_has_argocd_columns() -> None:
    app = application(
        sync={"status": "OutOfSync"},
        health={"status": "Progressing"},
        conditions=[{"type": "SyncError"}, {"type": "SyncError"}, {"type": "ComparisonError"}],
    )
    row = dict(zip(APP_COLUMNS, app_row(app), strict=True))
    assert row == {
        "NAME": "payment-service",
        "CLUSTER": "https://kubernetes.default.svc",
        "NAMESPACE": "pay",
        "PROJECT": "default",
        "STATUS": "OutOfSync",
        "HEALTH": "Progressing",
        "SYNCPOLICY": "Auto-Prune",
        "CONDITIONS": "SyncError(2),ComparisonError",
        "REPO": "http://git/repo.git",
        "PATH": "apps/pay",
        "TARGET": "v1",
    }
    del app["spec"]["syncPolicy"]
    assert sync_policy_text(app) == "Manual" and conditions_text(application()) == "<none>"


def test_table_output_keeps_whole_cells_when_piped() -> None:
    from tether.cli.api import print_table

    @click.command()
    def show() -> None:
        print_table(("NAME", "REPO"), [("a" * 30, "https://example.com/" + "x" * 200)])

    result = CliRunner().invoke(show)
    lines = result.output.splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert lines[0].split() == ["NAME", "REPO"]
    assert lines[1].split() == ["a" * 30, "https://example.com/" + "x" * 200]


# ---- building requests from flags ---------------------------------------------------------------


def test_create_builds_the_application_from_flags() -> None:
    changes = SpecChanges(
        repo="http://git/r.git",
        path="apps/x",
        dest_server="https://kubernetes.default.svc",
        dest_namespace="x",
        sync_policy="automated",
        auto_prune=True,
        self_heal=True,
        sync_options=("CreateNamespace=true",),
    )
    app = build_application("x", None, changes)
    assert app["metadata"] == {"name": "x"}
    assert app["spec"] == {
        "project": "default",
        "source": {"repoURL": "http://git/r.git", "path": "apps/x"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["CreateNamespace=true"],
        },
    }


def test_create_flags_override_the_file(tmp_path: Path) -> None:
    file = tmp_path / "app.yaml"
    file.write_text(yaml.safe_dump(application()))
    app = build_application(None, str(file), SpecChanges(revision="v2", sync_policy="none"))
    assert app["metadata"]["name"] == "payment-service"
    assert app["spec"]["source"]["targetRevision"] == "v2"
    assert "syncPolicy" not in app["spec"]


def test_create_without_repo_or_destination_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match="--repo"):
        build_application("x", None, SpecChanges(path="p", dest_server="s"))
    with pytest.raises(click.UsageError, match="--dest-server"):
        build_application("x", None, SpecChanges(repo="r", path="p"))
    result = run(
        "app",
        "create",
        "x",
        "--repo",
        "r",
        "--path",
        "p",
        "--auto-prune",
        "--dest-server",
        "s",
        "--server",
        "http://127.0.0.1:1",
    )
    assert_clean_error(result, "--sync-policy automated")


def test_set_replaces_helm_parameters_and_sync_options_by_key() -> None:
    app = application()
    app["spec"]["source"]["helm"] = {"parameters": [{"name": "replicas", "value": "1"}]}
    app["spec"]["syncPolicy"]["syncOptions"] = ["Prune=false"]
    SpecChanges(
        helm_parameters=(("replicas", "3"), ("image.tag", "v2")),
        sync_options=("Prune=true",),
        dest_name="prod",
    ).apply(app)
    assert app["spec"]["source"]["helm"]["parameters"] == [
        {"name": "replicas", "value": "3"},
        {"name": "image.tag", "value": "v2"},
    ]
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["Prune=true"]
    assert app["spec"]["destination"] == {"name": "prod", "namespace": "pay"}


def test_resource_flags_parse_like_argocd() -> None:
    assert parse_resource("apps:Deployment:web") == {
        "group": "apps",
        "kind": "Deployment",
        "namespace": "",
        "name": "web",
    }
    assert parse_resource(":ConfigMap:ns/cfg") == {
        "group": "",
        "kind": "ConfigMap",
        "namespace": "ns",
        "name": "cfg",
    }
    with pytest.raises(click.BadParameter):
        parse_resource("apps:Deployment:")


def test_repository_and_cluster_requests_carry_only_what_is_given() -> None:
    assert repository_request("https://g/r.git", "bob", "pw", None, False) == {
        "repo": "https://g/r.git",
        "username": "bob",
        "password": "pw",
    }
    with pytest.raises(click.UsageError):
        repository_request("r", None, "pw", None, False)
    body = cluster_request("prod", "https://k:6443", "t0k", b"PEM", False)
    assert body["config"] == {"bearerToken": "t0k", "tlsClientConfig": {"caData": "UEVN"}}


# ---- diff and wait logic --------------------------------------------------------------------------


def test_only_out_of_sync_resources_are_differences() -> None:
    items = [
        {"kind": "Service", "name": "a", "status": "Synced", "diff": ""},
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": "pay",
            "name": "web",
            "status": "OutOfSync",
            "liveState": {"spec": {"replicas": 5}},
            "targetState": {"spec": {"replicas": 2}},
        },
    ]
    differing = differing_resources(items)
    assert [d["name"] for d in differing] == ["web"]
    text = unified_diff_of(differing[0])
    assert "-  replicas: 5" in text and "+  replicas: 2" in text
    assert "apps/Deployment pay/web" in text


def test_wait_conditions_name_what_is_missing() -> None:
    app = application(sync={"status": "Synced"}, health={"status": "Progressing"})
    assert WaitFor().unmet(app) == ["Healthy (is Progressing)"]
    assert WaitFor(sync=True, health=False, operation=False).unmet(app) == []
    app["operation"] = {"sync": {}}
    assert not operation_done(app)
    stale = application(
        sync={
            "status": "Synced",
            "comparedTo": {
                "source": {
                    "repoURL": "http://git/repo.git",
                    "path": "apps/pay",
                    "targetRevision": "v0",
                }
            },
        },
    )
    assert WaitFor(True, False, False).unmet(stale) == ["Synced (is Synced)"]


def test_json_and_yaml_outputs_parse() -> None:
    from tether.cli.api import print_data

    @click.command()
    @click.argument("fmt")
    def show(fmt: str) -> None:
        print_data([application()], fmt)

    assert json.loads(CliRunner().invoke(show, ["json"]).output)[0]["spec"]["project"] == "default"
    assert yaml.safe_load(CliRunner().invoke(show, ["yaml"]).output)[0]["metadata"]["name"]


def test_a_sigstore_trusted_root_that_is_not_one_stops_the_controller_at_once(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "trusted_root.json"
    bad.write_text('{"mediaType": "application/json"}')
    result = CliRunner().invoke(cli, ["controller", "--sigstore-trusted-root", str(bad)])
    assert result.exit_code == 2, result.output
    assert "--sigstore-trusted-root: trusted root" in result.output
    assert "is not a Sigstore trusted root: mediaType" in result.output
    missing = CliRunner().invoke(
        cli, ["controller", "--sigstore-trusted-root", str(tmp_path / "none.json")]
    )
    assert missing.exit_code == 2 and "No such file" in missing.output


def test_flux_concurrency_is_a_bounded_controller_flag() -> None:
    result = CliRunner().invoke(cli, ["controller", "--flux-concurrent", "0"])
    assert result.exit_code == 2 and "--flux-concurrent" in result.output
