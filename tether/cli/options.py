"""Click options and parameter types shared by the ``tether`` commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

OUTPUT_FORMATS = ("table", "json", "yaml")
#: an existing file (not a folder), given to the command as a Path
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
#: an existing folder, given to the command as a Path
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def output_option(default: str = "table", formats: Sequence[str] = OUTPUT_FORMATS) -> Any:
    """``-o/--output``: one of ``formats``."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(list(formats)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def parse_pairs(values: Sequence[str], flag: str, form: str = "KEY=VALUE") -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a repeated ``flag`` whose values read ``form``."""
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not {form}", param_hint=flag)
        pairs.append((key, rest))
    return pairs


def cluster_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--kubeconfig``, ``--context`` and ``--namespace`` (the control namespace) of the commands
    that run beside a cluster (``tether controller``, ``tether server``)."""
    options = [
        click.option(
            "--kubeconfig",
            type=click.Path(path_type=Path),
            help="Kubeconfig (default: in-cluster, then $KUBECONFIG).",
        ),
        click.option("--context", help="Kubeconfig context."),
        click.option(
            "--namespace",
            envvar="TETHER_NAMESPACE",
            default="argocd",
            show_default=True,
            help="Control namespace holding Applications.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def api_server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the API server: ``--listen``, ``--tls-cert``, ``--tls-key``,
    ``--metrics-listen`` and ``--trusted-proxy`` (``tether server``; ``tether controller`` has
    the same for the server it runs)."""
    options = [
        click.option(
            "--listen", default="127.0.0.1:8080", show_default=True, help="API and UI address."
        ),
        click.option(
            "--tls-cert",
            type=click.Path(exists=True, dir_okay=False),
            help="Serve the API over TLS with this certificate (PEM).",
        ),
        click.option(
            "--tls-key",
            type=click.Path(exists=True, dir_okay=False),
            help="Private key (PEM) of --tls-cert.",
        ),
        click.option(
            "--metrics-listen",
            metavar="HOST:PORT",
            callback=lambda ctx, param, value: host_port(value, "--metrics-listen"),
            help="Serve /metrics WITHOUT authentication on this address too (for Prometheus; "
            "the install uses 0.0.0.0:8082). Off by default.",
        ),
        click.option(
            "--trusted-proxy",
            "trusted_proxies",
            multiple=True,
            metavar="CIDR",
            help="A reverse proxy whose X-Forwarded-For is believed (repeatable; none by default).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def host_port(value: str | None, option: str) -> str | None:
    """``HOST:PORT`` (``[::1]:8082`` for IPv6) or a usage error naming ``option``."""
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT, not {value!r}", param_hint=option)
    return value


def client_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--qps``, ``--burst`` and ``--max-in-flight`` of the cluster client (defaults:
    ``ClientSettings``'s), for the commands that run beside a cluster."""
    from tether.cluster.config import ClientSettings

    defaults = ClientSettings()
    options = [
        click.option(
            "--qps",
            type=float,
            default=defaults.qps,
            show_default=True,
            help="Client-side API rate limit (a guard against a runaway loop).",
        ),
        click.option("--burst", type=int, default=defaults.burst, show_default=True),
        click.option(
            "--max-in-flight",
            type=click.IntRange(0, 10000),
            default=defaults.max_in_flight,
            show_default=True,
            help="API requests answered at once (watches not counted; 0: no bound). The bound "
            "that protects the API server: see docs/controller.md, Scaling.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command
