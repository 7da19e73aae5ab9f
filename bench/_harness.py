"""Shared parts of the benchmarks that run ``tether controller`` as its own process.

- :class:`ControllerProcess`: ``python -m tether controller`` as a user starts it, its
  ``/metrics`` read from the unauthenticated metrics listener (so the bench's own requests never
  mix with the controller's), its memory and CPU read from ``/proc/<pid>``;
- :class:`ObjectWatch`: a list+watch from the bench's own client that keeps a small summary per
  object (never the object itself, so 10,000 apps stay light) and wakes waiters on each change;
- :func:`parse_metrics`: the Prometheus text as ``Metrics`` (sum by name and labels).

Benchmarks import it as ``from _harness import ...`` (bench/ is on ``sys.path`` when a script
there runs).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import Expired, ServerError, Unreachable
from tether.controller.status import read_status
from tether.localcluster.cluster import ClusterProcess
from tether.names import SERVER_SECRET
from tether.tools import find_tool

T = TypeVar("T")

#: the line ``tether controller`` prints once its watches are synced and its server listens
RUNNING_LINE = "tether controller running"
#: the GitHub webhook secret the benches write into ``tether-secret`` and sign pushes with
WEBHOOK_SECRET = "bench-webhook-secret"
#: verbs that change something on the API server
WRITE_VERBS = ("create", "apply", "patch", "update", "delete", "deletecollection")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run that cannot go on (the controller died, a figure never came); the bench reports
    it in its table and goes on with the next run."""


class WaitTimeout(BenchError):
    """What a watch waited for did not happen in time."""


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's choice; the controller binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- one process seen from /proc -------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    """Memory and CPU of one process at one moment."""

    rss_mib: float
    peak_rss_mib: float
    #: user + system seconds of the process itself
    cpu_seconds: float
    #: user + system seconds of its children that ended (git, kubectl kustomize, helm)
    children_cpu_seconds: float


def process_sample(pid: int) -> ProcessSample:
    """VmRSS and VmHWM from ``/proc/<pid>/status``, CPU from ``/proc/<pid>/stat``."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS:", "VmHWM:"))
    }
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may hold spaces: count fields after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcessSample(
        rss_mib=kib.get("VmRSS", 0) / 1024,
        peak_rss_mib=kib.get("VmHWM", 0) / 1024,
        cpu_seconds=(utime + stime) / _CLOCK_TICKS,
        children_cpu_seconds=(cutime + cstime) / _CLOCK_TICKS,
    )


# ---- /metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Samples of one scrape: name -> ((label, value) pairs sorted) -> value."""

    samples: Mapping[str, Mapping[tuple[tuple[str, str], ...], float]]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(value for key, value in self.samples.get(name, {}).items() if wanted <= set(key))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """The samples of ``name`` summed per value of ``label``."""
        out: dict[str, float] = {}
        for key, value in self.samples.get(name, {}).items():
            found = dict(key).get(label, "")
            out[found] = out.get(found, 0.0) + value
        return out

    def names(self) -> set[str]:
        return set(self.samples)


