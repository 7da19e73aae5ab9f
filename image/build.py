"""Build Tether's container image: ``make image``, or ``python -m image.build [--commit REV]``.

The image is made from one commit (``git archive``), Debian's packages and wheels built here:

1. base      mmdebstrap: Debian essential + python3, git, openssh-client, ca-certificates
2. tools     the pinned kubectl (with kustomize) and helm that ``python -m tether.tools install``
             fetches and checks
3. libraries the wheels of image/requirements.txt
4. tether    the commit's own wheel, the ``tether`` command, the service user's home

assembled by umoci into an OCI layout ``<output>/tether`` tagged with the project's version.
``SOURCE_DATE_EPOCH`` is the commit's time for Tether's layer and the configuration, and a fixed
time for the three other layers: the image depends on the commit and on the Debian packages the
mirror serves, not on when or where the build ran, and a new commit changes only its last layer. ``<output>/report.json`` records the digest, the sizes and the layers;
``<output>/debian-packages.txt`` every Debian package and version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ImageBuildError, output_of, run
from .layers import (
    compile_site,
    pip_install,
    stage_entrypoint,
    stage_tools,
    write_layer,
)
from .lock import check_installed, check_project_pins, read_lock, write_lock
from .oci import ImageInfo, assemble, summary
from .rootfs import Mirrors, build_base, python_minor

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = "image/requirements.txt"
PACKAGE = "tether"
#: 1980-01-01, the time of the layers that do not depend on the commit (Debian, tools,
#: libraries): with it they stay byte for byte the same from one commit to the next, so a new
#: commit pushes only Tether's layer. Tether's layer and the configuration carry the commit's.
SHARED_LAYERS_EPOCH = 315_532_800


@dataclass(frozen=True)
class Source:
    """The commit being built, exported to a folder."""

    commit: str
    epoch: int
    version: str
    tree: Path


def export_commit(repo: Path, revision: str, dest: Path) -> Source:
    """``git archive`` of ``revision`` into ``dest``, with its time and version."""
    commit = output_of(
        ["git", "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}"], cwd=repo
    )
    epoch = int(output_of(["git", "log", "-1", "--format=%ct", commit], cwd=repo))
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=repo, stdout=subprocess.PIPE)
    extract = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout)
    if archive.wait() != 0 or extract.returncode != 0:
        raise ImageBuildError(f"cannot export commit {commit} of {repo}")
    version = tomllib.loads((dest / "pyproject.toml").read_text())["project"]["version"]
    return Source(commit, epoch, str(version), dest)


def build_wheels(source: Source, wheels: Path, env: dict[str, str], log: Path) -> list[str]:
    """Wheels of the locked libraries and of the commit itself; returns the requirements."""
    lock_path = source.tree / LOCK_FILE
    if not lock_path.is_file():
        raise ImageBuildError(f"{LOCK_FILE} is missing from commit {source.commit}")
    lock = read_lock(lock_path)
    check_project_pins(source.tree / "pyproject.toml", lock, lock_path)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels)]
    run([*pip, "-r", str(lock_path)], log, env=env, what="pip wheel (libraries)")
    run([*pip, str(source.tree)], log, env=env, what=f"pip wheel ({PACKAGE})")
    return [f"{name}=={version}" for name, version in lock.items()]


def fetch_tools(source: Source, cache: Path, env: dict[str, str], log: Path) -> dict[str, Path]:
    """The commit's pinned tools through its own ``tether.tools install`` (verified by SHA-256,
    kept in ``cache`` between builds); returns name → binary."""
    tools_env = {**env, "PYTHONPATH": str(source.tree), "TETHER_TOOLS_DIR": str(cache)}
    with log.open("ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "tether.tools", "install"],
            cwd=source.tree,
            env=tools_env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    if result.returncode != 0:
        raise ImageBuildError(f"python -m tether.tools install failed: see {log}")
    tools = {}
    for line in result.stdout.splitlines():
        name, _, path = line.partition(": ")
        tools[name] = Path(path)
    if not tools or not all(path.is_file() for path in tools.values()):
        raise ImageBuildError(f"tether.tools install named no usable binaries: {result.stdout!r}")
    return tools


def missing_package_files(source: Source, site: Path) -> list[str]:
    """Files of the commit's package (the archive holds only tracked files) that its wheel did
    not install: package data that pyproject.toml does not declare."""
    package = source.tree / PACKAGE
    committed = sorted(path.relative_to(source.tree) for path in package.rglob("*"))
    return [
        name.as_posix()
        for name in committed
        if (source.tree / name).is_file() and not (site / name).is_file()
    ]


def stage_layers(
    source: Source, work: Path, tools_cache: Path, env: dict[str, str], log: Path
) -> tuple[dict[str, Path], list[str]]:
    """Stage the tools, libraries and tether folders; returns them and the package files the
    wheel left out."""
    minor = python_minor(work / "debian-packages.txt")
    wheels = work / "wheels"
    requirements = build_wheels(source, wheels, env, log)
    stages = {name: work / "stage" / name for name in ("tools", "libraries", PACKAGE)}
    for stage in stages.values():
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
    stage_tools(stages["tools"], fetch_tools(source, tools_cache, env, log))
    libraries = pip_install(stages["libraries"], minor, wheels, requirements, log)
    app = pip_install(stages[PACKAGE], minor, wheels, [f"{PACKAGE}=={source.version}"], log)
    check_installed([libraries, app])
    missing = missing_package_files(source, app)
    stage_entrypoint(stages[PACKAGE])
    for site in (libraries, app):
        compile_site(site, minor, log)
    return stages, missing


def build(
    repo: Path, revision: str, output: Path, mirrors: Mirrors, keep_work: bool
) -> dict[str, Any]:
    """Build the image of ``revision`` into ``output``; returns the report."""
    if os.geteuid() != 0:
        # mmdebstrap's root mode and its chroot hooks; its unshare mode is not supported here
        raise ImageBuildError("the image build needs root (mmdebstrap): run it as root or sudo")
    started = time.monotonic()
    work = output / "work"
    work.mkdir(parents=True, exist_ok=True)
    log = output / "build.log"
    log.write_text("")
    source = export_commit(repo, revision, work / "src")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(source.epoch)}
    print(f"building tether:{source.version} from {source.commit[:12]} into {output}")
    base = work / "base.tar"
    base_env = {**env, "SOURCE_DATE_EPOCH": str(SHARED_LAYERS_EPOCH)}
    build_base(base, work / "debian-packages.txt", mirrors, base_env, log)
    stages, missing = stage_layers(source, work, output / "cache" / "tools", env, log)
    tars = [base]
    for name, stage in stages.items():
        tars.append(work / f"{name}.tar")
        write_layer(stage, tars[-1], source.epoch if name == PACKAGE else SHARED_LAYERS_EPOCH)
    info = ImageInfo(output / PACKAGE, source.version, source.commit, source.version, source.epoch)
    assemble(info, tars, log)
    report = summary(info, ["debian", *stages], [tar.stat().st_size for tar in tars])
    report["missing_package_files"] = missing
    report["build_seconds"] = round(time.monotonic() - started, 1)
    shutil.copyfile(work / "debian-packages.txt", output / "debian-packages.txt")
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not keep_work:
        shutil.rmtree(work)
    return report


def _print_report(report: dict[str, Any], output: Path) -> None:
    mib = 1 << 20
    print(
        f"{report['image']} {report['digest']}\n"
        f"  layout      {output / PACKAGE}:{report['version']}\n"
        f"  compressed  {report['compressed_bytes'] / mib:.1f} MiB, "
        f"uncompressed {report['uncompressed_bytes'] / mib:.1f} MiB, "
        f"built in {report['build_seconds']} s"
    )
    for layer in report["layers"]:
        print(
            f"  {layer['name']:<10} {layer['compressed_bytes'] / mib:7.1f} MiB "
            f"({layer['uncompressed_bytes'] / mib:.1f} MiB) {layer['digest']}"
        )
    for name in report["missing_package_files"]:
        print(f"  warning: {name} is not in the wheel (declare it as package data)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m image.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--commit", default="HEAD", help="revision to build (default: HEAD)")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "build" / "image")
    parser.add_argument("--mirror", default=Mirrors.debian, help="Debian archive")
    parser.add_argument("--security-mirror", default=Mirrors.security)
    parser.add_argument("--keep-work", action="store_true", help="keep the staged layers")
    parser.add_argument(
        "--write-lock",
        action="store_true",
        help=f"rewrite {LOCK_FILE} from this environment's installed Tether and stop",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.write_lock:
        write_lock(PROJECT_ROOT / LOCK_FILE)
        print(f"wrote {PROJECT_ROOT / LOCK_FILE}")
        return 0
    output = args.output.resolve()
    try:
        report = build(
            PROJECT_ROOT,
            args.commit,
            output,
            Mirrors(args.mirror, args.security_mirror),
            args.keep_work,
        )
    except ImageBuildError as exc:
        print(f"image build failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("image build interrupted", file=sys.stderr)
        return 130
    _print_report(report, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
