"""Run one benchmark on an earlier revision and on this tree, in the same run, side by side.

For a change that must cost nothing (a refactor), or one that claims a speed-up: the benchmark
runs first from a git worktree of ``BASE`` (its own code, this virtualenv), then from this tree,
and every row both print as ``label  value`` is shown with the ratio now/base.

    python bench/versus.py BASE bench/engine.py [benchmark arguments...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
#: a result row: a label, two or more spaces, a value starting with a number
_ROW = re.compile(r"^\s*(?P<label>\S.*?)\s{2,}(?P<value>-?\d[\d.]*\s*\S*.*)$")


def run(tree: Path, script: str, args: list[str]) -> list[tuple[str, str]]:
    """The rows ``script`` prints when run from ``tree`` (its stdout, echoed as it comes)."""
    print(f"--- {tree}: {script} {' '.join(args)}", flush=True)
    proc = subprocess.Popen(
        [sys.executable, str(tree / script), *args],
        cwd=tree,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)} | _tools_path(),
    )
    assert proc.stdout is not None
    rows = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        match = _ROW.match(line.rstrip())
        if match:
            rows.append((match["label"].strip(), match["value"].strip()))
    if proc.wait() != 0:
        raise SystemExit(f"{script} failed on {tree}")
    return rows


def _tools_path() -> dict[str, str]:
    tools = ROOT / ".tools" / "bin"
    return {
        "PATH": f"{tools}:{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    }


def ratio(base: str, now: str) -> str:
    a, b = _NUMBER.search(base), _NUMBER.search(now)
    if a is None or b is None or float(a.group()) == 0:
        return ""
    return f"{float(b.group()) / float(a.group()):.2f}"


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    base, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory(prefix="tether-versus-") as tmp:
        worktree = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), base],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            before = run(worktree, script, args)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
    after = run(ROOT, script, args)
    now = dict(after)
    width = max((len(label) for label, _ in before), default=10)
    print(f"\n{'figure':{width}}  {'base ' + base[:10]:>22}  {'now':>22}  ratio")
    for label, value in before:
        if label in now:
            print(f"{label:{width}}  {value:>22}  {now[label]:>22}  {ratio(value, now[label])}")


if __name__ == "__main__":
    main()
