"""The demo's working copy pushes through the served URL, with a plain `git push`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tether.demo.repo import create_repository, prepare_working_copy
from tether.source.gitserver import GitHTTPServer


def run_git(work: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=work, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home: git finds no identity of the user's."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


def test_the_working_copy_pushes_to_the_served_url(tmp_path: Path, user_home: Path) -> None:
    root = tmp_path / "git"
    bare, work = root / "k8s.git", tmp_path / "work"
    create_repository(bare, work)
    with GitHTTPServer(root) as server:
        url = server.url("k8s.git")
        prepare_working_copy(work, url)
        assert run_git(work, "remote", "get-url", "origin") == url
        (work / "README.md").write_text("changed\n")
        run_git(work, "commit", "-qam", "change")  # the demo's identity: the user has none
        run_git(work, "push", "-q")  # no upstream argument needed
        assert run_git(bare, "rev-parse", "main") == run_git(work, "rev-parse", "HEAD")
        assert run_git(work, "config", "--local", "user.email") == "demo@tether.invalid"


def test_a_user_identity_is_kept_and_a_deleted_working_copy_comes_back(
    tmp_path: Path, user_home: Path
) -> None:
    (user_home / ".gitconfig").write_text("[user]\n\tname = Ada\n\temail = ada@example.com\n")
    root = tmp_path / "git"
    bare, work = root / "k8s.git", tmp_path / "work"
    create_repository(bare, work)
    shutil.rmtree(work)
    with GitHTTPServer(root) as server:
        prepare_working_copy(work, server.url("k8s.git"))
    assert run_git(work, "rev-parse", "HEAD") == run_git(bare, "rev-parse", "main")
    assert run_git(work, "config", "user.email") == "ada@example.com"
    local = subprocess.run(
        ["git", "config", "--local", "user.email"], cwd=work, capture_output=True, check=False
    )
    assert local.returncode == 1, "the user's own identity was overridden in the clone"
