"""Parts of bench/images.py: Debian's docker-registry on loopback, images pushed through the
distribution API, the fake GitHub's pull requests and the git server's pushes as they happen,
the same git work done by hand, and ``skopeo list-tags``.

Copied (not imported: benches never import tests) from tests/images/conftest.py where the
tests do the same: the registry's config, the two blobs and one manifest per tag.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _fleet import CONTROL_NAMESPACE
from _harness import BenchError

from tether.cluster.client import ClusterClient
from tether.demo.repo import git as demo_git
from tether.githost.fake import FakeGitHost
from tether.images.testing import (
    OCI_MANIFEST,
    RunningRegistry,
    manifest_of,
    upload_blobs,
)
from tether.names import FLUX_IMAGE_API_VERSION
from tether.render.tooling import kustomize_argv
from tether.source.gitserver import GitHTTPServer
from tether.source.webhooks import RefUpdate

# ---- the scenario of the event figure ----------------------------------------------------

NS = CONTROL_NAMESPACE
REPO = "acme/k8s-manifests"
TOKEN = "ghp_benchImageBot0123456789abcdefAB"
NOTIFY_SECRET = "bench-registry-notify-secret"
BRANCH = "tether/image-updates"
BRANCH_REF = f"refs/heads/{BRANCH}"
OVERLAY = "apps/payment-service/production/kustomization.yaml"
IMAGE_REPO = "example/payment-service"
TARGET_NS = "payment-service-production"
#: the ImageRepository's interval: the scans between events are this far apart
REPOSITORY_INTERVAL = "5m"


async def apply_all(client: ClusterClient, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        info = await client.resource_for(doc["apiVersion"], doc["kind"])
        await client.apply(info, doc, field_manager="bench", force=True)


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def notifications(api_url: str) -> dict[str, Any]:
    """docker-registry's ``notifications``: every event to the controller's ``/api/webhook``."""
    endpoint = {
        "name": "tether",
        "url": f"{api_url}/api/webhook",
        "headers": {"Authorization": [f"Bearer {NOTIFY_SECRET}"]},
        "timeout": "5s",
        "threshold": 5,
        "backoff": "1s",
    }
    return {"endpoints": [endpoint]}


def first_seen(extract: Callable[[dict[str, Any]], Any]) -> tuple[Callable[..., Any], dict]:
    """A watch summary that records when each value was first seen."""
    times: dict[Any, float] = {}

    def summary(obj: dict[str, Any]) -> Any:
        value = extract(obj)
        times.setdefault(value, time.perf_counter())
        return value

    return summary, times


async def diagnosis(client: ClusterClient, logs: Sequence[Path]) -> str:
    """What the three image objects say, and the tails of ``logs``: printed when an event's pull
    request did not come."""
    lines = []
    for kind in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"):
        info = await client.resource_for(FLUX_IMAGE_API_VERSION, kind)
        status = (await client.get(info, "payment-service", NS)).get("status") or {}
        ready = [c for c in status.get("conditions") or () if c.get("type") == "Ready"]
        found = {
            "tagCount": (status.get("lastScanResult") or {}).get("tagCount"),
            "latestRef": status.get("latestRef"),
            "lastAutomationRunTime": status.get("lastAutomationRunTime"),
            "Ready": {k: ready[0].get(k) for k in ("status", "reason", "message")}
            if ready
            else None,
        }
        lines.append(f"  {kind}: " + json.dumps({k: v for k, v in found.items() if v}))
    for log in logs:
        text = log.read_text(errors="replace").splitlines() if log.exists() else []
        lines.append(f"  {log.name}, last lines:")
        lines += [f"    {line}" for line in text[-15:]]
    return "\n".join(lines)


# ---- figures -------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of the samples."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def ms(value: float) -> str:
    if math.isinf(value):
        return "missed"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def machine_facts(load_at_start: float) -> list[str]:
    """What this machine is, how loaded it was (others may run on it outside the bench lock),
    and the versions of the parts measured."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text()
    mem = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.M)
    versions = []
    for command in (["docker-registry", "--version"], ["skopeo", "--version"], ["git", "version"]):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        versions.append(done.stdout.strip().split("\n")[0])
    return [
        f"machine: {os.cpu_count()} cores ({model.group(1) if model else 'unknown CPU'}), "
        f"{int(mem.group(1)) / 1024 / 1024 if mem else 0:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"load average (1 min): {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at "
        "the end",
        "parts: " + "; ".join(versions),
    ]


# ---- the registry -------------------------------------------------------------------------------


class Pusher:
    """Pushes images through the distribution API: the two blobs once per repository, then one
    manifest per tag (what ``docker push`` of an image whose layers are there already sends)."""

    def __init__(self, registry: RunningRegistry) -> None:
        self.registry = registry
        self.http = httpx.AsyncClient(timeout=30)
        self._descriptors: dict[str, list[dict[str, Any]]] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def blobs(self, repository: str) -> list[dict[str, Any]]:
        if repository not in self._descriptors:
            with httpx.Client(timeout=30) as http:
                self._descriptors[repository] = await asyncio.to_thread(
                    upload_blobs, http, self.registry, repository
                )
        return self._descriptors[repository]

    async def manifest(self, repository: str, tag: str) -> tuple[float, float]:
        """PUT the manifest of ``tag``; returns the ``perf_counter`` values when the request
        was about to be sent and when its answer came."""
        body = manifest_of(tag, await self.blobs(repository))
        sent = time.perf_counter()
        answer = await self.http.put(
            self.registry.url(f"/v2/{repository}/manifests/{tag}"),
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        done = time.perf_counter()
        if answer.status_code != 201:
            raise BenchError(f"manifest PUT refused ({answer.status_code}): {answer.text}")
        return sent, done

    async def tags(self, repository: str, tags: Sequence[str], concurrency: int = 8) -> None:
        """Push many tags (setting up, not timed)."""
        await self.blobs(repository)
        gate = asyncio.Semaphore(concurrency)

        async def one(tag: str) -> None:
            async with gate:
                await self.manifest(repository, tag)

        await asyncio.gather(*(one(tag) for tag in tags))


# ---- git ----------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    try:
        return demo_git(list(args), cwd)
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"git {' '.join(args)}: {(exc.stderr or '').strip()}") from None


def seed_repository(url: str, work: Path, files: dict[str, str]) -> None:
    """Clone the empty repository, commit ``files`` and push ``main``."""
    git(work.parent, "clone", "-q", url, str(work))
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "payment-service 1.4.0")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")


