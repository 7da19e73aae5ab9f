"""The fake Git host over a real loopback git server, repositories with real branches, and a
client of each API the fake speaks (GitHub, Gitea)."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tether.githost import GiteaClient, GitHubClient
from tether.githost.fake import FakeGitHost, FakeUser
from tether.source.gitserver import GitHTTPServer
from tether.source.webhooks import RefUpdate

TOKEN = "ghp_fakeToken0123456789abcdefABCDEF"
READ_ONLY_TOKEN = "ghp_readOnly0123456789abcdefABCDEF"
_names = itertools.count(1)


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity and no user configuration; return its output."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class Pushes:
    """What the git server's ``on_push`` heard."""

    seen: list[tuple[Path, tuple[RefUpdate, ...]]] = field(default_factory=list)

    def __call__(self, repository: Path, refs: tuple[RefUpdate, ...]) -> None:
        self.seen.append((repository, refs))


@dataclass
class Repo:
    """A repository on the fake host, and a clone that pushes branches to it."""

    name: str
    url: str
    bare: Path
    work: Path

    def push_branch(self, branch: str, files: dict[str, str], start: str = "main") -> str:
        """Commit ``files`` on ``branch`` (made from ``start`` when new) and push it."""
        exists = git(self.work, "branch", "--list", branch)
        git(self.work, "checkout", "-q", *([branch] if exists else ["-b", branch, start]))
        for path, content in files.items():
            (self.work / path).write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"change {', '.join(files)} on {branch}")
        git(self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")

    def bare_git(self, *args: str) -> str:
        return git(self.bare, *args)


@pytest.fixture(scope="session")
def pushes() -> Pushes:
    return Pushes()


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory, pushes: Pushes) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("forge")
    with GitHTTPServer(root, on_push=pushes) as server:
        yield server


@pytest.fixture(scope="session")
def fake_server(git_server: GitHTTPServer) -> Iterator[FakeGitHost]:
    tokens: dict[str, str | FakeUser] = {
        TOKEN: "tether-bot",
        READ_ONLY_TOKEN: FakeUser("reader", write=False),
    }
    with FakeGitHost(git_server, tokens, max_page_size=2) as host:
        yield host


@pytest.fixture
def fake(fake_server: FakeGitHost) -> Iterator[FakeGitHost]:
    """The fake host (pages of 2), its rate limits back to normal after each test."""
    yield fake_server
    fake_server.set_github_rate_limit(5000)
    fake_server.clear_rate_limits()


@pytest.fixture
def repo(fake: FakeGitHost, tmp_path: Path) -> Repo:
    """``acme/appN`` with one commit on main."""
    name = f"acme/app{next(_names)}"
    url = fake.create_repo(name)
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", url, str(work))
    git(work, "checkout", "-q", "-b", "main")
    (work / "deploy.yaml").write_text("image: app:1.0.0\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "initial")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    return Repo(name, url, fake.bare_path(name), work)


@pytest.fixture(params=["github", "gitea"])
async def client(request: pytest.FixtureRequest, fake: FakeGitHost) -> AsyncIterator[GitHubClient]:
    """A client of each API the fake serves (GiteaClient is a GitHubClient with Gitea's ways)."""
    if request.param == "github":
        host: GitHubClient = GitHubClient(fake.github_api_url, TOKEN)
    else:
        host = GiteaClient(fake.gitea_api_url, TOKEN)
    async with host:
        yield host
