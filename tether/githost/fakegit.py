"""The git work of the fake Git host, done by the real `git` on the served bare repositories.

Reading: branch heads (`for-each-ref`), whether a commit exists, how many commits a head has
over its base. Merging: as a forge does it, in a throwaway clone of the bare repository (shared
objects, no checkout of the whole history), then a push of the result back to the bare one, so
that the base branch moves by a real commit that any fetch sees. The push is a fast-forward: if
the base moved meanwhile, git refuses it and the merge reports `BranchMovedError`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tether.source.gitserver import read_refs
from tether.source.webhooks import RefUpdate

#: GitHub's `merge_method`s, and Gitea's `Do` values
MERGE_METHODS = ("merge", "squash", "rebase", "rebase-merge", "fast-forward-only")
_GIT_TIMEOUT = 60.0
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


class MergeError(Exception):
    """A merge could not be made; the API answers it with its own status and words."""


class MergeConflictError(MergeError):
    """Head and base change the same lines."""


class BranchMovedError(MergeError):
    """The head is not at the expected commit, or the base moved while merging."""


class NotFastForwardError(MergeError):
    """``fast-forward-only`` was asked and the base is not an ancestor of the head."""


def _env() -> dict[str, str]:
    """git with no user or system configuration, committing as the forge."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Fake Forge",
        "GIT_AUTHOR_EMAIL": "forge@fake.invalid",
        "GIT_COMMITTER_NAME": "Fake Forge",
        "GIT_COMMITTER_EMAIL": "forge@fake.invalid",
        "GIT_TERMINAL_PROMPT": "0",
    }


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; raise `MergeError` with git's words when ``check`` and it fails."""
    completed = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=_GIT_TIMEOUT,
    )
    if check and completed.returncode != 0:
        raise MergeError(f"git {args[0]} failed: {completed.stderr.strip()[:500]}")
    return completed


def init_bare(path: Path, branch: str = "main") -> None:
    """Create an empty bare repository whose default branch is ``branch``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "-q", "--bare", f"--initial-branch={branch}", path.name)


def is_bare_repository(path: Path) -> bool:
    """True when ``path`` is a bare git repository."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def branch_heads(bare: Path) -> dict[str, str]:
    """Each branch of ``bare`` and the commit it points at."""
    prefix = "refs/heads/"
    return {
        name[len(prefix) :]: sha for name, sha in read_refs(bare).items() if name.startswith(prefix)
    }


def default_branch(bare: Path) -> str:
    """The branch the bare repository's HEAD names (GitHub's ``default_branch``)."""
    found = git(bare, "symbolic-ref", "--short", "HEAD", check=False)
    return found.stdout.strip() or "main"


def path_exists(bare: Path, ref: str, path: str) -> bool:
    """True when ``path`` (a file or a folder) exists at ``ref`` (a branch or a commit)."""
    if not ref or ref.startswith("-") or ".." in path.split("/"):
        return False
    spec = f"{ref}:{path.strip('/')}"
    return git(bare, "cat-file", "-e", spec, check=False).returncode == 0


def commit_exists(bare: Path, sha: str) -> bool:
    """True when ``sha`` names a commit of ``bare``."""
    if not sha or sha.startswith("-"):
        return False
    return git(bare, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def commits_ahead(bare: Path, base_sha: str, head_sha: str) -> int:
    """How many commits ``head_sha`` has that ``base_sha`` has not."""
    counted = git(bare, "rev-list", "--count", f"{base_sha}..{head_sha}", check=False)
    return int(counted.stdout.strip() or 0) if counted.returncode == 0 else 0


def _lock(bare: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(bare.resolve(), threading.Lock())


def merge_branches(
    bare: Path,
    base: str,
    head: str,
    method: str,
    message: str,
    expected_head: str | None = None,
) -> RefUpdate:
    """Merge branch ``head`` into branch ``base`` of ``bare`` by ``method`` (one of
    `MERGE_METHODS`) with commit ``message``; return the move of the base branch."""
    if method not in MERGE_METHODS:
        raise MergeError(f"unknown merge method {method!r}")
    with _lock(bare):
        heads = branch_heads(bare)
        base_sha, head_sha = heads.get(base), heads.get(head)
        if base_sha is None or head_sha is None:
            raise BranchMovedError(f"branch {base if base_sha is None else head} is gone")
        if expected_head and expected_head != head_sha:
            raise BranchMovedError(f"head is at {head_sha}, not {expected_head}")
        with tempfile.TemporaryDirectory(prefix="fake-forge-merge-") as scratch:
            work = Path(scratch) / "work"
            git(Path(scratch), "clone", "-q", "--shared", "--no-checkout", str(bare), str(work))
            merged = _merge_in(work, base_sha, head_sha, method, message)
            pushed = git(work, "push", "-q", "origin", f"{merged}:refs/heads/{base}", check=False)
            if pushed.returncode != 0:
                raise BranchMovedError(f"the base branch moved: {pushed.stderr.strip()[:300]}")
    return RefUpdate(f"refs/heads/{base}", base_sha, merged)


def _merge_in(work: Path, base_sha: str, head_sha: str, method: str, message: str) -> str:
    """Make the merged commit in the clone ``work``; return its sha."""
    if method == "fast-forward-only":
        ancestor = git(work, "merge-base", "--is-ancestor", base_sha, head_sha, check=False)
        if ancestor.returncode != 0:
            raise NotFastForwardError("the base is not an ancestor of the head")
        return head_sha
    if method in ("rebase", "rebase-merge"):
        git(work, "checkout", "-q", "--detach", head_sha)
        _or_conflict(work, ("rebase", "-q", base_sha), ("rebase", "--abort"))
        rebased = _head(work)
        if method == "rebase":
            return rebased
        head_sha = rebased
    git(work, "checkout", "-q", "--detach", base_sha)
    if method == "squash":
        _or_conflict(work, ("merge", "-q", "--squash", head_sha), ("reset", "-q", "--hard"))
        git(work, "commit", "-q", "--allow-empty", "-m", message)
    else:
        merge = ("merge", "-q", "--no-ff", "--no-edit", "-m", message, head_sha)
        _or_conflict(work, merge, ("merge", "--abort"))
    return _head(work)


def _or_conflict(work: Path, command: Sequence[str], undo: Sequence[str]) -> None:
    done = git(work, *command, check=False)
    if done.returncode != 0:
        git(work, *undo, check=False)
        raise MergeConflictError((done.stdout + done.stderr).strip()[:500])


def _head(work: Path) -> str:
    return git(work, "rev-parse", "HEAD").stdout.strip()
