"""The image builder's parts that need no Debian mirror: layer tars, the lock, the commands."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from image.build import LOCK_FILE, main
from image.common import ImageBuildError, run
from image.layers import write_layer
from image.lock import check_installed, check_project_pins, closure, read_lock
from image.oci import ImageInfo, config_arguments
from image.rootfs import Mirrors, mmdebstrap_command, python_minor
from tests.image.conftest import PROJECT_ROOT
from tether.localcluster.testing import wait_until

EPOCH = 1_700_000_000


def _stage(root: Path, order: list[str], mtime: int, umask: int) -> Path:
    """The same files, created in ``order`` with another umask and times."""
    old = os.umask(umask)
    try:
        for name in order:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"content of {name}\n")
            if name.endswith(".sh"):
                path.chmod(0o755)
            os.utime(path, (mtime, mtime))
        (root / "var/lib/tether").mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
    return root


def test_layer_tar_depends_only_on_the_contents(tmp_path: Path) -> None:
    names = ["usr/local/bin/run.sh", "usr/local/lib/b.py", "usr/local/lib/a.py"]
    first = _stage(tmp_path / "one", names, mtime=1, umask=0o022)
    second = _stage(tmp_path / "two", list(reversed(names)), mtime=2_000_000_000, umask=0o077)
    write_layer(first, tmp_path / "one.tar", EPOCH)
    write_layer(second, tmp_path / "two.tar", EPOCH)
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    with tarfile.open(tmp_path / "one.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == sorted(members, key=lambda name: name.split("/"))
    assert {m.mtime for m in members.values()} == {EPOCH}
    assert members["usr/local/bin/run.sh"].mode == 0o755
    assert members["usr/local/lib/a.py"].mode == 0o644
    assert (members["usr/local/lib/a.py"].uid, members["usr"].uname) == (0, "root")
    home = members["var/lib/tether"]
    assert (home.uid, home.gid, home.uname, home.mode) == (999, 999, "tether", 0o750)


def test_layer_refuses_what_is_not_a_file_folder_or_link(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    os.mkfifo(stage / "pipe")
    with pytest.raises(ImageBuildError, match="only files, folders and links"):
        write_layer(stage, tmp_path / "layer.tar", EPOCH)


def test_lock_must_keep_every_pin_of_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["click==8.5.1", "rich==15.0.0"]\n')
    lock_path = tmp_path / "requirements.txt"
    lock_path.write_text("click==8.5.1\nrich==14.0.0\n")
    with pytest.raises(ImageBuildError, match=r"rich==15\.0\.0 \(lock: 14\.0\.0\)"):
        check_project_pins(pyproject, read_lock(lock_path), lock_path)
    lock_path.write_text("click==8.5.1\n")
    with pytest.raises(ImageBuildError, match=r"rich==15\.0\.0 \(lock: missing\)"):
        check_project_pins(pyproject, read_lock(lock_path), lock_path)


def test_lock_holds_only_exact_pins(tmp_path: Path) -> None:
    lock_path = tmp_path / "requirements.txt"
    lock_path.write_text("# comment\nclick==8.5.1\n\nrich>=15\n")
    with pytest.raises(ImageBuildError, match=r"requirements.txt:4: expected name==version"):
        read_lock(lock_path)


def test_the_projects_lock_is_this_environments_closure() -> None:
    lock_path = PROJECT_ROOT / LOCK_FILE
    lock = read_lock(lock_path)
    check_project_pins(PROJECT_ROOT / "pyproject.toml", lock, lock_path)
    # the image gets exactly the libraries the tests ran with, and none of the dev tools
    assert lock == closure(), (
        f"{LOCK_FILE} is stale: run .venv/bin/python -m image.build --write-lock"
    )
    assert not {"pytest", "mypy", "ruff", "playwright", "hypothesis"} & set(lock)


def _dist(site: Path, name: str, version: str, requires: list[str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_installed_libraries_must_fit_together(tmp_path: Path) -> None:
    _dist(tmp_path / "a", "alpha", "1.0", ["beta>=2", "gamma; extra == 'dev'"])
    _dist(tmp_path / "b", "beta", "1.5", [])
    with pytest.raises(ImageBuildError, match=r"alpha needs beta>=2 \(image: 1\.5\)"):
        check_installed([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "b" / "beta-1.5.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: beta\nVersion: 2.0\n"
    )
    check_installed([tmp_path / "a", tmp_path / "b"])  # the extra's gamma is not needed


def test_base_leaves_out_docs_and_adds_the_deployments_user(tmp_path: Path) -> None:
    command = mmdebstrap_command(tmp_path / "base.tar", tmp_path / "pkgs", Mirrors())
    assert "--variant=essential" in command and "--skip=output/dev" in command
    assert "--include=python3,git,openssh-client,ca-certificates,libstdc++6" in command
    for path in ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*"):
        assert f"--dpkgopt=path-exclude={path}" in command
    assert "--dpkgopt=path-include=/usr/share/doc/*/copyright" in command
    hooks = " ".join(arg for arg in command if arg.startswith("--customize-hook="))
    assert "tether:x:999:999:Tether:/var/lib/tether:/usr/sbin/nologin" in hooks
    assert command[-3:] == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_python_version_is_read_from_the_base_packages(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.write_text("git=1:2.39.5-0+deb12u2\npython3.11-minimal=3.11.2-6+deb12u6\n")
    assert python_minor(packages) == "3.11"
    packages.write_text("git=1:2.39.5-0+deb12u2\n")
    with pytest.raises(ImageBuildError, match=r"no python3\.X-minimal"):
        python_minor(packages)


def test_configuration_carries_the_commit_time_and_the_user(tmp_path: Path) -> None:
    info = ImageInfo(tmp_path, "0.1.0", "abc123", "0.1.0", EPOCH)
    args = config_arguments(info)
    assert "--no-history" in args
    assert "--created=2023-11-14T22:13:20Z" in args
    assert "--config.user=999:999" in args
    assert "--config.entrypoint=/usr/local/bin/tether" in args
    assert "--config.cmd=controller" in args
    assert "--config.label=org.opencontainers.image.revision=abc123" in args


def test_a_failed_step_names_itself_and_shows_its_output(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(ImageBuildError) as failed:
        run(["sh", "-c", "echo fetching; echo 'E: mirror unreachable'; exit 3"], log, what="step")
    assert "step failed (exit 3)" in str(failed.value)
    assert "E: mirror unreachable" in str(failed.value)
    with pytest.raises(ImageBuildError, match="make image-packages"):
        run(["tether-no-such-tool"], log)


def test_build_of_an_unknown_commit_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--commit", "no-such-revision", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("image build failed: git rev-parse")
    assert "Traceback" not in err


def test_a_stuck_step_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    log, pid_file = tmp_path / "build.log", tmp_path / "grandchild.pid"
    stuck = ["sh", "-c", f"sleep 600 & echo $! > {pid_file}; wait"]
    with pytest.raises(ImageBuildError, match=r"mirror did not finish in 0\.5 s"):
        run(stuck, log, what="mirror", timeout=0.5)
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not _alive(grandchild), timeout=10, what="the step's children killed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped is a zombie: gone for us
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False
