"""Composing a GitRepository's tree with its includes: placement, replacement, the included
repository's ignore rules, and paths that would leave either tree through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.controller.flux.gitincludes import IncludeError, Part, compose
from tether.render.sealed import seal_tree


def tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    seal_tree(root)  # sealed read-only, as exported commits are
    return root


def listing(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_includes_are_placed_in_order_replacing_and_leaving_out_what_they_ignore(
    tmp_path: Path,
) -> None:
    base = tree(tmp_path / "base", {"app.yaml": "app", "vendor/lib/old.yaml": "old"})
    lib = tree(tmp_path / "lib", {"deploy/a.yaml": "a", "deploy/skip.yaml": "skip",
                                  "deploy/.sourceignore": "b.tmp\n", "deploy/b.tmp": "tmp",
                                  "README.md": "lib"})  # fmt: skip
    parts = [Part("lib", lib, "/deploy/skip.yaml", "deploy", "vendor/lib"),
             Part("whole", lib, None, "", "whole")]  # fmt: skip
    out = compose(tmp_path / "composed", "abc", base, parts)
    assert listing(out) == {
        "app.yaml": "app",
        "vendor/lib/a.yaml": "a",
        "vendor/lib/.sourceignore": "b.tmp\n",
        "whole/README.md": "lib",
        "whole/deploy/a.yaml": "a",
        "whole/deploy/skip.yaml": "skip",
        "whole/deploy/.sourceignore": "b.tmp\n",
    }
    # made once: asked again, the same folder
    assert compose(tmp_path / "composed", "abc", base, []) == out


def test_paths_through_links_and_missing_folders_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base_root = tmp_path / "base"
    base_root.mkdir()
    os.symlink(outside, base_root / "vendor")
    base = tree(base_root, {"app.yaml": "app"})
    lib_root = tmp_path / "lib"
    lib_root.mkdir()
    os.symlink("/etc", lib_root / "etc")
    lib = tree(lib_root, {"deploy/a.yaml": "a"})
    with pytest.raises(IncludeError, match="a symbolic link") as into_link:
        compose(tmp_path / "c", "1", base, [Part("lib", lib, None, "deploy", "vendor/lib")])
    assert into_link.value.reason == "IllegalPath" and not any(outside.iterdir())
    with pytest.raises(IncludeError, match="a symbolic link"):
        compose(tmp_path / "c", "2", base, [Part("lib", lib, None, "etc", "lib")])
    with pytest.raises(IncludeError, match="no folder 'nope' in it") as missing:
        compose(tmp_path / "c", "3", base, [Part("lib", lib, None, "nope", "lib")])
    assert missing.value.reason == "CopyFailure"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == []  # nothing half-made
