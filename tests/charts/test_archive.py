"""Unpacking chart archives: what helm packages unpacks; traversal, links, bombs do not."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest

from tests.charts.servers import chart_tgz, file_member, tgz
from tether.charts import ChartArchiveError, ChartLimitError, ChartLimits
from tether.charts.archive import unpack_chart

CHART = {"Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n", "templates/a.yaml": "a: 1\n"}


def unpack(tmp_path: Path, data: bytes, limits: ChartLimits | None = None) -> Path:
    archive = tmp_path / "chart.tgz"
    archive.write_bytes(data)
    target = tmp_path / "out" / "web"
    unpack_chart(archive, target, limits or ChartLimits(), "chart web 1.0.0")
    return target


def test_an_archive_packaged_by_helm_unpacks_without_its_top_folder(
    packaged: Path, tmp_path: Path
) -> None:
    target = tmp_path / "web"

    top = unpack_chart(packaged / "web-1.2.0.tgz", target, ChartLimits(), "chart web 1.2.0")

    assert top == "web"
    assert "version: 1.2.0" in (target / "Chart.yaml").read_text()
    assert (target / "templates" / "configmap.yaml").is_file()


def link(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([file_member("web/../../evil.yaml", b"x")], "climbs out with '..'"),
        ([file_member("../evil.yaml", b"x")], "climbs out with '..'"),
        ([file_member("/etc/evil.yaml", b"x")], "absolute path"),
        ([file_member("web\\..\\..\\evil.yaml", b"x")], "climbs out"),
        ([file_member("C:/evil.yaml", b"x")], "absolute path"),
        ([link("web/templates/x.yaml", "/etc/passwd")], "a link"),
        ([link("web/templates/x.yaml", "../../../../etc/passwd", hard=True)], "a link"),
        ([file_member("web/Chart.yaml", b"a"), file_member("other/x", b"b")], "more than one"),
        ([file_member("web/Chart.yaml", b"a"), file_member("web/./Chart.yaml", b"b")], "twice"),
        ([file_member("Chart.yaml", b"a")], "outside a chart folder"),
        ([file_member("web/templates/a.yaml", b"a")], "no Chart.yaml"),
        ([], "is empty"),
    ],
)
def test_unsafe_or_malformed_archives_are_refused_and_leave_nothing(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], problem: str
) -> None:
    with pytest.raises(ChartArchiveError, match=problem):
        unpack(tmp_path, tgz(members))

    assert not (tmp_path / "out" / "web").exists()
    assert not (tmp_path / "evil.yaml").exists() and not (tmp_path / "out" / "evil.yaml").exists()


def test_a_device_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("web/dev")
    info.type = tarfile.CHRTYPE
    with pytest.raises(ChartArchiveError, match="special file"):
        unpack(tmp_path, tgz([file_member("web/Chart.yaml", b"a"), (info, None)]))


def test_a_gzip_bomb_stops_at_the_decompression_bound(tmp_path: Path) -> None:
    # a tar header claiming a small file, followed by 16 MiB of zeros (compressing to ~16 KiB)
    header = tarfile.TarInfo("web/Chart.yaml")
    header.size = 10
    raw = header.tobuf(format=tarfile.GNU_FORMAT) + b"name: web\n".ljust(512, b"\0")
    big = tarfile.TarInfo("web/big")
    big.size = 16 * 1024 * 1024
    data = raw + big.tobuf(format=tarfile.GNU_FORMAT) + bytes(big.size)
    bomb = gzip.compress(data, compresslevel=9)
    assert len(bomb) < 200_000

    with pytest.raises(ChartLimitError, match="per file"):
        unpack(tmp_path, bomb, ChartLimits(max_file_bytes=1024 * 1024))
    # a pax header of 8 MiB: tarfile would read it into memory whole; the stream bound stops it
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 8 * 1024 * 1024
    pax_bomb = gzip.compress(raw + pax.tobuf(format=tarfile.GNU_FORMAT) + b"a" * pax.size)
    with pytest.raises(ChartLimitError, match="decompresses to more than"):
        unpack(tmp_path, pax_bomb, ChartLimits(max_unpacked_bytes=1024 * 1024, max_files=10))


def test_the_total_and_file_count_bounds_hold(tmp_path: Path) -> None:
    many = [file_member("web/Chart.yaml", b"name: web\n")]
    many += [file_member(f"web/templates/{i}.yaml", b"x" * 600) for i in range(20)]

    with pytest.raises(ChartLimitError, match="more than 10 files"):
        unpack(tmp_path, tgz(many), ChartLimits(max_files=10))
    with pytest.raises(ChartLimitError, match="unpacks to more than 4096 bytes"):
        unpack(tmp_path, tgz(many), ChartLimits(max_unpacked_bytes=4096))


@pytest.mark.parametrize(
    "data", [b"not gzip at all", gzip.compress(b"not a tar" * 100, mtime=0)], ids=["text", "gzip"]
)
def test_something_that_is_not_a_tgz_says_so(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ChartArchiveError, match="not a valid gzip-compressed tar"):
        unpack(tmp_path, data)


def test_a_python_written_chart_archive_unpacks(tmp_path: Path) -> None:
    target = unpack(tmp_path, chart_tgz("web", CHART))

    assert (target / "templates" / "a.yaml").read_text() == "a: 1\n"
    assert oct((target / "Chart.yaml").stat().st_mode & 0o777) == "0o644"
