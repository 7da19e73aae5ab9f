"""The image's Python lock: every library Tether needs at run time, at one exact version.

pyproject.toml pins Tether's direct dependencies; their own dependencies are not pinned there.
``image/requirements.txt`` pins the whole closure so two builds install the same wheels. It is
written from the project's environment (``python -m image.build --write-lock``) and checked on
every build: each pin of pyproject.toml must appear in it unchanged, and after installation each
library's own requirements must be satisfied by what the image holds.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .common import ImageBuildError

PROJECT = "tether"
HEADER = (
    "# Every library the image installs, at one version (the closure of pyproject.toml's\n"
    "# dependencies). Written by `python -m image.build --write-lock`; checked by each build.\n"
)


def _needed(requirement: Requirement) -> bool:
    """A requirement that applies at run time (no extra, its marker true here)."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def closure(project: str = PROJECT) -> dict[str, str]:
    """Name → version of ``project``'s run-time dependencies as installed in this environment."""
    found: dict[str, str] = {}
    pending = [project]
    while pending:
        dist = importlib.metadata.distribution(pending.pop())
        name = canonicalize_name(dist.metadata["Name"])
        if name in found:
            continue
        found[name] = dist.version
        pending += [Requirement(r).name for r in dist.requires or [] if _needed(Requirement(r))]
    found.pop(canonicalize_name(project))
    return dict(sorted(found.items()))


def write_lock(path: Path) -> None:
    """Write the closure of this environment's Tether as ``name==version`` lines."""
    lines = [f"{name}=={version}" for name, version in closure().items()]
    path.write_text(HEADER + "\n".join(lines) + "\n")


def read_lock(path: Path) -> dict[str, str]:
    """Name → version of a lock file; anything but ``name==version`` lines is an error."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!_-]+)", line)
        if match is None:
            raise ImageBuildError(f"{path}:{number}: expected name==version, got {line!r}")
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def check_project_pins(pyproject: Path, lock: dict[str, str], lock_path: Path) -> None:
    """Every ``name==version`` of pyproject.toml's dependencies is in the lock unchanged."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wrong = []
    for raw in project.get("dependencies", []):
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        if lock.get(name) is None or not requirement.specifier.contains(lock[name]):
            wrong.append(f"{raw} (lock: {lock.get(name, 'missing')})")
    if wrong:
        raise ImageBuildError(
            f"{lock_path} does not match pyproject.toml: {', '.join(wrong)}; "
            "run `make setup` then `python -m image.build --write-lock`"
        )


def check_installed(sites: list[Path]) -> None:
    """Each library installed in ``sites`` finds its run-time requirements there."""
    dists = list(importlib.metadata.distributions(path=[str(site) for site in sites]))
    versions = {canonicalize_name(d.metadata["Name"]): d.version for d in dists}
    unmet = []
    for dist in dists:
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            if not _needed(requirement):
                continue
            have = versions.get(canonicalize_name(requirement.name))
            if have is None or not requirement.specifier.contains(have, prereleases=True):
                unmet.append(f"{dist.metadata['Name']} needs {raw} (image: {have or 'none'})")
    if unmet:
        raise ImageBuildError("the image's libraries do not fit together: " + "; ".join(unmet))
