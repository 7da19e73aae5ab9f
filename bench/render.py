"""Render benchmark: cache-hit latency and cold renders of the corpus apps, next to the tools run
directly (``kubectl kustomize``, ``helm template``) as the baseline; and the overhead of the
render limits (confined tools, bounded YAML) against today's path, the render stage of the commit
before them (``--baseline``), in the same run.

Run: .venv/bin/python bench/render.py [--rounds N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tether.render import RenderCache, render  # noqa: E402
from tether.tools import find_tool  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
# the commit before the render limits of issue 13: its render stage is "today's path"
BASELINE = "dfa1ade"
# one timing in a fresh interpreter of either tree: renders by wall time (they wait for tools),
# YAML parsing by CPU time (the machine is shared)
_TIMER = """
import json, statistics, sys, time
from pathlib import Path
from tether.render import render
from tether.render.manifests import parse_tool_output
spec = json.loads(sys.argv[1])
if spec["kind"] == "render":
    args = (spec["root"], spec["path"], spec["source"])
    render(*args, app_name="podinfo")
    times = []
    for _ in range(spec["rounds"]):
        start = time.perf_counter()
        render(*args, app_name="podinfo")
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times)}))
else:
    data = Path(spec["file"]).read_bytes()
    times, objects = [], 0
    for _ in range(spec["rounds"]):
        start = time.process_time()
        objects = len(parse_tool_output(data, "helm"))
        times.append(time.process_time() - start)
    print(json.dumps({"seconds": min(times), "objects": objects}))
