"""``tether controller`` (the GitOps loop against any cluster) and ``tether up`` (the embedded demo)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
import uvloop
from click.core import ParameterSource

from tether.cli.options import api_server_options, client_options, cluster_options
from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.controller.controller import Controller, ControllerConfig
from tether.controller.shards import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_SHARDS,
    MAX_SHARDS,
    ShardSettings,
)
from tether.demo.state import DEFAULT_CLUSTER_PORT, DEFAULT_LISTEN
from tether.errors import TetherError
from tether.install.params import CmdParams, fetch_cmd_params
from tether.names import CMD_PARAMS_CONFIGMAP

if TYPE_CHECKING:
    from tether.demo.start import Demo, RunningDemo

log = logging.getLogger(__name__)

#: the flags' defaults are the settings' own (one place to change them)
_CONFIG = ControllerConfig()

#: set by the first Ctrl-C of `tether up`, before or while its event loop starts: a
#: KeyboardInterrupt raised inside the loop's own machinery can be lost, the flag is not
_INTERRUPTED = threading.Event()


def _interrupt(signum: int, frame: Any) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _signal_event() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM (the loop's handlers replace asyncio's own), already set
    when a Ctrl-C came before it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if _INTERRUPTED.is_set():
        stop.set()
    return stop


async def _serve_until_signal(
    controller: Controller, server: Any, stop: asyncio.Event | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then stop the server, the controller and its client."""
    try:
        await (stop or _signal_event()).wait()
    finally:
        if server is not None:
            await server.stop()
        await controller.stop()
        await controller.client.aclose()


async def start_server(
    controller: Controller, listen: str, trusted_proxies: tuple[str, ...] = (), **options: Any
) -> Any:
    """Start the API/UI server beside the controller when it is installed in this build.

    ``trusted_proxies`` (addresses or CIDRs) are the reverse proxies whose X-Forwarded-For the
    server believes; none by default.
    """
    try:
        from tether.server.app import run_server
        from tether.server.settings import ServerSettings
    except ImportError:
        return None
    settings = ServerSettings(trusted_proxies=tuple(trusted_proxies))
    return await run_server(controller, listen=listen, settings=settings, **options)


#: what the API server imports (~0.2 s of a start): loaded in a thread while the controller
#: waits for its first answers from the API server, instead of after them
SERVER_MODULES = ("tether.server.app", "tether.server.settings")


