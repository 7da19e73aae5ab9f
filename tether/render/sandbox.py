"""Confining rendering tools: no network, bounded memory and CPU time.

helm, kustomize (through kubectl) and the Jsonnet worker read what a repository gives them; a
chart's ``values.schema.json`` can make helm fetch a URL, and a template can double a string
until the machine runs out of memory. Each tool therefore starts through two small programs of
util-linux, which set things up and then ``exec`` the tool in the same process:

* ``unshare -n`` (as root) or ``unshare -rn`` (otherwise, through a user namespace): a network
  namespace of its own, with no interface up, not even loopback. Which one works is found out
  once per process by trying it. Where neither does (a container without the capability and
  without user namespaces) the tool runs with HTTP routed to a dead proxy, a warning is logged,
  and with ``RenderLimits.require_network_isolation`` the render fails instead.
* with ``read_only`` mounts (a shared, sealed export the render reads in place, and files of
  the render's own laid over files of it): a mount namespace too (``unshare -mn`` / ``-rmn``),
  where each source is bind-mounted read-only onto its target (the export onto itself) before the
  tool starts, and ``setpriv`` then drops every capability, so neither the tool
  nor anything it starts can write there or mount it again (EROFS). Where no mount namespace can
  be made, :func:`can_protect_tree` says so and the render works on a private copy instead.
* ``prlimit``: RLIMIT_CPU (CPU seconds, then SIGKILL), RLIMIT_DATA (heap) and RLIMIT_AS (address
  space: the heap limit plus 1 GiB, because the Go runtime reserves address space it never
  touches). Without ``prlimit`` the same limits are set by the child before ``exec``.
"""

from __future__ import annotations

import logging
import resource
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tether.render.errors import RenderError
from tether.render.models import RenderLimits

log = logging.getLogger(__name__)

# address space the Go runtime reserves beyond its heap (helm and kubectl fail to start with
# RLIMIT_AS at 512 MiB while using 50 MiB)
_RESERVED_ADDRESS_SPACE = 1024 * 1024 * 1024

_lock = threading.Lock()
_isolation: list[str] | None = None
_isolation_known = False
_isolation_problem = ""
_warned = False
# prefix (unshare and its flags) that gives a mount namespace, by whether the tool keeps the network
_protection: dict[bool, list[str] | None] = {}

# bind-mounts each (source, target) pair before "--" read-only, then execs what follows
_READ_ONLY_SCRIPT = (
    'while [ "$1" != -- ]; do mount --bind -o ro "$1" "$2" || exit 125; shift 2; done; '
    'shift; exec "$@"'
)


@dataclass(frozen=True)
class Confined:
    """How to start a tool: the argv (wrappers first) and, without ``prlimit``, the function
    the child runs before ``exec`` to set its limits."""

    argv: list[str]
    preexec_fn: Callable[[], None] | None
    network_isolated: bool


