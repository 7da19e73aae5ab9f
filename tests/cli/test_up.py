"""``tether up`` as a user runs it: a process, its banner, its state folder, its ports, a push.

Each test starts its own ``tether up`` (local cluster, Git server, controller, API server) with
its own state and HOME, and stops it with SIGINT as Ctrl-C would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tether.localcluster.testing import Kubectl, kubectl_runner, wait_until

pytestmark = pytest.mark.slow

TETHER = [sys.executable, "-m", "tether.cli.main"]
STARTED = "Stop with Ctrl-C."
#: a start takes a few seconds; on a loaded 2-core machine much more
START_TIMEOUT = 120.0


@dataclass
class Up:
    """A running ``tether up`` and what it printed."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text()

    def errors(self) -> str:
        return self.stderr.read_text()

    def banner(self) -> str:
        def started() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"tether up exited {self.process.returncode}: {self.errors()}")
            return STARTED in self.output()

        wait_until(started, timeout=START_TIMEOUT, what="the banner", interval=0.2)
        return self.output()

    def field(self, label: str) -> str:
        """The first word after ``label`` in the banner (a URL)."""
        found = re.search(rf"^  {label}\s+(\S+)", self.banner(), re.MULTILINE)
        assert found, f"no {label!r} line in the banner:\n{self.output()}"
        return found.group(1).rstrip("/")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def user_env(tmp: Path) -> dict[str, str]:
    """A user with an empty home: no git identity, no tether config, data under ``tmp``."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_", "TETHER_"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        GIT_CONFIG_NOSYSTEM="1",
        TETHER_CONFIG=str(tmp / "config" / "tether.yaml"),
    )
    return env


@contextmanager
def tether_up(tmp: Path, env: dict[str, str], *args: str, cwd: Path | None = None) -> Iterator[Up]:
    runs = len(list(tmp.glob("up-*.out")))
    stdout, stderr = tmp / f"up-{runs}.out", tmp / f"up-{runs}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*TETHER, "up", *args], stdout=out, stderr=err, env=env, cwd=cwd or tmp
        )
    up = Up(process, stdout, stderr)
    try:
        yield up
    finally:
        up.stop()


@contextmanager
def held_ports(*ports: int) -> Iterator[None]:
    """Listen on ``ports`` (those another program holds already are taken just the same)."""
    with ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            # a port left in TIME_WAIT by a stopped server can be taken again, as tether up would
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with suppress(OSError):  # another program listens there: taken all the same
                sock.bind(("127.0.0.1", port))
                sock.listen(1)
        yield


def on_free_ports(state: Path) -> tuple[str, ...]:
    """Arguments of a start kept in ``state`` that takes free ports (tests run side by side)."""
    return ("--state", str(state), "--port", "0", "--listen", "127.0.0.1:0")


def refused(env: dict[str, str], *args: str) -> str:
    """Run a ``tether up`` that must stop at once with a message; return its stderr."""
    done = subprocess.run(
        [*TETHER, "up", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def repo_urls(kubectl: Kubectl) -> set[str]:
    """The repository URLs of the demo's Applications."""
    out = kubectl("-n", "argocd", "get", "applications", "-o", "yaml").stdout
    return {app["spec"]["source"]["repoURL"] for app in yaml.safe_load(out)["items"]}


