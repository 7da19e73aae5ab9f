"""Hostile repository content meets change detection: nothing crashes the poller.

The poll runs in a child process under RLIMIT_AS and a timeout: before the fix, a
kustomization nested 50,000 deep overflowed PyYAML's C composer (a segfault of the whole
process), so the test must not run it in the pytest process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.source.conftest import PASSWORD, USER, Remote

CHAIN = 1500  # bases each naming the next: deeper than Python's recursion limit

CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from tests.source.conftest import git
from tether.source import AppSource, MirrorCache, RepoCredentials, SourcePoller

url, user, password, work, cache = sys.argv[1:]
credentials = RepoCredentials(url=url, username=user, password=password)
poller = SourcePoller(MirrorCache(Path(cache)), lambda u: credentials)
for name, path in (("deep", "deep"), ("chain", "c/k0"), ("chart", "chart"), ("other", "other")):
    poller.register(AppSource(name, url, "main", path))
first = poller.poll()
Path(work, "deep/x.yaml").write_text("changed")
Path(work, "c/k{last}/cm.yaml").write_text("changed")
Path(work, "chart/x.yaml").write_text("changed")
git(Path(work), "add", "-A")
git(Path(work), "commit", "-q", "-m", "touch")
git(Path(work), "push", "-q", "origin", "HEAD:refs/heads/main")
second = poller.poll()
print(json.dumps({{"first": first.changed, "second": second.changed,
                  "errors": {{k: str(v) for k, v in second.errors.items()}}}}))
"""


def test_deep_yaml_and_long_base_chains_do_not_crash_the_poller(
    remote: Remote, tmp_path: Path
) -> None:
    files = {
        "deep/kustomization.yaml": "[" * 50_000 + "]" * 50_000 + "\n",
        "deep/x.yaml": "a: 1\n",
        "chart/Chart.yaml": "name: c\ndependencies: 5\n",
        "chart/x.yaml": "a: 1\n",
        "other/cm.yaml": "a: 1\n",
    }
    for index in range(CHAIN):
        files[f"c/k{index}/kustomization.yaml"] = f"resources:\n- ../k{index + 1}\n- cm.yaml\n"
        files[f"c/k{index}/cm.yaml"] = "a: 1\n"
    remote.commit_and_push("hostile", files)
    script = CHILD.format(last=CHAIN - 1)
    child = subprocess.run(
        [sys.executable, "-c", script, remote.url, USER, PASSWORD, str(remote.work), str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert child.returncode == 0, f"the poll died ({child.returncode}): {child.stderr[-2000:]}"
    outcome = json.loads(child.stdout)
    assert outcome["first"] == ["chain", "chart", "deep", "other"]
    assert outcome["second"] == ["chain", "chart", "deep"]
    assert outcome["errors"] == {}
