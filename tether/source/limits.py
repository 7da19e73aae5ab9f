"""Bounds on what the source stage spends: time on the network, bytes read from a tree.

Every default here is documented in docs/sources.md; operators override them through
`MirrorCache(timeouts=..., limits=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class GitTimeouts:
    """Time limits of git's network operations.

    `ls_remote`, `fetch` (also the first clone) and `local` (maintenance such as `git gc`) are
    wall-clock limits: past them the whole process group of the git command is killed. The
    others are handed to git so that a stalled transfer fails long before the wall clock:
    HTTP(S) aborts when fewer than `low_speed_limit` bytes per second arrive for
    `low_speed_time` seconds (git's `http.lowSpeedLimit` / `http.lowSpeedTime`); SSH gives up
    when the connection and banner exchange take longer than `connect` seconds and when the
    server stops answering keep-alives every `server_alive_interval` seconds
    (`ServerAliveCountMax` 3). `max_output_bytes` bounds what git may print (an `ls-remote`
    against a hostile server could list endless refs).
    """

    ls_remote: float = 30.0
    fetch: float = 300.0
    local: float = 300.0
    low_speed_limit: int = 1000
    low_speed_time: int = 30
    connect: int = 20
    server_alive_interval: int = 15
    max_output_bytes: int = 64 * MIB


@dataclass(frozen=True)
class TreeLimits:
    """Bounds on reading a commit's tree, all checked from object headers before reading.

    `max_file_bytes` applies to every file read or exported; `max_tree_bytes`, `max_entries`
    and `max_depth` apply to the files, entries and folder depth of one export.
    """

    max_file_bytes: int = 32 * MIB
    max_tree_bytes: int = 1024 * MIB
    max_entries: int = 200_000
    max_depth: int = 256
