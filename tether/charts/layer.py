"""Unpacking an OCI artifact's content layer into a folder tree for the render stage.

A layer is a tar archive, gzip-compressed when its media type ends in `+gzip`. Its files are
unpacked as they are, without a top folder stripped, except for a Helm chart layer: as Argo
CD does, the chart's one folder becomes the root. The rules and bounds of chart archives apply
(`tether.charts.archive`): no absolute path, no `..`, no links or special files, no member
twice, sizes and counts within `ChartLimits`. Blocking: call it from a worker thread.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zlib
from contextlib import ExitStack
from pathlib import Path

from tether.charts.archive import (
    _HEADER_ALLOWANCE,
    _BoundedReader,
    _Overflow,
    _Unpacking,
    unpack_chart,
)
from tether.charts.errors import ChartArchiveError, ChartLimitError
from tether.charts.limits import ChartLimits
from tether.charts.ocimanifest import HELM_CHART_LAYER, HELM_LEGACY_CHART_LAYER


class _TreeUnpacking(_Unpacking):
    """A chart archive's rules, for a tree whose members are paths from its root."""

    def relative_path(self, name: str) -> str | None:
        parts = self.parts(name)
        self.top = self.top or "."
        return "/".join(parts) or None

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if not (member.isdir() or (member.isfile() and not member.issparse())):
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise self.refuse(
                f"holds {member.name[:200]!r}, a {kind}; Tether unpacks plain files and "
                "folders only"
            )
        super().add(tar, member)


def unpack_layer(blob: Path, target: Path, media_type: str, limits: ChartLimits, what: str) -> None:
    """Unpack the layer in `blob` (of `media_type`) into `target`, created with its parents.

    On any failure `target` is removed and `ChartArchiveError` or `ChartLimitError` raised.
    """
    if media_type in (HELM_CHART_LAYER, HELM_LEGACY_CHART_LAYER):
        unpack_chart(blob, target, limits, what)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    target.mkdir(mode=0o755)
    state = _TreeUnpacking(target, limits, what)
    stream_limit = limits.max_unpacked_bytes + (limits.max_files + 2) * _HEADER_ALLOWANCE
    try:
        with ExitStack() as stack:
            stream: io.BufferedIOBase = stack.enter_context(blob.open("rb"))
            if media_type.endswith("+gzip"):
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            reader = io.BufferedReader(_BoundedReader(stream, stream_limit))
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    state.add(tar, member)
        if not state.seen:
            raise state.refuse("holds no files")
    except _Overflow:
        shutil.rmtree(target, ignore_errors=True)
        raise ChartLimitError(
            f"{what}: the layer unpacks to more than {stream_limit} bytes of tar stream; "
            "refusing to unpack it"
        ) from None
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        shutil.rmtree(target, ignore_errors=True)
        kind = "gzip-compressed tar" if media_type.endswith("+gzip") else "tar"
        raise ChartArchiveError(f"{what}: the layer is not a valid {kind} file ({exc})") from None
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ChartArchiveError(f"{what}: cannot unpack the layer: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
