"""The client commands under test, grouped as ``tether`` groups them, and an isolated config."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tether.cli.app import app_group
from tether.cli.clusters_cmd import cluster_add_command, cluster_list_command
from tether.cli.image import image_group
from tether.cli.login import login_command, logout_command
from tether.cli.proj import proj_group
from tether.cli.repo import repo_group


def build_cli() -> click.Group:
    """The client commands in one group, as ``tether.cli.main`` registers them."""

    @click.group()
    def cli() -> None:
        """tether (client commands only)."""

    @click.group("cluster")
    def cluster() -> None:
        """Clusters."""

    cluster.add_command(cluster_add_command)
    cluster.add_command(cluster_list_command)
    groups = (app_group, proj_group, repo_group, image_group, login_command, logout_command)
    for command in (*groups, cluster):
        cli.add_command(command)
    return cli


CLI = build_cli()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config file and no TETHER_* settings from the environment."""
    path = tmp_path / "tether-config" / "config.yaml"
    monkeypatch.setenv("TETHER_CONFIG", str(path))
    for var in ("TETHER_SERVER", "TETHER_TOKEN", "TETHER_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return path
