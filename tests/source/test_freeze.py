"""A repository that hangs or answers garbage fails within its bound, and freezes nothing else.

Each hostile server holds a connection at most a minute (a watchdog), so a regression fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.source.conftest import Remote
from tests.source.servers import (
    DripServer,
    GarbageServer,
    HangableProxy,
    NotGitServer,
    SilentServer,
)
from tether.localcluster.testing import eventually
from tether.source import (
    AppSource,
    GitError,
    GitTimeoutError,
    GitTimeouts,
    MirrorCache,
    RepoCredentials,
    RevisionNotFoundError,
    SourcePoller,
)
from tether.source.gitserver import GitHTTPServer

# The wall clock, not git's low-speed check, must be what stops a silent server here.
WALL_CLOCK = GitTimeouts(ls_remote=10, fetch=10, low_speed_time=600, connect=600)


async def test_silent_server_times_out_while_loop_and_other_repositories_go_on(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    poller = SourcePoller(
        MirrorCache(tmp_path / "cache", timeouts=WALL_CLOCK), lambda u: credentials
    )
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    with SilentServer() as silent:
        hanging_url = silent.url("team/app.git")
        poller.register(AppSource("hanging", hanging_url))
        poller.register(AppSource("healthy", remote.url, "main"))
        beat = asyncio.create_task(heartbeat())
        hanging = asyncio.create_task(poller.poll_async([hanging_url]))
        await eventually(
            silent.accepted.is_set,
            timeout=60,
            what="git to connect to the silent server",
            interval=0.01,
        )
        ticks_at_hang = ticks

        # All of this runs on the event loop while git waits on the silent socket.
        poller.register(AppSource("late", remote.url, "main", "late"))
        assert poller.commit_of("hanging") is None
        healthy = await poller.poll_async([remote.url])

        assert not hanging.done(), "the healthy poll had to wait for the hanging one"
        assert healthy.apps["healthy"].error is None
        assert healthy.apps["healthy"].commit == poller.commit_of("healthy") is not None
        assert ticks > ticks_at_hang
        result = await hanging
        beat.cancel()

        error = result.apps["hanging"].error
        assert isinstance(error, GitTimeoutError)
        assert "timed out after 10 s" in str(error) and "127.0.0.1" in str(error)
        # The whole process group died: git's HTTP helper let go of the connection.
        await eventually(
            silent.closed_by_client.is_set,
            timeout=60,
            what="the connection to be closed",
            interval=0.01,
        )
    poller.close()


async def test_polls_asked_while_one_hangs_join_the_waiting_one(
    credentials: RepoCredentials, tmp_path: Path
) -> None:
    timeouts = GitTimeouts(ls_remote=3, low_speed_time=600)
    poller = SourcePoller(MirrorCache(tmp_path / "cache", timeouts=timeouts), lambda u: credentials)
    with SilentServer() as silent:
        url = silent.url("team/app.git")
        poller.register(AppSource("hanging", url))
        first = asyncio.create_task(poller.poll_async([url]))
        await eventually(silent.accepted.is_set, timeout=60, what="git to connect")
        # A webhook storm: each request would otherwise start its own git process.
        later = [asyncio.create_task(poller.poll_async([url])) for _ in range(5)]

        results = await asyncio.gather(first, *later)

        assert all(isinstance(r.apps["hanging"].error, GitTimeoutError) for r in results)
        assert silent.connections == 2  # the running poll, then one for all who asked meanwhile
    poller.close()


@pytest.mark.parametrize(
    ("server", "expected"),
    [(GarbageServer, GitError), (NotGitServer, RevisionNotFoundError)],
    ids=["garbage", "not-git"],
)
def test_server_that_is_not_git_fails_clearly_at_once(
    server: type[GarbageServer], expected: type[Exception], tmp_path: Path
) -> None:
    poller = SourcePoller(MirrorCache(tmp_path / "cache", timeouts=WALL_CLOCK))
    with server() as hostile:
        poller.register(AppSource("app", hostile.url("team/app.git")))

        error = poller.poll().apps["app"].error

    assert isinstance(error, expected) and not isinstance(error, GitTimeoutError)
    assert "Traceback" not in str(error)
    if expected is GitError:
        assert "127.0.0.1" in str(error) and "HTTP/0.9" in str(error)
    else:
        assert "not a git server" in str(error)
    poller.close()


def test_stalled_http_transfer_stops_at_the_low_speed_limit(tmp_path: Path) -> None:
    timeouts = GitTimeouts(ls_remote=600, low_speed_limit=1000, low_speed_time=2)
    cache = MirrorCache(tmp_path / "cache", timeouts=timeouts)
    with DripServer() as drip, pytest.raises(GitTimeoutError, match="timed out") as caught:
        cache.mirror(drip.url("team/app.git")).ls_remote()

    assert "Operation too slow" in str(caught.value)


def test_silent_ssh_server_stops_at_the_connect_timeout(tmp_path: Path) -> None:
    timeouts = GitTimeouts(ls_remote=600, connect=2)
    cache = MirrorCache(tmp_path / "cache", timeouts=timeouts)
    with SilentServer() as silent:
        url = f"ssh://git@127.0.0.1:{silent.port}/team/app.git"
        with pytest.raises(GitTimeoutError, match="banner exchange"):
            cache.mirror(url).ls_remote()


def test_reads_go_on_while_a_fetch_of_the_same_mirror_hangs(
    remote: Remote, credentials: RepoCredentials, git_server: GitHTTPServer, tmp_path: Path
) -> None:
    cache = MirrorCache(tmp_path / "cache", timeouts=WALL_CLOCK)
    with HangableProxy(git_server.port) as proxy:
        mirror = cache.mirror(proxy.url(remote.bare.name), credentials)
        first = mirror.resolve("main").commit
        remote.commit_and_push("next", {"f": "2"})
        proxy.hang.set()
        failures: list[BaseException] = []

        def fetch() -> None:
            try:
                mirror.fetch()
            except BaseException as error:  # examined below
                failures.append(error)

        fetching = threading.Thread(target=fetch)
        fetching.start()
        assert proxy.held.wait(60)

        # Readers take the mirror's read lock: it must not be held by the hanging fetch.
        assert mirror.tree(first).read_file("README.md") == b"hello\n"
        assert mirror.has_commit(first)
        assert fetching.is_alive(), "the read had to wait for the fetch"
        fetching.join(60)

    assert len(failures) == 1 and isinstance(failures[0], GitTimeoutError)
    assert "git fetch" in str(failures[0]) and "timed out after 10 s" in str(failures[0])


def test_hanging_git_calls_leave_the_default_executor_free(tmp_path: Path) -> None:
    """Renders and exports run on the loop's default executor: three resolves hanging on a
    silent server must not take its (here: two) threads."""
    cache = MirrorCache(tmp_path / "cache", timeouts=WALL_CLOCK)

    async def scenario() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        with SilentServer() as silent:
            mirrors = [cache.mirror(silent.url(f"r{i}.git")) for i in range(3)]
            hanging = [asyncio.create_task(m.resolve_async("main")) for m in mirrors]
            await eventually(
                lambda: silent.connections == 3, timeout=60, what="three connections", interval=0.01
            )

            assert await asyncio.to_thread(lambda: "free") == "free"

            assert not any(task.done() for task in hanging), "to_thread waited for git"
            outcomes = await asyncio.gather(*hanging, return_exceptions=True)
        assert all(isinstance(outcome, GitTimeoutError) for outcome in outcomes)

    asyncio.run(scenario())
