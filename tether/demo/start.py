"""Starting the demo's parts that run beside the controller: the Git server and the local cluster.

``start_demo`` chooses every port first (a port the user chose that is taken fails before
anything starts), serves the repository on the port of the last start, prepares the working
copy, then starts the cluster. ``relay_pushes`` turns a push into an immediate poll.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.demo.errors import DemoError, DemoPortError, DemoStateError
from tether.demo.images import TIME_SCALE, ensure_image_list
from tether.demo.repo import create_repository, prepare_working_copy
from tether.demo.state import (
    DEFAULT_CLUSTER_PORT,
    DEFAULT_LISTEN,
    STATE_FILE,
    DemoState,
    PortChoice,
    choose_port,
    load_state,
    parse_listen,
    save_state,
)
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.images import ImageCatalog
from tether.localcluster.workloads import WorkloadOptions
from tether.source.gitserver import GitHTTPServer, PushListener
from tether.source.webhooks import RefUpdate

log = logging.getLogger(__name__)

REPOSITORY = "k8s-manifests.git"
LOOPBACK = "127.0.0.1"
ADMIN_KUBECONFIG = "admin.kubeconfig"


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for; None means the default (a taken default port moves)."""

    state_dir: Path
    port: int | None = None
    listen: str | None = None
    git_port: int | None = None


@dataclass(frozen=True)
class Demo:
    """Where the demo's parts are, for starting it and telling the user."""

    state_dir: Path
    cluster_url: str
    #: people's kubeconfig (read-only in production, edit in staging: tether.demo.access)
    kubeconfig: Path
    #: the cluster admin's (break-glass) kubeconfig
    admin_kubeconfig: Path
    repo_url: str
    work: Path
    #: the repository URL of the last start when the Git server moved (--git-port)
    previous_url: str | None = None
    #: lines saying which default ports were taken and where the parts listen instead
    notes: tuple[str, ...] = ()


@dataclass
class RunningDemo:
    """The parts started by `start_demo`; `listen` is where the API server is to listen."""

    demo: Demo
    cluster: LocalCluster
    git: GitHTTPServer
    listen: PortChoice

    def stop(self) -> None:
        """Stop the Git server and the cluster."""
        self.git.stop()
        self.cluster.stop()


def start_demo(options: DemoOptions) -> RunningDemo:
    """Start the Git server and the cluster of the demo kept in ``options.state_dir``."""
    state_dir = options.state_dir
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoStateError(f"cannot create the state folder {state_dir}: {exc.strerror}") from exc
    state = load_state(state_dir)
    host, port = parse_listen(options.listen or DEFAULT_LISTEN)
    listen = choose_port(host, port, chosen=options.listen is not None, option="--listen")
    cluster_port = choose_port(
        LOOPBACK,
        DEFAULT_CLUSTER_PORT if options.port is None else options.port,
        chosen=options.port is not None,
        option="--port",
    )
    git = serve_repositories(state_dir, state, options.git_port).start()
    try:
        repo_url, work = _repository(state_dir, git)
        save_state(state_dir, DemoState(git_port=git.port, repo_url=repo_url))
        cluster = _cluster(state_dir, cluster_port.port)
    except BaseException:
        git.stop()
        raise
    moved = cluster_port.note("the local cluster", cluster.port)
    demo = Demo(
        state_dir=state_dir,
        cluster_url=cluster.url,
        kubeconfig=state_dir / "kubeconfig",
        admin_kubeconfig=state_dir / ADMIN_KUBECONFIG,
        repo_url=repo_url,
        work=work,
        previous_url=state.repo_url if state.repo_url != repo_url else None,
        notes=(moved,) if moved else (),
    )
    return RunningDemo(demo, cluster, git, listen)


def _cluster(state_dir: Path, port: int) -> LocalCluster:
    """The local cluster on ``port``, pulling only the images of ``<state>/images.txt``."""
    images = ImageCatalog.from_file(ensure_image_list(state_dir))
    workloads = WorkloadOptions(images=images, time_scale=TIME_SCALE)
    return LocalCluster(
        port=port,
        state_dir=state_dir / "cluster",
        kubeconfig=state_dir / ADMIN_KUBECONFIG,
        workloads=workloads,
    ).start()


def serve_repositories(state_dir: Path, state: DemoState, git_port: int | None) -> GitHTTPServer:
    """The Git server on ``git_port``, else on the port of the last start, else a free one."""
    port = git_port if git_port is not None else (state.git_port or 0)
    try:
        return GitHTTPServer(state_dir / "git", port=port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise DemoPortError(f"cannot listen on {LOOPBACK}:{port}: {exc.strerror}") from exc
        if git_port is not None:
            raise DemoPortError(
                f"{LOOPBACK}:{port} (--git-port) is in use: choose another port"
            ) from exc
        raise DemoPortError(
            f"the demo's Git server cannot listen on its port {port} again: it is in use. "
            f"The port is kept in {state_dir / STATE_FILE} so that Applications naming "
            f"{state.repo_url} keep working after a restart. Stop the program using it "
            f"(another `tether up --state {state_dir}`?), or move the Git server with "
            "`tether up --git-port PORT` (the demo's Applications and working copy follow; "
            "Applications you created must then be changed to the new URL)"
        ) from exc


def _repository(state_dir: Path, git: GitHTTPServer) -> tuple[str, Path]:
    """The served URL of the demo repository (created on the first start) and its working
    copy, whose origin is that URL."""
    bare = state_dir / "git" / REPOSITORY
    work = state_dir / "k8s-manifests"
    url = git.url(REPOSITORY)
    try:
        if not bare.exists():
            create_repository(bare, work)
        prepare_working_copy(work, url)
    except subprocess.CalledProcessError as exc:
        command = " ".join(str(arg) for arg in exc.cmd)
        raise DemoError(f"{command} failed: {(exc.stderr or '').strip()}") from None
    return url, work


WebhookCall = Callable[[list[str]], Coroutine[Any, Any, list[str]]]


def relay_pushes(
    git: GitHTTPServer, on_webhook: WebhookCall, loop: asyncio.AbstractEventLoop
) -> PushListener:
    """A push listener that hands each push to ``on_webhook`` (the controller's, as a forge's
    webhook would) on ``loop``: the repository is polled at once, not at the next interval."""
    root = git.root.resolve()

    def heard(repository: Path, refs: tuple[RefUpdate, ...]) -> None:
        url = git.url(repository.relative_to(root).as_posix())
        future = asyncio.run_coroutine_threadsafe(on_webhook([url]), loop)
        future.add_done_callback(_log_failure)

    return heard


def _log_failure(future: Future[list[str]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("polling after a push failed: %s", future.exception())