def _preload(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a background thread; an import that fails is left to the code
    that needs the module (which reports it)."""

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # the code that needs it imports it again and reports
                return

    threading.Thread(target=load, name="preload", daemon=True).start()


@click.command("controller")
@cluster_options
@click.option(
    "--reconcile-interval",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds between Git polls (timeout.reconciliation).",
)
@click.option(
    "--cache-dir", type=click.Path(path_type=Path), help="Git mirrors and rendered trees."
)
@api_server_options
@click.option(
    "--managed-namespace",
    "managed_namespaces",
    multiple=True,
    metavar="NAMESPACE",
    help="Namespaced mode: manage only these namespaces (repeatable; default: the whole "
    "cluster; $TETHER_MANAGED_NAMESPACES, comma-separated).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1000),
    default=_CONFIG.workers,
    show_default=True,
    help="Applications compared at once (argocd-cmd-params-cm controller.status.processors).",
)
@click.option(
    "--sync-workers",
    type=click.IntRange(1, 1000),
    default=_CONFIG.sync_workers,
    show_default=True,
    help="Syncs run at once (argocd-cmd-params-cm controller.operation.processors).",
)
@client_options
@click.option(
    "--no-leader-election",
    is_flag=True,
    help="This process owns every application (no Leases, no shards: one replica only).",
)
@click.option(
    "--shards",
    type=click.IntRange(1, MAX_SHARDS),
    default=DEFAULT_SHARDS,
    show_default=True,
    help="Shards the applications are spread over (the first replica's count is kept).",
)
@click.option(
    "--lease-duration",
    type=click.FloatRange(3.0, 3600.0),
    default=DEFAULT_LEASE_DURATION,
    show_default=True,
    help="Seconds without renewal after which a replica's shards are taken over.",
)
@click.option(
    "--identity",
    envvar="TETHER_IDENTITY",
    help="This replica's name in the Leases (default: host name and process id; the "
    "install passes the pod name).",
)
@click.option(
    "--allow-local-repositories",
    is_flag=True,
    help="Accept file:// URLs and local paths as repoURL (demos; see docs/security.md).",
)
@click.option(
    "--sigstore-trusted-root",
    envvar="TETHER_SIGSTORE_TRUSTED_ROOT",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=lambda ctx, param, path: _checked_trusted_root(path),
    help="Sigstore trusted_root.json that keyless cosign signatures (an OCIRepository's "
    "spec.verify) are checked against (default: the public-good instance's, shipped with "
    "Tether).",
)
@click.option(
    "--flux-concurrent",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Flux objects reconciled at once (Flux's --concurrent); each may run helm or kustomize.",
)
@click.option("-v", "--verbose", is_flag=True)
def controller_command(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    reconcile_interval: float,
    cache_dir: Path | None,
    listen: str,
    tls_cert: str | None,
    tls_key: str | None,
    metrics_listen: str | None,
    managed_namespaces: tuple[str, ...],
    workers: int,
    sync_workers: int,
    qps: float,
    burst: int,
    max_in_flight: int,
    no_leader_election: bool,
    shards: int,
    lease_duration: float,
    identity: str | None,
    trusted_proxies: tuple[str, ...],
    allow_local_repositories: bool,
    sigstore_trusted_root: Path | None,
    flux_concurrent: int,
    verbose: bool,
) -> None:
    """Run the Application controller (and the API/UI server) until stopped.

    Keys of the ConfigMap argocd-cmd-params-cm in the control namespace are the defaults of the
    matching flags (docs/install.md lists them); a flag given here wins.
    """
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    _controller_logging(verbose)
    _preload(SERVER_MODULES)
    settings = ClientSettings(qps=qps, burst=burst, max_in_flight=max_in_flight)
    given = _given_flags(click.get_current_context())
    managed = managed_namespaces or managed_namespaces_from_env()

    async def main() -> None:
        client = _controller_client(kubeconfig, context, settings)
        config = ControllerConfig(
            namespace=namespace,
            reconcile_interval=reconcile_interval,
            cache_dir=cache_dir,
            workers=workers,
            sync_workers=sync_workers,
            leader_election=not no_leader_election,
            lease_duration=lease_duration,
            client_settings=settings,
            allow_local_repositories=allow_local_repositories,
            managed_namespaces=managed,
            sigstore_trusted_root=sigstore_trusted_root,
            flux_workers=flux_concurrent,
        )
        if identity:
            config.identity = identity
        apply_cmd_params(config, await fetch_cmd_params(client, namespace), given)
        shard_settings = ShardSettings(shards=shards, lease_duration=lease_duration)
        controller = Controller(client, config, shard_settings)
        await controller.prepare()
        # the imports running in threads end, and the API server starts, before the first
        # reconciles: neither then takes the event loop or the GIL from them
        await controller.extras.loaded()
        server = await _listen(
            controller,
            listen,
            trusted_proxies=trusted_proxies,
            tls_cert=tls_cert,
            tls_key=tls_key,
            metrics_listen=metrics_listen,
        )
        await controller.begin()
        click.echo(_running_line(controller))
        await _serve_until_signal(controller, server)

    try:
        uvloop.run(main())
    except TetherError as exc:
        raise click.ClickException(str(exc)) from exc


def _checked_trusted_root(path: Path | None) -> Path | None:
    """A ``--sigstore-trusted-root`` that is a Sigstore trusted root; one clear line otherwise
    (cryptography is loaded only when the flag is given)."""
    if path is None:
        return None
    from tether.sigstore.errors import SignatureError
    from tether.sigstore.trustroot import load_trusted_root

    try:
        load_trusted_root(path)
    except SignatureError as exc:
        raise click.UsageError(f"--sigstore-trusted-root: {exc.message}") from None
    return path


async def _listen(controller: Controller, listen: str, **options: Any) -> Any:
    """The API server of ``controller`` (see :func:`start_server`); an address that cannot be
    listened on stops the controller and is one clear error."""
    try:
        return await start_server(controller, listen, **options)
    except OSError as exc:  # an address in use or not ours
        await controller.stop()
        await controller.client.aclose()
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None


def _running_line(controller: Controller) -> str:
    """What the controller says once it runs: where, as whom, owning and managing what."""
    config = controller.config
    scope = ", ".join(config.managed_namespaces) or "the whole cluster"
    sharing = (
        f"{len(controller.sharding.held)} of {controller.sharding.shards} shards"
        if controller.sharding is not None
        else "every application"
    )
    return (
        f"tether controller running (namespace {config.namespace}, identity {config.identity}, "
        f"owning {sharing}, managing {scope})"
    )


def _controller_logging(verbose: bool) -> None:
    """INFO (DEBUG with -v) to stderr; the HTTP clients' per-request lines only with -v."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # the HTTP clients log every request at INFO (a lease renewal every few seconds)
        for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _controller_client(
    kubeconfig: Path | None, context: str | None, settings: ClientSettings
) -> ClusterClient:
    """The kubeconfig's client when one is named, else in-cluster, then $KUBECONFIG."""
    if kubeconfig is not None or context is not None:
        return ClusterClient.from_kubeconfig(
            str(kubeconfig) if kubeconfig else None, context, settings
        )
    return ClusterClient.from_env(settings)


def _given_flags(ctx: click.Context) -> frozenset[str]:
    """The options set on the command line or by their environment variable."""
    return frozenset(
        name
        for name in ctx.params
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    )


def managed_namespaces_from_env() -> tuple[str, ...]:
    """``$TETHER_MANAGED_NAMESPACES``: namespaces separated by commas or spaces."""
    raw = os.environ.get("TETHER_MANAGED_NAMESPACES", "")
    return tuple(dict.fromkeys(n for n in raw.replace(",", " ").split() if n))


#: ConfigMap options that are also flags: the flag's name when it differs
_FLAG_OF = {"log_level": "verbose"}


def apply_cmd_params(config: ControllerConfig, params: CmdParams, given: frozenset[str]) -> None:
    """Set ``config`` (and the log level) from ``argocd-cmd-params-cm`` where no flag was given."""
    for option, value in params.values.items():
        if _FLAG_OF.get(option, option) in given:
            log.info("%s: %s given as a flag wins", CMD_PARAMS_CONFIGMAP, option)
            continue
        if option == "log_level":
            logging.getLogger().setLevel(value)
        else:
            setattr(config, option, value)
        log.info("%s: %s = %s", CMD_PARAMS_CONFIGMAP, option, value)


@click.command("up")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Cluster state, Git repositories, caches "
    "[default: $XDG_DATA_HOME/tether/demo, else ~/.local/share/tether/demo].",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Local cluster port [default: {DEFAULT_CLUSTER_PORT}, a free one when it is taken; "
    "0: any free port].",
)
@click.option(
    "--listen",
    help=f"API and UI address [default: {DEFAULT_LISTEN}, a free port when it is taken].",
)
@click.option(
    "--git-port",
    type=click.IntRange(1, 65535),
    help="Move the demo's Git server to this port (kept for later starts) "
    "[default: the port of the last start, a free one on the first].",
)
@click.option(
    "--reconcile-interval",
    type=float,
    default=10.0,
    show_default=True,
    help="Git poll interval (demo default: 10 s; a push to the demo repository is seen at once).",
)
def up_command(
    state_dir: Path | None,
    port: int | None,
    listen: str | None,
    git_port: int | None,
    reconcile_interval: float,
) -> None:
    """The embedded demo: local cluster, local Git server with a demo repository, controller."""
    from tether.demo.start import DemoOptions, start_demo
    from tether.demo.state import default_state_dir

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, _interrupt)
    options = DemoOptions(
        state_dir=(state_dir or default_state_dir()).resolve(),
        port=port,
        listen=listen,
        git_port=git_port,
    )
    try:
        running = start_demo(options)
        try:
            uvloop.run(_run_demo(running, reconcile_interval))
        finally:
            running.stop()
    except TetherError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        # Ctrl-C before the demo was up (once it runs, a signal handler stops it): no traceback
        raise SystemExit(130) from None


