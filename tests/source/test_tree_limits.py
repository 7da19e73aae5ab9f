"""Tree reads are bounded from object headers: a file over the limit is never read."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import pygit2
import pytest

from tests.source.conftest import Remote
from tether.source import (
    FileTooLargeError,
    InvalidTreeError,
    Mirror,
    MirrorCache,
    RepoCredentials,
    TreeLimits,
    TreeTooLargeError,
)

# What the header of the planted blob says: over the default 32 MiB limit, yet small enough
# that the proof below (which does try to read it) stays cheap.
CLAIMED = 48 * 1024 * 1024


def _mirror(remote: Remote, credentials: RepoCredentials, tmp_path: Path, **limits: int) -> Mirror:
    cache = MirrorCache(tmp_path / "cache", limits=TreeLimits(**limits))
    mirror = cache.mirror(remote.url, credentials)
    mirror.fetch()
    return mirror


def _plant_commit(mirror: Mirror, entries: dict[str, tuple[pygit2.Oid, int]]) -> str:
    """A commit whose tree holds the given (object id, file mode) entries, written in place."""
    repo = pygit2.Repository(str(mirror.path))
    builder = repo.TreeBuilder()
    for name, (oid, mode) in entries.items():
        builder.insert(name, oid, mode)
    signature = pygit2.Signature("t", "t@example.com")
    return str(repo.create_commit(None, signature, signature, "planted", builder.write(), []))


def _lying_blob(mirror: Mirror) -> pygit2.Oid:
    """A loose blob whose header claims 48 MiB over 1 KiB of content: its header reads fine,
    any attempt to read the content fails."""
    header, body = b"blob %d\0" % CLAIMED, b"x" * 1024
    oid = hashlib.sha1(header + body).hexdigest()
    folder = mirror.path / "objects" / oid[:2]
    folder.mkdir(exist_ok=True)
    (folder / oid[2:]).write_bytes(zlib.compress(header + body))
    return pygit2.Oid(hex=oid)


def test_file_over_the_limit_is_refused_naming_it(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    sha = remote.commit_and_push("big", {"app/big.yaml": "x" * 5000, "app/ok.yaml": "ok"})
    mirror = _mirror(remote, credentials, tmp_path, max_file_bytes=4096)
    tree = mirror.tree(sha)

    with pytest.raises(FileTooLargeError, match=r"'app/big.yaml'.*5000 bytes.*4096") as caught:
        tree.read_file("app/big.yaml")
    assert caught.value.path == "app/big.yaml"
    assert tree.read_file("app/ok.yaml") == b"ok"
    with pytest.raises(FileTooLargeError, match=r"app/big\.yaml"):
        tree.export(tmp_path / "out", "app")
    assert not (tmp_path / "out").exists()  # nothing half-written is left behind


def test_export_total_and_entry_limits(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    files = {f"app/f{i}.yaml": "y" * 1000 for i in range(5)}
    sha = remote.commit_and_push("many", files)

    small_total = _mirror(remote, credentials, tmp_path / "a", max_tree_bytes=3000)
    with pytest.raises(TreeTooLargeError, match="more than 3000 bytes"):
        small_total.tree(sha).export(tmp_path / "a" / "out", "app")
    few_entries = _mirror(remote, credentials, tmp_path / "b", max_entries=3)
    with pytest.raises(TreeTooLargeError, match="more than 3 entries"):
        few_entries.tree(sha).export(tmp_path / "b" / "out", "app")
    roomy = _mirror(remote, credentials, tmp_path / "c", max_tree_bytes=5000, max_entries=5)
    roomy.tree(sha).export(tmp_path / "c" / "out", "app")
    assert len(os.listdir(tmp_path / "c" / "out")) == 5


def test_size_comes_from_the_header_and_the_content_is_never_read(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    mirror = _mirror(remote, credentials, tmp_path)  # default limits
    blob = _lying_blob(mirror)
    sha = _plant_commit(mirror, {"huge.yaml": (blob, pygit2.GIT_FILEMODE_BLOB)})
    tree = mirror.tree(sha)
    with pytest.raises(pygit2.GitError):  # proof that reading the content cannot succeed
        pygit2.Repository(str(mirror.path))[blob].read_raw()

    assert [(e.name, e.size) for e in tree.list_dir()] == [("huge.yaml", CLAIMED)]
    with pytest.raises(FileTooLargeError, match=f"{CLAIMED} bytes"):
        tree.read_file("huge.yaml")
    with pytest.raises(FileTooLargeError, match=r"huge\.yaml"):
        tree.export(tmp_path / "out")


@pytest.mark.parametrize("name", ["..", ".git", ".GIT"])
def test_crafted_entry_names_are_refused(
    name: str, remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    mirror = _mirror(remote, credentials, tmp_path)
    repo = pygit2.Repository(str(mirror.path))
    blob = repo.create_blob(b"kind: ConfigMap\n")
    # libgit2 refuses to build such a tree, as git does; a hostile server sends one anyway.
    raw = b"100644 " + name.encode() + b"\0" + blob.raw
    tree_id = repo.odb.write(pygit2.enums.ObjectType.TREE, raw)
    signature = pygit2.Signature("t", "t@example.com")
    sha = str(repo.create_commit(None, signature, signature, "crafted", tree_id, []))

    with pytest.raises(InvalidTreeError, match="no checkout may hold"):
        mirror.tree(sha).export(tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cm").exists()


def test_deep_trees_stop_at_the_depth_limit(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    mirror = _mirror(remote, credentials, tmp_path, max_depth=50)
    repo = pygit2.Repository(str(mirror.path))
    tree_id = repo.TreeBuilder().write()
    for _ in range(1200):  # deeper than Python's recursion limit
        builder = repo.TreeBuilder()
        builder.insert("d", tree_id, pygit2.GIT_FILEMODE_TREE)
        tree_id = builder.write()
    signature = pygit2.Signature("t", "t@example.com")
    sha = str(repo.create_commit(None, signature, signature, "deep", tree_id, []))
    tree = mirror.tree(sha)

    with pytest.raises(TreeTooLargeError, match="more than 50 folders deep"):
        tree.export(tmp_path / "out")
    assert sum(1 for _ in tree.walk()) == 1200
