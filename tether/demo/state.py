"""Where the demo keeps its state, what it remembers between starts, and which ports it takes.

The state folder is ``$XDG_DATA_HOME/tether/demo`` (``~/.local/share/tether/demo`` without it)
unless ``--state`` names one. It holds the local cluster's objects, the Git repositories, the
controller's cache and ``demo.json``, which keeps the Git server's port: Applications name the
repository by URL, so the URL must survive a restart.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from tether.demo.errors import DemoPortError, DemoStateError

#: the ports a first start tries; a taken one gives way to a free one (said on stderr)
DEFAULT_CLUSTER_PORT = 6443
DEFAULT_LISTEN = "127.0.0.1:8080"
STATE_FILE = "demo.json"
#: demo.json holds two short fields; anything larger is not ours
MAX_STATE_BYTES = 64 * 1024


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/tether/demo``, else ``~/.local/share/tether/demo`` (XDG base dirs:
    a relative ``XDG_DATA_HOME`` is ignored)."""
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME", "")
    if not data_home or not os.path.isabs(data_home):
        home = env.get("HOME") or str(Path.home())
        data_home = os.path.join(home, ".local", "share")
    return Path(data_home) / "tether" / "demo"


@dataclass(frozen=True)
class DemoState:
    """What one start of the demo leaves for the next (``demo.json``)."""

    git_port: int | None = None
    repo_url: str | None = None


def load_state(state_dir: Path) -> DemoState:
    """The state of the last start (empty on the first)."""
    path = state_dir / STATE_FILE
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return DemoState()
    except OSError as exc:
        raise DemoStateError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
        doc = orjson.loads(raw)
        port, url = doc.get("gitPort"), doc.get("repoURL")
        if not isinstance(port, int) or not 0 < port < 65536 or not isinstance(url, str):
            raise ValueError("gitPort must be a port number and repoURL a URL")
    except (ValueError, AttributeError) as exc:
        raise DemoStateError(
            f"{path} is not the demo's state ({exc}); delete it and the Git server takes a new "
            "port (Applications naming the old repository URL must then be changed)"
        ) from None
    return DemoState(git_port=port, repo_url=url)


def save_state(state_dir: Path, state: DemoState) -> None:
    """Write ``demo.json`` (through a temporary file, so a crash leaves the old one whole)."""
    path = state_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    try:
        temporary.write_bytes(orjson.dumps({"gitPort": state.git_port, "repoURL": state.repo_url}))
        temporary.replace(path)
    except OSError as exc:
        raise DemoStateError(f"cannot write {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class PortChoice:
    """The port to bind (0: any free one) and the default it replaces when that was taken."""

    host: str
    port: int
    taken: int | None = None

    @property
    def listen(self) -> str:
        """``HOST:PORT`` as ``--listen`` spells it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def note(self, what: str, bound: int) -> str | None:
        """A line saying where ``what`` listens instead of the taken default (None: it did not
        move)."""
        if self.taken is None:
            return None
        return f"port {self.taken} is in use: {what} listens on {self.host}:{bound} instead"


def port_in_use(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (another program listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as the servers bind: a port in TIME_WAIT after the last start is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise DemoPortError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return False


def choose_port(host: str, port: int, *, chosen: bool, option: str) -> PortChoice:
    """``port`` when free; when taken, a free port if ``port`` is the default (``chosen``
    False), else an error naming ``option``."""
    if port == 0 or not port_in_use(host, port):
        return PortChoice(host, port)
    if chosen:
        raise DemoPortError(
            f"{host}:{port} ({option}) is in use: choose another port, or leave {option} out "
            "and tether up takes a free one"
        )
    return PortChoice(host, 0, taken=port)


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as host and port."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise DemoPortError(f"--listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)
