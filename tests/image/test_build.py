"""The image ``make image`` builds: what it is made of, and that a commit gives one digest."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.image.conftest import (
    PROJECT_ROOT,
    BuiltImage,
    build_image,
    image_configuration,
    read_blob,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _commit_time(commit: str) -> int:
    return int(
        subprocess.run(
            ["git", "log", "-1", "--format=%ct", commit],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def mirror_moved(first: BuiltImage, second: BuiltImage) -> bool:
    """Whether Debian's mirror served other packages to the two builds (then only the Debian
    layer may differ between them)."""
    packages = [
        set((image.output / "debian-packages.txt").read_text().splitlines())
        for image in (first, second)
    ]
    return packages[0] != packages[1]


def layer_digests(image: BuiltImage) -> dict[str, str]:
    return {layer["name"]: layer["digest"] for layer in image.report["layers"]}


def test_image_runs_tether_as_the_deployments_user(built_image: BuiltImage) -> None:
    config = image_configuration(built_image.output / "tether", built_image.digest)
    run = config["config"]
    assert run["Entrypoint"] == ["/usr/local/bin/tether"]
    assert run["Cmd"] == ["controller"]
    assert run["User"] == "999:999"  # deploy/install.yaml's runAsUser
    assert "HOME=/var/lib/tether" in run["Env"]
    assert run["WorkingDir"] == "/var/lib/tether"


def test_image_carries_only_the_commits_time(built_image: BuiltImage) -> None:
    commit = built_image.report["commit"]
    config = image_configuration(built_image.output / "tether", built_image.digest)
    created = datetime.fromtimestamp(_commit_time(commit), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert config["created"] == created
    assert "history" not in config  # history entries would carry build times
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == commit
    manifest = read_blob(built_image.output / "tether", built_image.digest)
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit


def test_layers_go_from_debian_to_tether(built_image: BuiltImage) -> None:
    layers = built_image.report["layers"]
    assert [layer["name"] for layer in layers] == ["debian", "tools", "libraries", "tether"]
    manifest = read_blob(built_image.output / "tether", built_image.digest)
    assert [layer["digest"] for layer in layers] == [m["digest"] for m in manifest["layers"]]
    sizes = {layer["name"]: layer["compressed_bytes"] for layer in layers}
    assert built_image.report["compressed_bytes"] == sum(sizes.values())
    # Tether changes most often: its layer is the small one a new commit pushes
    assert sizes["tether"] == min(sizes.values())
    packages = (built_image.output / "debian-packages.txt").read_text().splitlines()
    names = {line.partition("=")[0] for line in packages}
    assert {"python3", "git", "openssh-client", "ca-certificates"} <= names
    assert "apt" not in names  # nothing installs packages into a running image


def test_every_file_of_the_package_is_in_the_image(built_image: BuiltImage) -> None:
    assert built_image.report["missing_package_files"] == []


def test_two_builds_of_a_commit_have_one_digest(built_image: BuiltImage, tmp_path: Path) -> None:
    again = build_image(built_image.report["commit"], tmp_path / "again")
    if mirror_moved(built_image, again):
        # other Debian packages: their layer differs, every layer built from the commit does not
        before, now = layer_digests(built_image), layer_digests(again)
        assert before.pop("debian") != now.pop("debian")
        assert before == now
        return
    layers = [(layer["name"], layer["digest"]) for layer in built_image.report["layers"]]
    assert [(layer["name"], layer["digest"]) for layer in again.report["layers"]] == layers
    assert again.digest == built_image.digest
    assert json.loads((again.output / "tether" / "index.json").read_text()) == json.loads(
        (built_image.output / "tether" / "index.json").read_text()
    )


def _same_file(first: str, second: str, path: str) -> bool:
    changed = subprocess.run(
        ["git", "diff", "--quiet", first, second, "--", path], cwd=PROJECT_ROOT, check=False
    )
    return changed.returncode == 0


def test_a_new_commit_changes_only_tethers_layer(built_image: BuiltImage, tmp_path: Path) -> None:
    commit = built_image.report["commit"]
    parent = subprocess.run(
        ["git", "rev-parse", f"{commit}~1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    older = build_image(parent, tmp_path / "parent")
    now, before = layer_digests(built_image), layer_digests(older)
    # the Debian layer is the mirror's: the same unless the mirror served other packages
    assert (before["debian"] == now["debian"]) != mirror_moved(built_image, older)
    assert before["tools"] == now["tools"]
    if _same_file(parent, commit, "image/requirements.txt"):
        assert before["libraries"] == now["libraries"]
    if _commit_time(parent) != _commit_time(commit):
        assert before["tether"] != now["tether"]  # it carries its commit's time
