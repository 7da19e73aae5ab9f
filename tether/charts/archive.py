"""Unpacking a chart archive (`.tgz`) safely, as Helm reads one.

A chart archive holds one top-level folder (`<chart>/...`) whose content is the chart; Helm
strips that folder, and so does `unpack_chart`. What Helm refuses is refused here too (absolute
paths, paths that climb out with `..`), and more: links, devices and other special members, a
member twice, files outside the top folder. The sizes are bounded while reading, before
anything is written past them: the decompressed stream as a whole (a gzip bomb stops there),
each file, all files together and their number (`ChartLimits`). Blocking: call it from a
worker thread.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import IO

from tether.charts.errors import ChartArchiveError, ChartLimitError
from tether.charts.limits import ChartLimits

_CHUNK = 1 << 16
_MAX_NAME = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# a tar header and padding per member, plus long-name and pax records: generous on purpose,
# the per-file and total sizes are what really bound the unpacked chart
_HEADER_ALLOWANCE = 4096


class _Overflow(Exception):
    """The decompressed stream went past its bound."""


class _BoundedReader(io.RawIOBase):
    """A read-only stream that fails once more than `limit` bytes have been read from it."""

    def __init__(self, source: io.BufferedIOBase, limit: int) -> None:
        self._source = source
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise _Overflow
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class _Unpacking:
    """The state of one unpack: what was written, and how much."""

    def __init__(self, target: Path, limits: ChartLimits, what: str) -> None:
        self.target = target
        self.limits = limits
        self.what = what
        self.top: str | None = None
        self.members = 0
        self.unpacked = 0
        self.seen: set[str] = set()

    def refuse(self, problem: str) -> ChartArchiveError:
        return ChartArchiveError(f"{self.what}: the archive {problem}; refusing to unpack it")

    def parts(self, name: str) -> list[str]:
        """The member's path as parts, refused when it is too long, absolute or climbs out."""
        shown = name[:200]
        text = name.replace("\\", "/")
        if len(text) > _MAX_NAME:
            raise self.refuse(f"holds a path longer than {_MAX_NAME} characters ({shown!r}...)")
        if text.startswith("/") or _DRIVE.match(text):
            raise self.refuse(f"holds the absolute path {shown!r}")
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self.refuse(f"holds the path {shown!r}, which climbs out with '..'")
        return parts

    def relative_path(self, name: str) -> str | None:
        """The member's path inside the chart folder (None for the folder itself)."""
        shown = name[:200]
        parts = self.parts(name)
        if not parts:
            raise self.refuse(f"holds a member with the empty path {shown!r}")
        if self.top is None:
            self.top = parts[0]
        elif parts[0] != self.top:
            raise self.refuse(
                f"holds more than one top-level folder ({self.top!r} and {parts[0]!r}); a "
                "chart archive holds one folder, the chart"
            )
        return "/".join(parts[1:]) or None

    def count(self, member: tarfile.TarInfo) -> None:
        self.members += 1
        if self.members > self.limits.max_files:
            raise ChartLimitError(
                f"{self.what}: the archive holds more than {self.limits.max_files} files"
            )
        if not member.isfile():
            return
        if member.size > self.limits.max_file_bytes:
            raise ChartLimitError(
                f"{self.what}: {member.name[:200]!r} in the archive is {member.size} bytes, more "
                f"than the limit of {self.limits.max_file_bytes} bytes per file"
            )
        self.unpacked += member.size
        if self.unpacked > self.limits.max_unpacked_bytes:
            raise ChartLimitError(
                f"{self.what}: the archive unpacks to more than "
                f"{self.limits.max_unpacked_bytes} bytes"
            )

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.count(member)
        kind_ok = member.isdir() or (member.isfile() and not member.issparse())
        if not kind_ok:
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise self.refuse(
                f"holds {member.name[:200]!r}, a {kind}; charts hold plain files and folders"
            )
        relative = self.relative_path(member.name)
        if relative is None:
            if not member.isdir():
                raise self.refuse(f"holds the file {member.name[:200]!r} outside a chart folder")
            return
        if relative in self.seen:
            raise self.refuse(f"holds {member.name[:200]!r} twice")
        self.seen.add(relative)
        path = self.target / relative
        if member.isdir():
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
            return
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise self.refuse(f"holds {member.name[:200]!r}, which cannot be read")
        _copy(source, path, member.size)


def _copy(source: IO[bytes], path: Path, size: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, 0o644), "wb") as handle:
        left = size
        while left > 0:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                break
            handle.write(chunk)
            left -= len(chunk)


def unpack_chart(archive: Path, target: Path, limits: ChartLimits, what: str) -> str:
    """Unpack the chart in `archive` into `target` (created with its parents), the
    archive's top folder stripped. Returns that folder's name. `what` names the chart in
    messages. On any failure `target` is removed and `ChartArchiveError` or `ChartLimitError`
    is raised."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    target.mkdir(mode=0o755)
    state = _Unpacking(target, limits, what)
    stream_limit = limits.max_unpacked_bytes + (limits.max_files + 2) * _HEADER_ALLOWANCE
    try:
        with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            reader = io.BufferedReader(_BoundedReader(unzipped, stream_limit))
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    state.add(tar, member)
        if state.top is None:
            raise state.refuse("is empty")
        if not (target / "Chart.yaml").is_file():
            raise state.refuse(f"has no Chart.yaml in its folder {state.top!r}")
    except _Overflow:
        shutil.rmtree(target, ignore_errors=True)
        raise ChartLimitError(
            f"{what}: the archive decompresses to more than {stream_limit} bytes "
            "(a compression bomb?); refusing to unpack it"
        ) from None
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ChartArchiveError(
            f"{what}: the archive is not a valid gzip-compressed tar file ({exc})"
        ) from None
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ChartArchiveError(f"{what}: cannot unpack the archive: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return state.top
