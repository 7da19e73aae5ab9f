"""Shared fixtures for render tests: corpora, the tools run directly, writable fixture trees."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.corpora import CORPORA
from tether.tools import find_tool

DATA = Path(__file__).resolve().parent / "data"


def load_docs(text: bytes | str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc is not None]


def kustomize_directly(folder: Path) -> list[dict[str, Any]]:
    """What ``kubectl kustomize`` prints for ``folder``, parsed."""
    run = subprocess.run(
        [find_tool("kubectl"), "kustomize", str(folder)], capture_output=True, check=True
    )
    return load_docs(run.stdout)


def helm_directly(release: str, chart: Path, *args: str) -> list[dict[str, Any]]:
    """What ``helm template`` prints (CRDs included, as Argo CD asks), parsed."""
    run = subprocess.run(
        [find_tool("helm"), "template", release, str(chart), "--include-crds", *args],
        capture_output=True,
        check=True,
    )
    return load_docs(run.stdout)


def writable_copy(source: Path, target: Path) -> Path:
    """Copy a (read-only) corpus folder into ``target`` so a test may change it."""
    shutil.copytree(source, target, copy_function=shutil.copyfile, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(target):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    return target


def write(root: Path, files: dict[str, str]) -> Path:
    """Create ``files`` (relative path -> text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"corpora not found at {CORPORA}")
    return CORPORA