def git(work: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def test_up_keeps_its_state_in_the_data_folder_and_moves_off_taken_default_ports(
    tmp_path: Path,
) -> None:
    env = user_env(tmp_path)
    cwd = tmp_path / "project"
    cwd.mkdir()
    with held_ports(6443, 8080), tether_up(tmp_path, env, cwd=cwd) as up:
        cluster, api = up.field("cluster"), up.field("UI and API")
        assert not cluster.endswith(":6443") and not api.endswith(":8080"), up.output()
        cluster_port, api_port = cluster.rpartition(":")[2], api.rpartition(":")[2]
        errors = up.errors()
        assert (
            "tether up: port 6443 is in use: the local cluster listens on "
            f"127.0.0.1:{cluster_port} instead" in errors
        ), errors
        assert (
            f"tether up: port 8080 is in use: the UI and API listens on 127.0.0.1:{api_port}"
            in errors
        ), errors
        assert f"port 6443 is in use: the local cluster listens on 127.0.0.1:{cluster_port}" in (
            up.output()
        )
        state = tmp_path / "data" / "tether" / "demo"
        assert f"state in {state}" in up.output()
        kubectl = kubectl_runner(state / "kubeconfig", tmp_path)
        assert kubectl("get", "namespace", "argocd").returncode == 0
    assert list(cwd.iterdir()) == [], "tether up wrote into the current directory"
    assert (state / "demo.json").is_file() and (state / "git" / "k8s-manifests.git").is_dir()


def test_a_port_the_user_chose_that_is_taken_is_an_error(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        for option, value in (("--port", str(port)), ("--listen", f"127.0.0.1:{port}")):
            errors = refused(env, "--state", str(tmp_path / "state"), option, value)
            assert f"127.0.0.1:{port} ({option}) is in use" in errors, errors


def test_the_git_server_keeps_its_port_across_restarts(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    state = tmp_path / "state"
    with tether_up(tmp_path, env, *on_free_ports(state)) as first:
        url = first.field("git")
    with tether_up(tmp_path, env, *on_free_ports(state)) as second:
        assert second.field("git") == url
        assert repo_urls(kubectl_runner(state / "kubeconfig", tmp_path)) == {url}
    port = int(url.split(":")[2].split("/")[0])
    with held_ports(port):
        errors = refused(env, *on_free_ports(state))
    assert f"the demo's Git server cannot listen on its port {port} again" in errors
    assert str(state / "demo.json") in errors and "--git-port" in errors


def test_git_port_moves_the_server_and_the_demo_apps_follow(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    state = tmp_path / "state"
    with tether_up(tmp_path, env, *on_free_ports(state)) as first:
        old = first.field("git")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with tether_up(tmp_path, env, *on_free_ports(state), "--git-port", str(free)) as moved:
        new = moved.field("git")
        assert new == f"http://127.0.0.1:{free}/k8s-manifests.git" != old
        kubectl = kubectl_runner(state / "kubeconfig", tmp_path)
        assert repo_urls(kubectl) == {new}
        assert git(state / "k8s-manifests", env, "remote", "get-url", "origin") == new


def _image(kubectl: Kubectl, namespace: str) -> str:
    """The Deployment's image, "" while the first sync has not created it yet."""
    image = "jsonpath={.spec.template.spec.containers[0].image}"
    got = kubectl("-n", namespace, "get", "deploy", "payment-service", "-o", image, check=False)
    if got.returncode != 0 and "NotFound" not in got.stderr:
        raise AssertionError(f"kubectl get deploy in {namespace}: {got.stderr}")
    return got.stdout


def test_a_push_deploys_staging_at_once_and_production_waits_for_a_sync(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    state = tmp_path / "state"
    # polls an hour apart: only the push itself can make the change reach the cluster
    with tether_up(tmp_path, env, *on_free_ports(state), "--reconcile-interval", "3600") as up:
        api = up.field("UI and API")
        kubectl = kubectl_runner(state / "kubeconfig", tmp_path)
        apps = yaml.safe_load(kubectl("-n", "argocd", "get", "applications", "-o", "yaml").stdout)
        policies = {a["metadata"]["name"]: a["spec"]["syncPolicy"] for a in apps["items"]}
        automated = {"automated": {"prune": True, "selfHeal": True}}
        manual = {"automated": {"enabled": False, "selfHeal": True}}
        assert policies == {
            "payment-service-staging": automated,
            "catalog-service-staging": automated,
            "payment-service-production": manual,
            "catalog-service-production": manual,
        }
        for env_name in ("staging", "production"):
            wait_until(
                lambda e=env_name: _image(kubectl, f"payment-service-{e}").endswith(":1.4.0"),
                timeout=60,
                what=f"payment-service deployed to {env_name}",
            )
        _push_new_tag(state / "k8s-manifests", env)
        wait_until(
            lambda: _image(kubectl, "payment-service-staging").endswith(":1.5.0"),
            timeout=60,
            what="staging deployed from the push",
        )
        wait_until(
            lambda: _sync_status(kubectl, "payment-service-production") == "OutOfSync",
            timeout=60,
            what="production OutOfSync with the new commit",
        )
        assert _image(kubectl, "payment-service-production").endswith(":1.4.0")
        _scale_is_reverted(kubectl, kubectl_runner(state / "admin.kubeconfig", tmp_path))
        # staging is the people's to change (drift there is reverted too: selfHeal)
        staging = "payment-service-staging"
        kubectl("-n", staging, "annotate", "deploy/payment-service", "tried=yes")
        _sync_with_the_cli(api, state, env)
        wait_until(
            lambda: _image(kubectl, "payment-service-production").endswith(":1.5.0"),
            timeout=60,
            what="production deployed by the manual sync",
        )


def _push_new_tag(work: Path, env: dict[str, str]) -> None:
    """What the banner says to do: edit newTag in both overlays, commit, plain `git push`."""
    for env_name in ("staging", "production"):
        overlay = work / "apps" / "payment-service" / env_name / "kustomization.yaml"
        overlay.write_text(overlay.read_text().replace("newTag: 1.4.0", "newTag: 1.5.0"))
    git(work, env, "commit", "-qam", "bump payment-service to 1.5.0")
    git(work, env, "push", "-q")


def _sync_status(kubectl: Kubectl, name: str) -> str:
    status = "jsonpath={.status.sync.status}"
    return kubectl("-n", "argocd", "get", "application", name, "-o", status).stdout


def _scale_is_reverted(kubectl: Kubectl, admin: Kubectl) -> None:
    """People may not touch production; the admin's drift goes back to what the last sync
    deployed, not to the new commit."""
    ns = "payment-service-production"
    refused = kubectl("-n", ns, "scale", "deploy/payment-service", "--replicas=5", check=False)
    assert refused.returncode != 0
    assert (
        'User "developer" cannot patch resource "deployments/scale" in API group "apps" '
        f'in the namespace "{ns}"' in refused.stderr
    ), refused.stderr
    admin("-n", ns, "scale", "deploy/payment-service", "--replicas=5")

    def replicas() -> str:
        wanted = "jsonpath={.spec.replicas}"
        return kubectl("-n", ns, "get", "deploy", "payment-service", "-o", wanted).stdout

    wait_until(lambda: replicas() == "2", timeout=30, what="production scale reverted")
    assert _image(kubectl, ns).endswith(":1.4.0"), "drift was reverted to the new commit"


def _sync_with_the_cli(api: str, state: Path, env: dict[str, str]) -> None:
    """`tether login` and `tether app sync` as the banner says."""
    with (state / "admin-password").open() as password:
        login = subprocess.run(
            [*TETHER, "login", api, "--username", "admin", "--password-stdin"],
            stdin=password,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert login.returncode == 0, login.stdout + login.stderr
    sync = subprocess.run(
        [*TETHER, "app", "sync", "payment-service-production", "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stdout + sync.stderr


def test_a_mistyped_tag_is_pulled_in_vain_and_the_app_turns_degraded(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    state = tmp_path / "state"
    with tether_up(tmp_path, env, *on_free_ports(state), "--reconcile-interval", "3600") as up:
        assert f"images      {state / 'images.txt'}" in up.banner()
        kubectl = kubectl_runner(state / "kubeconfig", tmp_path)
        work = state / "k8s-manifests"
        overlay = work / "apps" / "catalog-service" / "staging" / "kustomization.yaml"
        overlay.write_text(overlay.read_text().replace("newTag: 2.1.3", "newTag: 2.2.O"))
        git(work, env, "commit", "-qam", "catalog-service 2.2.O (a typo)")
        git(work, env, "push", "-q")

        def waiting_reasons() -> set[str]:
            wanted = "jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}"
            ns = "catalog-service-staging"
            return set(kubectl("-n", ns, "get", "pods", "-o", wanted).stdout.split())

        wait_until(
            lambda: waiting_reasons() & {"ErrImagePull", "ImagePullBackOff"},
            timeout=60,
            what="the new pod failing to pull 2.2.O",
        )

        def health() -> str:
            wanted = "jsonpath={.status.health.status}"
            app = "catalog-service-staging"
            return kubectl("-n", "argocd", "get", "application", app, "-o", wanted).stdout

        # the demo's progress deadline is 600 s x 0.1
        wait_until(lambda: health() == "Degraded", timeout=180, what="the app Degraded")


def test_ctrl_c_while_the_demo_starts_stops_it_without_a_traceback(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    state = tmp_path / "state"
    with tether_up(tmp_path, env, *on_free_ports(state)) as up:
        # demo.json is written before the cluster, the controller and the server start
        wait_until(lambda: (state / "demo.json").exists(), timeout=START_TIMEOUT, what="demo.json")
        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(timeout=60) == 130, up.errors()
    assert STARTED not in up.output()
    assert "Traceback" not in up.errors(), up.errors()
