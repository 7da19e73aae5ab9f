"""Sealed exports rendered in place: no copy, the same objects, and every guarantee of the copy.

A tool can neither change the shared tree (it sees a read-only mount; root included) nor read
past it through a link (checked when the tree is sealed), size limits still apply, renders
that must edit files still copy, and nothing is left behind.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.render.conftest import writable_copy, write
from tether.render import (
    RenderError,
    RenderLimitError,
    RenderLimits,
    ToolFailedError,
    UnsafeRepositoryError,
    render,
    sandbox,
    seal_tree,
    tree,
)

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The trees renders copied (each call of the copy, which still runs)."""
    seen: list[Path] = []
    copy_tree = tree.Workspace._copy_tree

    def counting(self: tree.Workspace) -> None:
        seen.append(self.source_root)
        copy_tree(self)

    monkeypatch.setattr(tree.Workspace, "_copy_tree", counting)
    return seen


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where render workspaces go, to see that none is left behind."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.setenv("TETHER_RENDER_TMPDIR", str(folder))
    return folder


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry of a tree: file contents' hashes, link targets, modes."""
    entries: dict[str, str] = {}
    for top, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                entries[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    entries[rel] = hashlib.sha256(fh.read()).hexdigest()
            entries[rel + " mode"] = oct(os.lstat(path).st_mode)
    return entries


def exported(corpora: Path, target: Path) -> Path:
    """A corpus repository written as an export would be (a tree of plain files)."""
    return writable_copy(corpora / "podinfo", target)


@pytest.fixture
def podinfo(corpora: Path, tmp_path: Path) -> Iterator[Path]:
    yield exported(corpora, tmp_path / "export")


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("kustomize", {}),
        # the chart's test pods have random names: left out to compare
        ("charts/podinfo", {"helm": {"skipTests": True}}),
        (
            "charts/podinfo",
            {"helm": {"skipTests": True, "parameters": [{"name": "replicaCount", "value": "3"}]}},
        ),
    ],
)
def test_sealed_tree_renders_in_place_as_a_copy_would(
    podinfo: Path, tmp_path: Path, copies: list[Path], path: str, source: dict[str, object]
) -> None:
    copied = render(writable_copy(podinfo, tmp_path / "plain"), path, source)
    assert len(copies) == 1
    sealed = seal_tree(podinfo)
    in_place = render(sealed, path, source)
    assert len(copies) == 1  # no second copy
    assert in_place.objects == copied.objects
    assert in_place.tool == copied.tool


def test_directory_app_renders_in_place(tmp_path: Path, copies: list[Path]) -> None:
    json_object = '{"kind": "X", "apiVersion": "v1", "metadata": {"name": "b"}}'
    write(tmp_path, {"app/a.yaml": CM.format("a"), "app/b.json": json_object})
    result = render(seal_tree(tmp_path), "app")
    assert [o["kind"] for o in result.objects] == ["ConfigMap", "X"]
    assert copies == []


def test_sealing_makes_the_tree_read_only_for_everyone(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format("a")})
    seal_tree(tmp_path)
    assert oct(os.stat(tmp_path / "app" / "a.yaml").st_mode & 0o777) == "0o444"
    assert oct(os.stat(tmp_path / "app").st_mode & 0o777) == "0o555"


def test_a_tool_writing_into_the_sealed_tree_fails_even_as_root(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format("a")})
    sealed = seal_tree(tmp_path)
    before = fingerprint(tmp_path)
    hostile = (
        f"chmod u+w {tmp_path}/app/a.yaml; echo changed > {tmp_path}/app/a.yaml || "
        f"mount -o remount,bind,rw {tmp_path} ; echo changed > {tmp_path}/app/a.yaml"
    )
    with tree.Workspace(sealed.root, RenderLimits(), in_place=True) as ws:
        with pytest.raises(ToolFailedError, match="Read-only file system"):
            ws.run(["sh", "-c", hostile], what="a hostile tool", env={"PATH": os.environ["PATH"]})
        # the scratch folder stays the tool's to write
        ws.run(["sh", "-c", "echo ok > out"], what="a tool", env={"PATH": os.environ["PATH"]})
        assert (ws.scratch / "out").read_text() == "ok\n"
    assert fingerprint(tmp_path) == before


def test_tether_never_writes_into_a_tree_read_in_place(tmp_path: Path) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources: []\n"})
    sealed = seal_tree(tmp_path)
    kfile = sealed.root / "app" / "kustomization.yaml"
    refused = pytest.raises(RenderError, match="write into the shared repository tree")
    with tree.Workspace(sealed.root, RenderLimits(), in_place=True) as ws:
        # an existing file: this render reads (and its tools see) its own version
        ws.write_file(kfile, b"namePrefix: x-\n")
        assert ws.read(kfile) == b"namePrefix: x-\n"
        seen = ws.run(["cat", str(kfile)], what="a tool", env={"PATH": os.environ["PATH"]})
        assert seen.stdout == b"namePrefix: x-\n"
        with refused:
            ws.write_file(sealed.root / "app" / "new.yaml", b"x")
        with refused:
            ws.copy_folder(sealed.root / "app", sealed.root / "copy")
    assert kfile.read_text() == "resources: []\n"
    assert sorted(os.listdir(tmp_path / "app")) == ["kustomization.yaml"]