def _try(prefix: list[str]) -> str:
    """'' when ``prefix + [true]`` runs, else why not."""
    true = shutil.which("true") or "/bin/true"
    try:
        run = subprocess.run([*prefix, true], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if run.returncode != 0:
        return run.stderr.decode(errors="replace").strip() or f"exit status {run.returncode}"
    return ""


def network_isolation() -> list[str] | None:
    """The argv prefix that gives a process an empty network namespace, or None where none
    can be made here; found out once per process."""
    global _isolation, _isolation_known, _isolation_problem
    if _isolation_known:
        return _isolation
    with _lock:
        if not _isolation_known:
            unshare = shutil.which("unshare")
            problems = []
            if unshare is None:
                problems.append("unshare (util-linux) is not installed")
            else:
                # -n needs CAP_SYS_ADMIN; -rn makes a user namespace first, where allowed
                for flags in (["-n"], ["-rn"]):
                    problem = _try([unshare, *flags])
                    if not problem:
                        _isolation = [unshare, *flags, "--"]
                        break
                    problems.append(f"unshare {' '.join(flags)}: {problem}")
            _isolation_problem = "; ".join(problems)
            _isolation_known = True
    return _isolation


def _read_only_wrapper(unshare: list[str], mounts: list[tuple[str, str]]) -> list[str]:
    sh = shutil.which("sh") or "/bin/sh"
    tail = ["--"]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        # no capability left: the tool cannot remount the folders writable
        tail += [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--"]
    pairs = [path for mount in mounts for path in mount]
    return [*unshare, sh, "-c", _READ_ONLY_SCRIPT, "sh", *pairs, *tail]


def _probe_protection(network: bool) -> list[str] | None:
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        return None
    flags = "m" if network else "mn"
    with tempfile.TemporaryDirectory(prefix="tether-probe-") as folder:
        for variant in (f"-{flags}", f"-r{flags}"):
            prefix = [unshare, variant, "--"]
            if not _try(_read_only_wrapper(prefix, [(folder, folder)])):
                return prefix
    return None


def can_protect_tree(network: bool = False) -> bool:
    """Whether tools can run with folders mounted read-only (a mount namespace can be made
    here); found out once per process for each ``network`` setting."""
    if network not in _protection:
        with _lock:
            if network not in _protection:
                _protection[network] = _probe_protection(network)
    return _protection[network] is not None


def _within_hard_limit(which: int, value: int) -> int:
    # a limit above this process's own hard limit cannot be set (EPERM without privileges)
    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _limit_values(limits: RenderLimits) -> tuple[int, int, int]:
    data = limits.tool_memory_bytes
    return (
        _within_hard_limit(resource.RLIMIT_CPU, limits.tool_cpu_seconds),
        _within_hard_limit(resource.RLIMIT_DATA, data),
        _within_hard_limit(resource.RLIMIT_AS, data + _RESERVED_ADDRESS_SPACE),
    )


def _rlimit_prefix(limits: RenderLimits) -> list[str] | None:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return None
    cpu, data, address_space = _limit_values(limits)
    return [prlimit, f"--cpu={cpu}", f"--data={data}", f"--as={address_space}", "--"]


def limits_prefix(limits: RenderLimits) -> list[str]:
    """``prlimit`` with the render limits' CPU time and memory, to put before a tool's argv
    (empty where prlimit is missing: the tool then runs with the process's own limits)."""
    return _rlimit_prefix(limits) or []


def _set_rlimits(limits: RenderLimits) -> Callable[[], None]:
    cpu, data, address_space = _limit_values(limits)

    def set_limits() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return set_limits


def _without_isolation(what: str, limits: RenderLimits) -> None:
    global _warned
    if limits.require_network_isolation:
        raise RenderError(
            f"{what}: cannot cut the tool off the network ({_isolation_problem}), and the render "
            "limits require it; run Tether where 'unshare -n' or 'unshare -rn' works"
        )
    if not _warned:
        _warned = True
        log.warning(
            "render tools run WITH network access (HTTP routed to a dead proxy only): %s",
            _isolation_problem,
        )


def confine(
    argv: list[str],
    limits: RenderLimits,
    *,
    what: str,
    network: bool,
    read_only: tuple[tuple[str, str], ...] = (),
) -> Confined:
    """``argv`` wrapped to run without network (unless ``network``), with each ``read_only``
    (source, target) bind-mounted read-only, in order, and within the tool limits of
    ``limits``."""
    prefix: list[str] = []
    isolated = False
    if read_only:
        if not can_protect_tree(network):
            raise RenderError(
                f"{what}: cannot mount the shared tree read-only for the tool (no mount "
                "namespace here); it must render from a private copy"
            )
        unshare = _protection[network]
        assert unshare is not None
        prefix = _read_only_wrapper(unshare, list(read_only))
        isolated = not network
    elif not network:
        isolation = network_isolation()
        if isolation is None:
            _without_isolation(what, limits)
        else:
            prefix += isolation
            isolated = True
    rlimits = _rlimit_prefix(limits)
    if rlimits is None:
        return Confined([*prefix, *argv], _set_rlimits(limits), isolated)
    return Confined([*prefix, *rlimits, *argv], None, isolated)