async def _run_demo(running: RunningDemo, reconcile_interval: float) -> None:
    """Run the controller and the API server beside the started parts until a signal.

    A signal during the start stops it: the start runs as a task raced against the signal and
    is cancelled until it has ended (asyncio's own Ctrl-C handling cancels the main task once,
    and a cancellation dropped on the way, as ``wait_for`` can on 3.11, left the demo running).
    """
    from tether.cluster.cache import cancel_and_wait

    stop = _signal_event()
    starting = asyncio.create_task(_start_demo_parts(running, reconcile_interval))
    signalled = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        await cancel_and_wait(starting)
        raise KeyboardInterrupt
    signalled.cancel()
    controller, server = starting.result()
    await _serve_until_signal(controller, server, stop)


async def _start_demo_parts(running: RunningDemo, reconcile_interval: float) -> tuple[Any, Any]:
    """Access, Applications, controller and API server; a cancelled start stops what it began."""
    from tether.demo.access import prepare_access
    from tether.demo.apps import ensure_demo_applications
    from tether.demo.errors import DemoPortError
    from tether.demo.start import relay_pushes

    demo = running.demo
    settings = ClientSettings(qps=500, burst=1000)
    admin = ClusterClient.from_kubeconfig(str(demo.admin_kubeconfig), settings=settings)
    try:
        access = await prepare_access(admin, running.cluster.access(), demo.state_dir)
        await ensure_demo_applications(admin, demo.repo_url, demo.previous_url)
    finally:
        await admin.aclose()
    # the controller is the install's ServiceAccount with exactly the RBAC tether install ships
    client = ClusterClient.from_kubeconfig(str(access.controller), settings=settings)
    config = ControllerConfig(
        reconcile_interval=reconcile_interval,
        cache_dir=demo.state_dir / "cache",
        leader_election=False,
    )
    controller = Controller(client, config)
    try:
        await controller.start()
        running.git.on_push = relay_pushes(
            running.git, controller.on_webhook, asyncio.get_running_loop()
        )
        server = await start_server(controller, running.listen.listen)
    except OSError as exc:  # taken since it was found free
        await controller.stop()
        raise DemoPortError(f"cannot listen on {running.listen.listen}: {exc.strerror}") from exc
    except BaseException:
        running.git.on_push = None
        await controller.stop()
        await client.aclose()
        raise
    notes = list(demo.notes)
    if server is not None:
        moved = running.listen.note("the UI and API", urlsplit(server.url).port or 0)
        notes += [moved] if moved else []
    for note in notes:
        click.echo(f"tether up: {note}", err=True)
    click.echo("\n".join(_demo_banner(demo, server, notes)))
    return controller, server