@dataclass(frozen=True)
class HandTimes:
    """One round of the git work a person (or a polling updater) does for a new tag."""

    clone: float
    edit_commit: float
    push: float
    render: float

    @property
    def git_total(self) -> float:
        return self.clone + self.edit_commit + self.push


def by_hand(url: str, scratch: Path, overlay: str, tag: str, branch: str) -> HandTimes:
    """``git clone --depth 1``, sed of the overlay's newTag, commit, push to ``branch``; then
    ``kubectl kustomize`` of the overlay twice (Tether's renderer; before and after: what the
    diff in the pull request's body needs)."""
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.perf_counter()
    git(scratch.parent, "clone", "-q", "--depth", "1", "--branch", "main", url, str(scratch))
    cloned = time.perf_counter()
    subprocess.run(
        ["sed", "-i", "-E", f"s/newTag: [^ ]+/newTag: {tag}/", str(scratch / overlay)], check=True
    )
    git(scratch, "commit", "-q", "-am", f"payment-service {tag}")
    committed = time.perf_counter()
    git(scratch, "push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}")
    pushed = time.perf_counter()
    folder = str((scratch / overlay).parent)
    for _ in range(2):
        subprocess.run([*kustomize_argv(), folder], check=True, capture_output=True)
    rendered = time.perf_counter()
    return HandTimes(cloned - started, committed - cloned, pushed - committed, rendered - pushed)


# ---- what happens on the fake host and the git server ------------------------------------------


@dataclass
class Moments:
    """When pull requests changed (the fake's open/edit returned) and branches moved (the git
    server answered a push), as ``perf_counter`` values, recorded from the threads that serve
    them; waiters in the bench's event loop are woken on each."""

    loop: asyncio.AbstractEventLoop
    #: (moment, body) of each pull request opened or edited, open ones only
    pulls: list[tuple[float, str]] = field(default_factory=list)
    #: (moment, ref) of each ref a push moved
    pushes: list[tuple[float, str]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def hook(self, host: FakeGitHost, server: GitHTTPServer) -> Moments:
        """Wrap the fake forge's ``open_pull``/``edit_pull`` (what GitHub's POST and PATCH of a
        pull request call) and listen to the git server's pushes."""
        forge = host.forge
        for name in ("open_pull", "edit_pull"):
            setattr(forge, name, self._wrapped(getattr(forge, name)))
        server.on_push = self._pushed
        return self

    def _wrapped(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            pull = original(*args, **kwargs)
            if pull.state == "open":
                self.pulls.append((time.perf_counter(), pull.body))
                self.loop.call_soon_threadsafe(self._changed.set)
            return pull

        return wrapped

    def _pushed(self, repository: Path, refs: tuple[RefUpdate, ...]) -> None:
        now = time.perf_counter()
        self.pushes.extend((now, ref.ref) for ref in refs)

    def pushed(self, ref: str, since: float) -> float | None:
        return next((at for at, moved in self.pushes if moved == ref and at >= since), None)

    async def pull_naming(self, tag: str, since: float, timeout: float) -> float:
        """The moment an open pull request's body first named ``tag`` after ``since``."""
        pattern = re.compile(rf"(?<![0-9.]){re.escape(tag)}(?![0-9])")
        deadline = time.perf_counter() + timeout
        while True:
            self._changed.clear()
            for at, body in self.pulls:
                if at >= since and pattern.search(body):
                    return at
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise BenchError(f"no pull request named {tag} within {timeout:.0f} s")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


# ---- skopeo --------------------------------------------------------------------------------------


async def skopeo_list_tags(host: str, repository: str) -> tuple[float, int]:
    """``skopeo list-tags --tls-verify=false docker://HOST/REPO``: seconds and tags listed."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "skopeo",
        "list-tags",
        "--tls-verify=false",
        f"docker://{host}/{repository}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"skopeo list-tags failed: {err.decode().strip()}")
    return elapsed, len(json.loads(out)["Tags"])