def parse_metrics(text: str) -> Metrics:
    """The Prometheus text format as :class:`Metrics` (counters keep their ``_total`` name)."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = float(sample.value)
    return Metrics(samples)


def difference(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, int]:
    """What grew between two per-label readings (labels that did not move are left out)."""
    return {
        key: int(after[key] - before.get(key, 0.0))
        for key in sorted(after)
        if after[key] != before.get(key, 0.0)
    }


async def cluster_metrics(kubeconfig: Path) -> Metrics:
    """The API server's own ``/metrics`` (``kubectl get --raw``): requests it served by verb and
    resource, whoever sent them."""
    proc = await asyncio.create_subprocess_exec(
        find_tool("kubectl"),
        "--kubeconfig",
        str(kubeconfig),
        "get",
        "--raw",
        "/metrics",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"cannot read the cluster's /metrics: {err.decode().strip()}")
    return parse_metrics(out.decode())


# ---- the controller as a process --------------------------------------------------------------


def compile_modules() -> None:
    """Compile Tether's modules to ``.pyc``, as ``pip install`` and the image's build do: a
    checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile ~100 modules from
    source at every spawn (~0.4 s of a cold start no installed controller pays)."""
    package = Path(__file__).resolve().parent.parent / "tether"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


class ControllerProcess:
    """``python -m tether controller`` with the given flags, its API and metrics on free ports.

    Only what points it at the bench's cluster is added to ``flags``: ``--kubeconfig``,
    ``--cache-dir``, ``--listen`` and ``--metrics-listen``. Its output goes to files in
    ``workdir`` (``controller.out``, ``controller.err``). Tether's modules are compiled first
    (:func:`compile_modules`), as in an installed controller.
    """

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        flags: list[str],
        webhook_secret: str = WEBHOOK_SECRET,
    ) -> None:
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.flags = list(flags)
        self.webhook_secret = webhook_secret
        self.api_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._http = httpx.AsyncClient(timeout=60.0)

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def command(self) -> list[str]:
        """The command line the process runs."""
        return [
            sys.executable,
            "-m",
            "tether",
            "controller",
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.workdir / "cache"),
            "--listen",
            f"127.0.0.1:{self.api_port}",
            "--metrics-listen",
            f"127.0.0.1:{self.metrics_port}",
            *self.flags,
        ]

    def start(self) -> ControllerProcess:
        """Spawn the process; ``started_at`` is the ``perf_counter`` of the spawn."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        compile_modules()
        # unbuffered, so the "running" line reaches the file when it is printed
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with (
            (self.workdir / "controller.out").open("wb") as out,
            (self.workdir / "controller.err").open("wb") as err,
        ):
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=err, env=env)
        return self

    async def wait_running(self, timeout: float = 120.0) -> float:
        """Seconds from the spawn until the controller printed that it runs."""
        out = self.workdir / "controller.out"
        deadline = time.monotonic() + timeout
        while RUNNING_LINE not in out.read_text(errors="replace"):
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"the controller exited at start:\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the controller did not start in {timeout:.0f} s")
            await asyncio.sleep(0.02)
        return time.perf_counter() - self.started_at

    def stderr_tail(self, lines: int = 20) -> str:
        text = (self.workdir / "controller.err").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def sample(self) -> ProcessSample:
        return process_sample(self.pid)

    async def scrape(self) -> Metrics:
        """One read of the unauthenticated ``/metrics`` listener."""
        answer = await self._http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        answer.raise_for_status()
        return parse_metrics(answer.text)

    async def github_push(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/webhook`` as GitHub sends a push, signed with the webhook secret."""
        body = orjson.dumps(payload)
        key = self.webhook_secret.encode()
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        answer = await self._http.post(
            f"{self.api_url}/api/webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": f"sha256={signature}",
            },
        )
        if answer.status_code != 200:
            raise RuntimeError(f"webhook refused ({answer.status_code}): {answer.text}")
        result: dict[str, Any] = answer.json()
        return result

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        await self._http.aclose()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


def github_push_payload(url: str, before: str, after: str, files: list[str]) -> dict[str, Any]:
    """A GitHub push event of one commit modifying ``files`` on ``main``."""
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"clone_url": url, "html_url": url},
        "commits": [{"id": after, "added": [], "removed": [], "modified": files}],
    }


# ---- watching from the bench's own client -----------------------------------------------------


class ObjectWatch(Generic[T]):
    """List once, then watch one kind (in one namespace, or all), keeping ``summary(obj)`` per
    ``namespace/name``; waiters are woken on every change.

    ``first_seen[key]`` is the ``perf_counter`` at which ``done(summary)`` first held for a key
    (e.g. an Application first Synced and Healthy); ``events`` counts watch events (not
    bookmarks) since the start.
    """

    def __init__(
        self,
        client: ClusterClient,
        info: ResourceInfo,
        summary: Callable[[dict[str, Any]], T],
        done: Callable[[T], bool],
        namespace: str | None = None,
    ) -> None:
        self.client = client
        self.info = info
        self.namespace = namespace
        self.summary = summary
        self.done = done
        self.states: dict[str, T] = {}
        self.first_seen: dict[str, float] = {}
        self.events = 0
        self.last_event_at = time.perf_counter()
        self._changed = asyncio.Condition()
        self._ended: Exception | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ObjectWatch[T]:
        """Start watching; returns once the first list is in."""
        listed = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(listed))
        await listed
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Return when ``condition()`` holds (checked after each change), else raise
        :class:`WaitTimeout`."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while not condition():
                    if self._ended is not None:
                        raise BenchError(
                            f"the watch failed while waiting for {what}: {self._ended}"
                        )
                    await self._changed.wait()
        except TimeoutError:
            raise WaitTimeout(f"no {what} after {timeout:.0f} s") from None

    async def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until no event came for ``quiet`` seconds (True), or ``timeout`` passed (False)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            calm = time.perf_counter() - self.last_event_at
            if calm >= quiet:
                return True
            await asyncio.sleep(min(quiet - calm, deadline - time.perf_counter()) + 0.01)
        return False

    def done_keys(self) -> set[str]:
        return set(self.first_seen)

    async def _run(self, listed: asyncio.Future[None]) -> None:
        try:
            await self._follow(listed)
        except Exception as exc:
            # the first list failed: start() raises it; later: the waiters are woken and raise
            if not listed.done():
                listed.set_exception(exc)
            async with self._changed:
                self._ended = exc
                self._changed.notify_all()

    async def _follow(self, listed: asyncio.Future[None]) -> None:
        version = ""
        while True:
            try:
                if not version:
                    version = await self._relist()
                    if not listed.done():
                        listed.set_result(None)
                async for event in self.client.watch(
                    self.info, self.namespace, resource_version=version
                ):
                    version = event.object.get("metadata", {}).get("resourceVersion", version)
                    if event.type != "BOOKMARK":
                        await self._take(event.type, event.object)
            except Expired:
                version = ""  # too far behind: list again
            except (Unreachable, ServerError):
                await asyncio.sleep(0.5)

    async def _relist(self) -> str:
        result = await self.client.list(self.info, self.namespace)
        async with self._changed:
            self.states.clear()
            for obj in result.items:
                self._keep(obj)
            self._changed.notify_all()
        return result.resource_version

    async def _take(self, kind: str, obj: dict[str, Any]) -> None:
        async with self._changed:
            self.events += 1
            self.last_event_at = time.perf_counter()
            if kind == "DELETED":
                self.states.pop(_key(obj), None)
            else:
                self._keep(obj)
            self._changed.notify_all()

    def _keep(self, obj: dict[str, Any]) -> None:
        key = _key(obj)
        state = self.summary(obj)
        self.states[key] = state
        if key not in self.first_seen and self.done(state):
            self.first_seen[key] = time.perf_counter()


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def deployment_available(obj: dict[str, Any]) -> bool:
    """The Deployment's ``Available`` condition is True (what ``kubectl wait`` checks)."""
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


async def write_webhook_secret(
    client: ClusterClient, namespace: str, secret: str = WEBHOOK_SECRET
) -> None:
    """The GitHub webhook secret in ``tether-secret``, as an operator configures it."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SERVER_SECRET, "namespace": namespace},
        "stringData": {"webhook.github.secret": secret},
    }
    info = await client.resource_for("v1", "Secret")
    await client.apply(info, body, field_manager="bench", force=True)


def app_summary(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(sync status, health, revision): all a bench keeps of an Application."""
    status = read_status(obj)
    return status.sync, status.health, status.revision


def synced_healthy(state: tuple[str, str, str]) -> bool:
    return state[0] == "Synced" and state[1] == "Healthy"


# ---- results ----------------------------------------------------------------------------------


class Table:
    """Figures by row and column, echoed as they come and printed together at the end."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.rows: dict[str, dict[str, str]] = {}
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """A line printed under the table (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def put(self, label: str, column: str, value: str, echo: bool = True) -> None:
        self.rows.setdefault(label, {})[column] = value
        if echo:
            print(f"  [{column}] {label.strip()}: {value}", flush=True)

    def print(self) -> None:
        width = max((len(label) for label in self.rows), default=10)
        print()
        print(f"{'figure':{width}}  " + "  ".join(f"{c:>16}" for c in self.columns))
        for label, values in self.rows.items():
            cells = "  ".join(f"{values.get(c, ''):>16}" for c in self.columns)
            print(f"{label:{width}}  {cells}", flush=True)
        for text in self.notes:
            print(f"* {text}", flush=True)


@dataclass
class Run:
    """One controller process on its own cluster, and the bench's watches of it."""

    column: str
    root: Path
    cluster: ClusterProcess
    client: ClusterClient
    controller: ControllerProcess
    apps: ObjectWatch[tuple[str, str, str]]
    leases: ObjectWatch[str]
