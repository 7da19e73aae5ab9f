"""``tether cluster up`` and ``tether demo``: run the local Kubernetes-compatible cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import uvloop

from tether.localcluster.cluster import ClusterStartError, LocalCluster
from tether.localcluster.errors import ImageCatalogError
from tether.localcluster.images import ImageCatalog
from tether.localcluster.workloads import WorkloadOptions
from tether.tools import ToolError, find_tool


def _kubectl_hint() -> str:
    """The pinned kubectl when it is installed (``make`` puts it in .tools/bin), else plain kubectl."""
    try:
        return find_tool("kubectl")
    except ToolError:
        return "kubectl"


def _run_cluster(cluster: LocalCluster, ready_file: Path | None, banner: bool) -> None:
    async def main() -> None:
        task = asyncio.create_task(cluster.serve())
        server = cluster._server
        assert server is not None
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        if banner:
            click.echo(f"Local cluster listening on {cluster.url}")
            click.echo(f"Kubeconfig written to {cluster.kubeconfig}")
            click.echo("Point kubectl at it:")
            click.echo(f"  export KUBECONFIG={cluster.kubeconfig}")
            click.echo(f"  {_kubectl_hint()} get namespaces")
            click.echo("Read-only user: --context tether-local-viewer. Stop with Ctrl-C.")
        if ready_file is not None:
            ready_file.write_text(cluster.url)
        await task
        if cluster.app is not None:
            await cluster.app.stop()

    # uvicorn turns SIGINT/SIGTERM into a graceful shutdown of the server
    try:
        cluster._prepare()
    except ClusterStartError as exc:
        raise click.ClickException(str(exc)) from exc
    uvloop.run(main())


def _image_catalog(path: Path | None, no_workloads: bool) -> ImageCatalog | None:
    """The catalog of ``--images``, or a usage error a user can act on."""
    if path is None:
        return None
    if no_workloads:
        raise click.UsageError("--images needs the simulated kubelet: drop --no-workloads")
    try:
        return ImageCatalog.from_file(path)
    except ImageCatalogError as exc:
        raise click.ClickException(f"--images: {exc.message}") from exc


@click.group("cluster")
def cluster_group() -> None:
    """Clusters: run the local Kubernetes-compatible cluster (up), or register destination
    clusters with the API server (add, list)."""


@cluster_group.command("up")
@click.option(
    "--port",
    type=int,
    default=6443,
    show_default=True,
    help="Port on 127.0.0.1 (0 = any free port).",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    help="Folder for certificates and state.",
)
@click.option(
    "--kubeconfig", type=click.Path(path_type=Path), help="Where to write the kubeconfig."
)
@click.option(
    "--crd-establish-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds before a new CRD is Established.",
)
@click.option(
    "--watch-history",
    type=int,
    default=10_000,
    show_default=True,
    help="Events kept for resuming watches.",
)
@click.option(
    "--pod-ready-delay",
    type=float,
    default=0.2,
    show_default=True,
    help="Seconds until a healthy pod is Ready.",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiplier for controller deadlines (progressDeadlineSeconds).",
)
@click.option(
    "--no-workloads", is_flag=True, help="Serve the API only: no simulated controllers or kubelet."
)
@click.option(
    "--images",
    "images_file",
    type=click.Path(path_type=Path),
    help="File of the images that exist, one pattern a line (globs, # comments); "
    "a pod whose image is not listed waits in ErrImagePull/ImagePullBackOff. "
    "Edits are picked up while running. Default: every image exists.",
)
@click.option("--ready-file", type=click.Path(path_type=Path), hidden=True)
def cluster_up(
    port: int,
    state_dir: Path | None,
    kubeconfig: Path | None,
    crd_establish_delay: float,
    watch_history: int,
    pod_ready_delay: float,
    time_scale: float,
    no_workloads: bool,
    images_file: Path | None,
    ready_file: Path | None,
) -> None:
    """Serve the Kubernetes API on loopback over HTTPS until stopped."""
    images = _image_catalog(images_file, no_workloads)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(
        port=port,
        kubeconfig=kubeconfig,
        state_dir=state_dir,
        history_size=watch_history,
        crd_establish_delay=crd_establish_delay,
        workloads=None
        if no_workloads
        else WorkloadOptions(
            pod_ready_delay=pod_ready_delay,
            job_run_time=pod_ready_delay,
            time_scale=time_scale,
            images=images,
        ),
    )
    _run_cluster(cluster, ready_file, banner=True)
