"""Entry point of the ``tether`` command: one click group, each subcommand in its own module."""

from __future__ import annotations

import click

from tether import __version__
from tether.cli.app import app_group
from tether.cli.cluster import cluster_group
from tether.cli.clusters_cmd import cluster_add_command, cluster_list_command
from tether.cli.controller import controller_command, up_command
from tether.cli.health import health_command
from tether.cli.install import install_command
from tether.cli.login import login_command, logout_command
from tether.cli.proj import proj_group
from tether.cli.render import render_command
from tether.cli.repo import repo_group
from tether.cli.seal import seal_command, secrets_controller_command
from tether.cli.server_cmd import server_command


@click.group()
@click.version_option(__version__, prog_name="tether")
def cli() -> None:
    """Tether: GitOps continuous delivery for Kubernetes."""


cli.add_command(cluster_group)
cluster_group.add_command(cluster_add_command)
cluster_group.add_command(cluster_list_command)
cli.add_command(login_command)
cli.add_command(logout_command)
cli.add_command(app_group)
cli.add_command(proj_group)
cli.add_command(repo_group)
cli.add_command(controller_command)
cli.add_command(up_command)
cli.add_command(server_command)
cli.add_command(render_command)
cli.add_command(health_command)
cli.add_command(install_command)
cli.add_command(seal_command)
cli.add_command(secrets_controller_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