@pytest.mark.parametrize("target", ["/etc/passwd", "/etc"])
def test_a_link_out_of_the_sealed_tree_is_refused(tmp_path: Path, target: str) -> None:
    write(tmp_path / "repo", {"app/cm.yaml": CM.format("a"), "other/x.yaml": CM.format("x")})
    os.symlink(target, tmp_path / "repo" / "other" / "out")
    sealed = seal_tree(tmp_path / "repo")
    with pytest.raises(UnsafeRepositoryError, match="outside the repository") as caught:
        render(sealed, "app")
    assert caught.value.file == "other/out"


def test_a_link_inside_the_sealed_tree_is_followed(tmp_path: Path) -> None:
    write(tmp_path, {"shared/cm.yaml": CM.format("shared"), "app/own.yaml": CM.format("own")})
    os.symlink("../shared/cm.yaml", tmp_path / "app" / "link.yaml")
    names = [o["metadata"]["name"] for o in render(seal_tree(tmp_path), "app").objects]
    assert names == ["shared", "own"]


def test_file_and_tree_size_limits_apply_to_a_sealed_tree(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": CM.format("a"), "other/pad.txt": "x" * 4000})
    sealed = seal_tree(tmp_path)
    with pytest.raises(RenderLimitError, match=r"^other/pad.txt: file is 4000 bytes"):
        render(sealed, "app", limits=RenderLimits(max_file_bytes=1000))
    with pytest.raises(RenderLimitError, match="larger than the 2000-byte limit"):
        render(sealed, "app", limits=RenderLimits(max_tree_bytes=2000))


def test_kustomize_options_are_laid_over_the_sealed_tree_for_that_render_only(
    podinfo: Path, tmp_path: Path, copies: list[Path], workdir: Path
) -> None:
    options = {
        "kustomize": {"namePrefix": "edited-", "images": ["ghcr.io/stefanprodan/podinfo:1.0"]}
    }
    copied = render(writable_copy(podinfo, tmp_path / "plain"), "kustomize", options)
    copies.clear()
    sealed = seal_tree(podinfo)
    before = fingerprint(podinfo)
    edited = render(sealed, "kustomize", options)
    assert edited.objects == copied.objects
    assert all(o["metadata"]["name"].startswith("edited-") for o in edited.objects)
    assert copies == []
    assert fingerprint(podinfo) == before
    # the next render of the same tree sees the kustomization as it is in Git
    plain = render(sealed, "kustomize")
    assert not any(o["metadata"]["name"].startswith("edited-") for o in plain.objects)
    assert list(workdir.iterdir()) == []


def test_a_linked_kustomization_with_options_is_copied(tmp_path: Path, copies: list[Path]) -> None:
    write(
        tmp_path,
        {"shared/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": CM.format("a")},
    )
    os.symlink("../shared/kustomization.yaml", tmp_path / "app" / "kustomization.yaml")
    sealed = seal_tree(tmp_path)
    result = render(sealed, "app", {"kustomize": {"namePrefix": "p-"}})
    assert [o["metadata"]["name"] for o in result.objects] == ["p-a"]
    assert copies == [sealed.root]
    assert (tmp_path / "shared" / "kustomization.yaml").read_text() == "resources: [cm.yaml]\n"


def test_a_chart_with_a_local_dependency_is_copied_to_vendor_it(
    tmp_path: Path, copies: list[Path]
) -> None:
    write(
        tmp_path,
        {
            "lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
            "lib/templates/cm.yaml": CM.format("from-lib"),
            "app/Chart.yaml": (
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                "  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n"
            ),
        },
    )
    sealed = seal_tree(tmp_path)
    result = render(sealed, "app")
    assert [o["metadata"]["name"] for o in result.objects] == ["from-lib"]
    assert copies == [sealed.root]
    assert not (tmp_path / "app" / "charts").exists()


def test_without_a_mount_namespace_tools_render_from_a_copy(
    podinfo: Path, tmp_path: Path, copies: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on a host where no mount namespace can be made
    monkeypatch.setattr(sandbox, "_protection", {False: None, True: None})
    write(tmp_path / "plain", {"app/a.yaml": CM.format("a")})
    assert render(seal_tree(tmp_path / "plain"), "app").objects
    assert copies == []  # a directory app runs no tool: still in place
    sealed = seal_tree(podinfo)
    assert render(sealed, "kustomize").objects
    assert copies == [sealed.root]


def test_nothing_is_left_behind_after_in_place_renders(podinfo: Path, workdir: Path) -> None:
    sealed = seal_tree(podinfo)
    render(sealed, "kustomize")
    render(sealed, "charts/podinfo")
    with pytest.raises(RenderError):
        render(sealed, "no-such-folder")
    assert list(workdir.iterdir()) == []


def test_a_tool_run_in_place_has_no_network(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format("a")})
    sealed = seal_tree(tmp_path)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        reach = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        with tree.Workspace(sealed.root, RenderLimits(), in_place=True) as ws:
            with pytest.raises(ToolFailedError, match=r"unreachable|refused"):
                ws.run([sys.executable, "-c", reach], what="a tool", env={})
            # the same program reaches the listener from outside the sandbox
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
