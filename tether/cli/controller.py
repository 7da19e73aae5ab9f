"""``tether controller`` (the GitOps loop against any cluster) and ``tether up`` (the embedded demo)."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import uvloop

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.controller.controller import Controller, ControllerConfig
from tether.errors import TetherError
from tether.names import APPLICATION, ARGO_API_VERSION, IN_CLUSTER_SERVER

log = logging.getLogger(__name__)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve_until_signal(controller: Controller, server: Any) -> None:
    """Run until SIGINT/SIGTERM, then stop the server, the controller and its client."""
    try:
        await _wait_for_signal()
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


@click.command("controller")
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="Kubeconfig (default: in-cluster, then $KUBECONFIG).",
)
@click.option("--context", help="Kubeconfig context.")
@click.option(
    "--namespace",
    envvar="TETHER_NAMESPACE",
    default="argocd",
    show_default=True,
    help="Control namespace holding Applications.",
)
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
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="API and UI address.")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve the API over TLS with this certificate (PEM).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    help="Private key (PEM) of --tls-cert.",
)
@click.option("--workers", type=int, default=8, show_default=True)
@click.option(
    "--qps", type=float, default=50.0, show_default=True, help="Client-side API rate limit."
)
@click.option("--burst", type=int, default=100, show_default=True)
@click.option("--no-leader-election", is_flag=True, help="Reconcile without holding the Lease.")
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="CIDR",
    help="A reverse proxy whose X-Forwarded-For is believed (repeatable; none by default).",
)
@click.option(
    "--allow-local-repositories",
    is_flag=True,
    help="Accept file:// URLs and local paths as repoURL (demos; see docs/security.md).",
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
    workers: int,
    qps: float,
    burst: int,
    no_leader_election: bool,
    trusted_proxies: tuple[str, ...],
    allow_local_repositories: bool,
    verbose: bool,
) -> None:
    """Run the Application controller (and the API/UI server) until stopped."""
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = ClientSettings(qps=qps, burst=burst)

    async def main() -> None:
        if kubeconfig is not None or context is not None:
            client = ClusterClient.from_kubeconfig(
                str(kubeconfig) if kubeconfig else None, context, settings
            )
        else:
            client = ClusterClient.from_env(settings)
        config = ControllerConfig(
            namespace=namespace,
            reconcile_interval=reconcile_interval,
            cache_dir=cache_dir,
            workers=workers,
            leader_election=not no_leader_election,
            client_settings=settings,
            allow_local_repositories=allow_local_repositories,
        )
        controller = Controller(client, config)
        await controller.start()
        server = await start_server(
            controller,
            listen,
            trusted_proxies=trusted_proxies,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        click.echo(f"tether controller running (namespace {namespace}, identity {config.identity})")
        await _serve_until_signal(controller, server)

    try:
        uvloop.run(main())
    except TetherError as exc:
        raise click.ClickException(str(exc)) from exc


DEMO_APPS = ("payment-service", "catalog-service")


def demo_application(name: str, repo_url: str, namespace: str = "argocd") -> dict[str, Any]:
    """The Application of the issue, pointed at the demo repository."""
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo_url,
                "targetRevision": "HEAD",
                "path": f"apps/{name}/production",
            },
            "destination": {"server": IN_CLUSTER_SERVER, "namespace": name},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


@click.command("up")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    default=Path(".tether"),
    show_default=True,
    help="Cluster state, Git repositories, caches.",
)
@click.option("--port", type=int, default=6443, show_default=True, help="Local cluster port.")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="API and UI address.")
@click.option(
    "--reconcile-interval",
    type=float,
    default=10.0,
    show_default=True,
    help="Git poll interval (demo default: 10 s).",
)
def up_command(state_dir: Path, port: int, listen: str, reconcile_interval: float) -> None:
    """The embedded demo: local cluster, local Git server with a demo repository, controller."""
    from tether.demo.repo import create_repository
    from tether.localcluster.cluster import ClusterStartError, LocalCluster
    from tether.source.gitserver import GitHTTPServer

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        cluster = LocalCluster(
            port=port, state_dir=state_dir / "cluster", kubeconfig=state_dir / "kubeconfig"
        ).start()
    except ClusterStartError as exc:
        raise click.ClickException(str(exc)) from exc
    bare = state_dir / "git" / "k8s-manifests.git"
    work = state_dir / "k8s-manifests"
    if not bare.exists():
        create_repository(bare, work)
    git_server = GitHTTPServer(state_dir / "git").start()
    kubeconfig = state_dir / "kubeconfig"
    demo = _Demo(state_dir, cluster.url, kubeconfig, git_server.url("k8s-manifests.git"), work)
    try:
        uvloop.run(_run_demo(demo, listen, reconcile_interval))
    finally:
        git_server.stop()
        cluster.stop()


@dataclass(frozen=True)
class _Demo:
    """Where the demo's parts are, for starting it and telling the user."""

    state_dir: Path
    cluster_url: str
    kubeconfig: Path
    repo_url: str
    work: Path


async def _run_demo(demo: _Demo, listen: str, reconcile_interval: float) -> None:
    client = ClusterClient.from_kubeconfig(
        str(demo.kubeconfig), settings=ClientSettings(qps=500, burst=1000)
    )
    config = ControllerConfig(
        reconcile_interval=reconcile_interval,
        cache_dir=demo.state_dir / "cache",
        leader_election=False,
    )
    controller = Controller(client, config)
    await controller.start()
    ns_info = await client.resource_for("v1", "Namespace")
    app_info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    for name in DEMO_APPS:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await client.apply(ns_info, namespace, force=True)
        await client.apply(app_info, demo_application(name, demo.repo_url), force=True)
    server = await start_server(controller, listen)
    click.echo("\n".join(_demo_banner(demo, server)))
    await _serve_until_signal(controller, server)


def _demo_banner(demo: _Demo, server: Any) -> list[str]:
    """What the user reads once the demo runs: where everything is and what to try."""
    from tether.tools import ToolError, find_tool

    try:
        kubectl = find_tool("kubectl")
    except ToolError:
        kubectl = "kubectl"
    lines = [
        "",
        "Tether demo is running.",
        f"  cluster     {demo.cluster_url}   (export KUBECONFIG={demo.kubeconfig})",
        f"  git         {demo.repo_url}   (working copy: {demo.work})",
        f"  apps        {', '.join(DEMO_APPS)} in namespace argocd, synced automatically",
    ]
    if server is not None:
        # the server shows the generated password once; the demo keeps it for later starts
        password_file = demo.state_dir / "admin-password"
        if server.admin_password:
            password_file.write_text(server.admin_password)
            password_file.chmod(0o600)
        password = password_file.read_text().strip() if password_file.exists() else "(unknown)"
        lines.append(f"  UI and API  {server.url}/   (user admin, password {password})")
    kube = f"{kubectl} --kubeconfig {demo.kubeconfig}"
    return [
        *lines,
        "",
        "Try:",
        f"  {kube} -n argocd get applications",
        f"  cd {demo.work} && edit apps/payment-service/production/kustomization.yaml (newTag) && git commit -am bump && git push",
        f"  {kube} -n payment-service scale deploy/payment-service --replicas=5   (selfHeal reverts it)",
        "Stop with Ctrl-C.",
    ]
