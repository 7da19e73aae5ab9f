"""Entry point of the ``tether`` command: one click group, each subcommand in its own module."""

from __future__ import annotations

import click

from tether import __version__
from tether.cli.cluster import cluster_group
from tether.cli.controller import controller_command, up_command
from tether.cli.health import health_command
from tether.cli.install import install_command
from tether.cli.render import render_command
from tether.cli.seal import seal_command, secrets_controller_command


@click.group()
@click.version_option(__version__, prog_name="tether")
def cli() -> None:
    """Tether: GitOps continuous delivery for Kubernetes."""


cli.add_command(cluster_group)
cli.add_command(controller_command)
cli.add_command(up_command)
cli.add_command(render_command)
cli.add_command(health_command)
cli.add_command(install_command)
cli.add_command(seal_command)
cli.add_command(secrets_controller_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
