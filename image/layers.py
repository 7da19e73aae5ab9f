"""The image's upper layers (tools, Python libraries, Tether) and their reproducible tars.

Each layer is staged as a plain folder, then written as a tar whose bytes depend on the folder's
contents only: names sorted, one modification time (``SOURCE_DATE_EPOCH``), root ownership except
the service user's home, modes reduced to 0755/0644. Python files are compiled ahead of time with
unchecked-hash ``.pyc`` files (no timestamps in them, and the read-only root file system of the
Deployment could not take a cache written at start).
"""

from __future__ import annotations

import shutil
import stat
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .common import ImageBuildError, run
from .rootfs import HOME, UID, USER

TOOLS_BIN = PurePosixPath("usr/local/bin")
ENTRYPOINT = TOOLS_BIN / "tether"

#: the console script the image runs: the Debian interpreter, isolated from PYTHON* variables
ENTRYPOINT_SCRIPT = """#!/usr/bin/python3 -I
import sys

from tether.cli.main import main

sys.exit(main())
"""


def site_packages(python_minor: str) -> PurePosixPath:
    """Where Debian's Python looks for locally installed libraries."""
    return PurePosixPath(f"usr/local/lib/python{python_minor}/dist-packages")


def stage_tools(stage: Path, tools: dict[str, Path]) -> None:
    """Copy the pinned, checksum-verified binaries into ``/usr/local/bin``."""
    target = stage / TOOLS_BIN
    target.mkdir(parents=True, exist_ok=True)
    for name, source in sorted(tools.items()):
        shutil.copyfile(source, target / name)
        (target / name).chmod(0o755)


def pip_install(
    stage: Path,
    python_minor: str,
    wheels: Path,
    requirements: list[str],
    log: Path,
) -> Path:
    """Install ``requirements`` from the local ``wheels`` only, without dependencies (the lock
    lists every one), into the stage's site folder; scripts pip writes for the builder's own
    interpreter are dropped. Returns the site folder."""
    site = stage / site_packages(python_minor)
    command = [
        sys.executable,
        "-m",
        "pip",
        # --isolated: no pip configuration or PIP_* variable of the builder's account may add
        # another index or wheel folder; only the wheels built for this image are used
        "--isolated",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheels),
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        "--target",
        str(site),
        *requirements,
    ]
    run(command, log, what="pip install into the image")
    shutil.rmtree(site / "bin", ignore_errors=True)
    return site


def compile_site(site: Path, python_minor: str, log: Path) -> None:
    """Compile every module to ``.pyc`` as the image's interpreter will look for it."""
    builder = f"{sys.version_info.major}.{sys.version_info.minor}"
    if builder != python_minor:
        raise ImageBuildError(
            f"the builder runs Python {builder} but the image has Python {python_minor}: "
            "their .pyc files are not interchangeable; run the build with a Python "
            f"{python_minor} interpreter"
        )
    in_image = "/" + str(site_packages(python_minor))
    run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-d",
            in_image,
            str(site),
        ],
        log,
        what="compileall",
    )


def stage_entrypoint(stage: Path) -> None:
    """The ``tether`` command and the service user's (empty) home folder."""
    script = stage / ENTRYPOINT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(ENTRYPOINT_SCRIPT)
    script.chmod(0o755)
    (stage / HOME.lstrip("/")).mkdir(parents=True, exist_ok=True)


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root`` in sorted order, each folder before its contents."""
    for entry in sorted(root.iterdir(), key=lambda path: path.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)


def _tar_entry(path: Path, name: str, epoch: int, owned: bool) -> tarfile.TarInfo:
    """The normalised header of one path: only its type, size, executability and link target
    survive from the file system."""
    info = tarfile.TarInfo(name)
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = str(path.readlink())
        info.mode = 0o777
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o750 if owned else 0o755
    elif stat.S_ISREG(mode):
        info.size = path.stat().st_size
        info.mode = 0o755 if mode & 0o111 else 0o644
    else:
        raise ImageBuildError(f"{path}: only files, folders and links go into a layer")
    info.mtime = epoch
    info.uid = info.gid = UID if owned else 0
    info.uname = info.gname = USER if owned else "root"
    return info


def write_layer(stage: Path, output: Path, epoch: int) -> int:
    """Write ``stage`` as a layer tar at ``output``; return its size in bytes.

    The service user's home is the only path not owned by root.
    """
    home = HOME.lstrip("/")
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(stage):
            name = path.relative_to(stage).as_posix()
            info = _tar_entry(path, name, epoch, owned=name == home)
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return output.stat().st_size