def _admin_password(demo: Demo, server: Any) -> str:
    """The admin password: the server shows a generated one once; the demo keeps it in its
    state folder for later starts."""
    password_file = demo.state_dir / "admin-password"
    if server.admin_password:
        password_file.write_text(server.admin_password)
        password_file.chmod(0o600)
    return password_file.read_text().strip() if password_file.exists() else "(unknown)"


def _tether_command() -> str:
    """How the user runs this tether: ``tether`` when that is the one on PATH, else its path."""
    argv0 = Path(sys.argv[0]).resolve()
    on_path = shutil.which("tether")
    if argv0.name != "tether" or (on_path is not None and Path(on_path).resolve() == argv0):
        return "tether"
    return str(argv0)


def _demo_banner(demo: Demo, server: Any, notes: list[str]) -> list[str]:
    """What the user reads once the demo runs: where everything is and what to try."""
    from tether.demo.apps import DEMO_APPS
    from tether.demo.images import IMAGES_FILE
    from tether.tools import ToolError, find_tool

    try:
        kubectl = find_tool("kubectl")
    except ToolError:
        kubectl = "kubectl"
    staging = ", ".join(app.name for app in DEMO_APPS if app.automated)
    production = ", ".join(app.name for app in DEMO_APPS if not app.automated)
    lines = [
        "",
        f"Tether demo is running (state in {demo.state_dir}).",
        *(f"  note        {note}" for note in notes),
        f"  cluster     {demo.cluster_url}   (export KUBECONFIG={demo.kubeconfig})",
        "              you are user developer: production is read-only, staging editable;"
        " only Tether's service account deploys",
        f"  admin       {demo.admin_kubeconfig}   (break-glass: the cluster's admin)",
        f"  git         {demo.repo_url}   (working copy: {demo.work}; a push is seen at once)",
        f"  staging     {staging}: automated, every commit deploys, drift is reverted",
        f"  production  {production}: manual sync, drift is reverted to the last sync",
        f"  images      {demo.state_dir / IMAGES_FILE}: the images that exist (a tag not"
        " listed: ImagePullBackOff)",
    ]
    tether = _tether_command()
    login = []
    if server is not None:
        password = _admin_password(demo, server)
        lines.append(f"  UI and API  {server.url}/   (user admin, password {password})")
        login = [
            f"  {tether} login {server.url} --username admin --password-stdin"
            f" < {demo.state_dir / 'admin-password'}"
        ]
    kube = f"{kubectl} --kubeconfig {demo.kubeconfig}"
    admin = f"{kubectl} --kubeconfig {demo.admin_kubeconfig}"
    overlays = "apps/payment-service/{staging,production}/kustomization.yaml"
    return [
        *lines,
        "",
        "Try:",
        f"  {kube} -n argocd get applications",
        f"  cd {demo.work} && edit newTag in {overlays} && git commit -am bump && git push",
        "      payment-service-staging deploys it at once;"
        " payment-service-production shows OutOfSync and the diff",
        *login,
        f"  {tether} app diff payment-service-production",
        f"  {tether} app sync payment-service-production",
        f"  {kube} -n payment-service-production scale deploy/payment-service --replicas=5",
        "      forbidden: people are read-only in production (in staging it is allowed)",
        f"  {admin} -n payment-service-production scale deploy/payment-service --replicas=5",
        "      the admin at 2 AM: reverted at once to what the last sync deployed",
        "Stop with Ctrl-C.",
    ]
