"""``tether server``: the API and web UI as a replica of its own, without a controller.

It reads everything from the cluster (the control namespace by list+watch, each app's status
from the Application itself), computes diffs when asked, and reaches the controller through the
cluster (docs/server.md, "Running the server apart").
"""

from __future__ import annotations

from pathlib import Path

import click
import uvloop

from tether.cli.controller import (
    _controller_client,
    _controller_logging,
    _signal_event,
    managed_namespaces_from_env,
)
from tether.cli.options import api_server_options, client_options, cluster_options
from tether.cluster.config import ClientSettings
from tether.controller.config import ControllerConfig
from tether.controller.observer import ClusterObserver, ObserverSettings
from tether.errors import TetherError


@click.command("server")
@cluster_options
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Git mirrors and rendered trees of the diffs computed here.",
)
@api_server_options
@click.option(
    "--managed-namespace",
    "managed_namespaces",
    multiple=True,
    metavar="NAMESPACE",
    help="As the controller's: look only at these namespaces of the cluster (repeatable; "
    "$TETHER_MANAGED_NAMESPACES).",
)
@click.option(
    "--allow-local-repositories",
    is_flag=True,
    help="Accept file:// URLs and local paths as repoURL (demos; see docs/security.md).",
)
@click.option(
    "--webhook-refresh-rate",
    type=click.FloatRange(0.1, 1000),
    default=ObserverSettings.webhook_refresh_rate,
    show_default=True,
    help="Refresh annotations a webhook writes per second at most.",
)
@click.option(
    "--comparison-ttl",
    type=click.FloatRange(0, 3600),
    default=ObserverSettings.comparison_ttl,
    show_default=True,
    help="Seconds a diff computed here is reused at most (sooner dropped when anything it "
    "depends on changes).",
)
@client_options
@click.option("-v", "--verbose", is_flag=True)
def server_command(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    cache_dir: Path | None,
    listen: str,
    tls_cert: str | None,
    tls_key: str | None,
    metrics_listen: str | None,
    trusted_proxies: tuple[str, ...],
    managed_namespaces: tuple[str, ...],
    allow_local_repositories: bool,
    webhook_refresh_rate: float,
    comparison_ttl: float,
    qps: float,
    burst: int,
    max_in_flight: int,
    verbose: bool,
) -> None:
    """Run the API and UI server apart from the controller, reading state from the cluster."""
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    _controller_logging(verbose)
    settings = ClientSettings(qps=qps, burst=burst, max_in_flight=max_in_flight)
    config = ControllerConfig(
        namespace=namespace,
        cache_dir=cache_dir,
        client_settings=settings,
        allow_local_repositories=allow_local_repositories,
        managed_namespaces=managed_namespaces or managed_namespaces_from_env(),
        bootstrap=False,
        leader_election=False,
    )
    limits = ObserverSettings(
        comparison_ttl=comparison_ttl, webhook_refresh_rate=webhook_refresh_rate
    )

    async def main() -> None:
        from tether.server.app import run_server
        from tether.server.settings import ServerSettings

        client = _controller_client(kubeconfig, context, settings)
        observer = ClusterObserver(client, config, limits)
        try:
            await observer.start()
            server = await run_server(
                observer,
                listen=listen,
                tls_cert=tls_cert,
                tls_key=tls_key,
                settings=ServerSettings(trusted_proxies=trusted_proxies),
                metrics_listen=metrics_listen,
            )
        except OSError as exc:  # an address in use or not ours
            await observer.stop()
            await client.aclose()
            raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
        except BaseException:
            await observer.stop()
            await client.aclose()
            raise
        click.echo(f"tether server running (namespace {namespace}, {server.url})")
        try:
            await _signal_event().wait()
        finally:
            await server.stop()
            await observer.stop()
            await client.aclose()

    try:
        uvloop.run(main())
    except TetherError as exc:
        raise click.ClickException(str(exc)) from exc