"""
DATA = ROOT / "tests" / "render" / "data"
REPO = "https://example.com/bench.git"
SHA = "0123456789abcdef0123456789abcdef01234567"
JSONNET_SOURCE = {
    "directory": {
        "jsonnet": {
            "extVars": [{"name": "env", "value": "bench"}, {"name": "tag", "value": "1"}],
            "tlas": [{"name": "replicas", "value": "2", "code": True}],
        }
    }
}


def apps() -> list[tuple[str, Path, str, dict[str, Any], list[str] | None]]:
    """(label, repository root, path, source, direct tool argv or None)."""
    kubectl = find_tool("kubectl")
    helm = find_tool("helm")
    podinfo = CORPORA / "podinfo"
    chart = podinfo / "charts" / "podinfo"
    flux = CORPORA / "flux2-kustomize-helm-example"
    return [
        (
            "podinfo/kustomize",
            podinfo,
            "kustomize",
            {},
            [kubectl, "kustomize", str(podinfo / "kustomize")],
        ),
        (
            "podinfo chart",
            podinfo,
            "charts/podinfo",
            {},
            [helm, "template", "podinfo", str(chart), "--include-crds"],
        ),
        (
            "podinfo chart + values-prod",
            podinfo,
            "charts/podinfo",
            {"helm": {"valueFiles": ["values-prod.yaml"]}},
            [
                helm,
                "template",
                "podinfo",
                str(chart),
                "--include-crds",
                "--values",
                str(chart / "values-prod.yaml"),
            ],
        ),
        (
            "flux apps/staging",
            flux,
            "apps/staging",
            {},
            [kubectl, "kustomize", str(flux / "apps" / "staging")],
        ),
        (
            "flux apps/production",
            flux,
            "apps/production",
            {},
            [kubectl, "kustomize", str(flux / "apps" / "production")],
        ),
        ("jsonnet-app (tests data)", DATA, "jsonnet-app", JSONNET_SOURCE, None),
    ]


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} µs"


def _time_in(tree: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the timer in a fresh interpreter importing ``tether`` from ``tree``."""
    run = subprocess.run(
        [sys.executable, "-c", _TIMER, json.dumps(spec)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _baseline_tree(revision: str, into: Path) -> Path:
    """The ``tether`` package of ``revision``, unpacked (tools shared with this checkout)."""
    archive = subprocess.run(
        ["git", "archive", revision, "tether"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / ".tools").symlink_to(ROOT / ".tools")
    return into


def _helm_stream(into: Path, megabytes: int) -> Path:
    """``helm template`` output of the podinfo chart, repeated to about ``megabytes`` MiB."""
    chart = CORPORA / "podinfo" / "charts" / "podinfo"
    output = subprocess.run(
        [find_tool("helm"), "template", "podinfo", str(chart), "--include-crds"],
        capture_output=True,
        check=True,
    ).stdout
    path = into / "helm-output.yaml"
    path.write_bytes(output * (megabytes * 1024 * 1024 // len(output)))
    return path


def limits_overhead(revision: str, rounds: int) -> None:
    """Today's path (``revision``) against the bounded one, interleaved, in the same run."""
    print(f"render limits: today's path ({revision}) vs bounded (confined tools, bounded YAML)")
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        old = _baseline_tree(revision, Path(scratch))
        print(f"{'app':28} {'today':>11} {'bounded':>11} {'ratio':>6}")
        for label, root, path, source, _ in apps():
            spec = {"kind": "render", "root": str(root), "path": path, "source": source}
            spec["rounds"] = rounds
            today, bounded = [], []
            for _ in range(3):  # interleaved: the machine's load drifts
                today.append(_time_in(old, spec)["seconds"])
                bounded.append(_time_in(ROOT, spec)["seconds"])
            t, b = statistics.median(today), statistics.median(bounded)
            print(f"{label:28} {ms(t)} {ms(b)} {b / t:6.2f}")
        stream = _helm_stream(Path(scratch), 8)
        spec = {"kind": "parse", "file": str(stream), "rounds": 3}
        today_cpu = _time_in(old, spec)
        bounded_cpu = _time_in(ROOT, spec)
        size = stream.stat().st_size / 1024 / 1024
        label = f"parse {size:.0f} MiB helm output"
        print(
            f"{label:28} {ms(today_cpu['seconds'])} {ms(bounded_cpu['seconds'])} "
            f"{bounded_cpu['seconds'] / today_cpu['seconds']:6.2f}   "
            f"(CPU time, {bounded_cpu['objects']} objects)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="cold renders per app")
    parser.add_argument("--hits", type=int, default=10000, help="cache hits per app")
    parser.add_argument("--baseline", default=BASELINE, help="revision of today's path")
    args = parser.parse_args()

    limits_overhead(args.baseline, args.rounds)
    print()

    print(f"cold render (median of {args.rounds}) vs the tool run directly")
    print(f"{'app':28} {'objects':>7} {'tether':>11} {'tool alone':>11} {'overhead':>11}")
    for label, root, path, source, argv in apps():
        result = render(root, path, source, app_name="podinfo")  # warm the OS caches
        cold = statistics.median(
            timed(lambda: render(root, path, source, app_name="podinfo"), args.rounds)  # noqa: B023
        )
        if argv is not None:
            direct = statistics.median(
                timed(lambda: subprocess.run(argv, capture_output=True, check=True), args.rounds)  # noqa: B023
            )
            baseline, overhead = ms(direct), ms(cold - direct)
        else:
            baseline, overhead = f"{'(in-proc)':>11}", f"{'':>11}"
        print(f"{label:28} {len(result.objects):7d} {ms(cold)} {baseline} {overhead}")

    print()
    print(f"cache hit ({args.hits} renders per app; target < 1 ms); copy_objects() for callers")
    print(f"{'app':28} {'median':>11} {'p99':>11} {'max':>11} {'copy':>11}")
    cache = RenderCache()
    for label, root, path, source, _ in apps():
        kwargs: dict[str, Any] = {"repo_url": REPO, "revision": SHA, "cache": cache}
        first = render(root, path, source, **kwargs)
        hits = sorted(timed(lambda: render(root, path, source, **kwargs), args.hits))  # noqa: B023
        copy = statistics.median(timed(first.copy_objects, 200))
        p99 = hits[int(len(hits) * 0.99)]
        print(f"{label:28} {us(statistics.median(hits))} {us(p99)} {us(hits[-1])} {us(copy)}")
    print(f"\ncache: {len(cache)} entries, {cache.hits} hits, {cache.misses} misses")
    print()
    # the third figure of the issue: a poll round over 1,000 apps on 10 repositories
    import importlib.util

    spec = importlib.util.spec_from_file_location("source_poll", ROOT / "bench" / "source_poll.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
