"""``tether cluster add|list``: destination clusters registered with the API server.

Attached to the existing ``tether cluster`` group (which also runs the local cluster). Here
``--server`` and ``--token`` describe the cluster being added, so these two commands reach the
Tether API through ``$TETHER_SERVER``/``$TETHER_TOKEN`` or ``tether login`` only.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from tether.cli.api import (
    ApiClient,
    ApiCommand,
    CliError,
    output_option,
    with_client,
)
from tether.cli.options import EXISTING_FILE
from tether.cli.output import print_listing, print_outcome


def cluster_request(
    name: str, server: str, token: str, ca_pem: bytes | None, insecure: bool
) -> dict[str, Any]:
    """The body of ``POST /api/v1/clusters``: Argo CD's cluster Secret ``config`` layout."""
    tls: dict[str, Any] = {}
    if ca_pem is not None:
        tls["caData"] = base64.b64encode(ca_pem).decode()
    if insecure:
        tls["insecure"] = True
    config: dict[str, Any] = {"bearerToken": token}
    if tls:
        config["tlsClientConfig"] = tls
    return {"name": name, "server": server, "config": config}


@click.command("add", cls=ApiCommand)
@click.argument("name")
@click.option("--server", "cluster_server", required=True, help="The cluster's API URL.")
@click.option("--token", "cluster_token", required=True, help="Bearer token for the cluster.")
@click.option("--ca", type=EXISTING_FILE, help="PEM CA certificate of the cluster's API.")
@click.option("--insecure", is_flag=True, help="Do not verify the cluster's TLS certificate.")
@output_option()
@with_client(server_flags=False)
def cluster_add_command(
    api: ApiClient,
    name: str,
    cluster_server: str,
    cluster_token: str,
    ca: Path | None,
    insecure: bool,
    output: str,
) -> None:
    """Register cluster NAME as a deployment destination."""
    if ca is not None and insecure:
        raise click.UsageError("use either --ca or --insecure")
    pem = None
    if ca is not None:
        try:
            pem = ca.read_bytes()
        except OSError as exc:
            raise CliError(f"{ca}: cannot read: {exc.strerror or exc}") from None
    answer = api.add_cluster(cluster_request(name, cluster_server, cluster_token, pem, insecure))
    print_outcome(answer, output, f"cluster '{name}' ({cluster_server}) added")


CLUSTER_COLUMNS = ("SERVER", "NAME", "NAMESPACES")


def cluster_row(cluster: dict[str, Any]) -> tuple[str, ...]:
    """One row of ``tether cluster list`` (``all`` when no namespaces are listed)."""
    namespaces = ",".join(cluster.get("namespaces") or []) or "all"
    return (cluster.get("server", ""), cluster.get("name", ""), namespaces)


@click.command("list", cls=ApiCommand)
@output_option()
@with_client(server_flags=False)
def cluster_list_command(api: ApiClient, output: str) -> None:
    """List the clusters Applications can deploy to."""
    print_listing(api.list_clusters(), output, CLUSTER_COLUMNS, cluster_row)
