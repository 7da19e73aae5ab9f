"""What of a source Flux leaves out of its artifact: ``.sourceignore`` rules.

As source-controller builds a GitRepository's artifact: Flux's default exclusions (version
control, CI configuration, tool files, images and archives), then every ``.sourceignore`` file
of the tree (each ruling below its own folder), then the GitRepository's ``spec.ignore``; the
last rule that matches a path decides, ``!`` includes again, a folder left out takes everything
below it. The syntax is gitignore's: ``#`` comments, a trailing ``/`` for folders only, a ``/``
at the start or in the middle anchors a rule to its folder, ``*``/``?``/``[...]`` within one
path part, ``**`` across parts. Patterns run on Tether's linear-time glob matcher, bounded in
number and length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tether.globs import MAX_GLOB_LENGTH, Glob, GlobSyntax, InvalidGlobError, compile_glob
from tether.render.errors import RenderError

IGNORE_FILE = ".sourceignore"
#: fluxcd/pkg sourceignore: VCS, ExcludeExt, ExcludeCI and ExcludeExtra
DEFAULT_PATTERNS = (
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)  # fmt: skip
MAX_RULES = 10_000
_SYNTAX = GlobSyntax(separators="/", class_negators="!^")


@dataclass(frozen=True)
class Rule:
    domain: str  # the folder the rule was written in ("" for the root), without a trailing /
    negate: bool
    folders_only: bool
    anchored: bool
    pattern: str

    def matches(self, path: str, is_folder: bool) -> bool:
        if self.folders_only and not is_folder:
            return False
        if self.domain:
            if not path.startswith(self.domain + "/"):
                return False
            path = path[len(self.domain) + 1 :]
        if not self.anchored:
            return _glob(self.pattern).matches(path.rsplit("/", 1)[-1])
        return _glob(self.pattern).matches(path)


def _glob(pattern: str) -> Glob:
    return compile_glob(pattern, _SYNTAX)


def parse(text: str, domain: str = "") -> list[Rule]:
    """The rules of one ignore file (or ``spec.ignore``) written in folder ``domain``."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\") and raw != line:
            line += " "  # an escaped trailing space stays
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        folders_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        if len(line) > MAX_GLOB_LENGTH:
            raise RenderError(f"ignore rule longer than {MAX_GLOB_LENGTH} characters")
        rules.append(Rule(domain, negate, folders_only, anchored, _gitglob(line)))
    return rules


def _gitglob(pattern: str) -> str:
    """gitignore's ``**`` forms as the glob matcher reads them (``**`` crosses ``/`` there)."""
    if pattern.startswith("**/"):
        pattern = "{,**/}" + pattern[3:]
    return pattern.replace("/**/", "/{,**/}")


class SourceIgnore:
    """The rules of one source, in order (later ones win)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        if len(self.rules) > MAX_RULES:
            raise RenderError(f"more than {MAX_RULES} ignore rules in the source")
        try:
            for rule in self.rules:
                _glob(rule.pattern)
        except InvalidGlobError as exc:
            raise RenderError(f"invalid ignore rule: {exc.message}") from None

    @classmethod
    def of_tree(cls, root: Path, spec_ignore: str | None = None) -> SourceIgnore:
        """Flux's defaults, the tree's ``.sourceignore`` files, then ``spec.ignore``."""
        rules = parse("\n".join(DEFAULT_PATTERNS))
        for folder in _folders_with_ignore_files(str(root)):
            text = (root / folder / IGNORE_FILE).read_text(errors="replace")
            rules.extend(parse(text, folder))
        if spec_ignore:
            rules.extend(parse(spec_ignore))
        return cls(rules)

    def ignored(self, path: str, is_folder: bool) -> bool:
        decision = False
        for rule in self.rules:
            if rule.matches(path, is_folder):
                decision = not rule.negate
        return decision

    def excluded(self, root: Path, start: str = "") -> Iterator[str]:
        """The paths under ``root`` (from its folder ``start``) to leave out; a folder left out
        is named, not its content."""
        pending = [start.strip("/")]
        while pending:
            folder = pending.pop()
            with os.scandir(root / folder if folder else root) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    path = f"{folder}/{entry.name}" if folder else entry.name
                    is_folder = entry.is_dir(follow_symlinks=False)
                    if self.ignored(path, is_folder):
                        yield path
                    elif is_folder:
                        pending.append(path)


@lru_cache(maxsize=64)
def _folders_with_ignore_files(root: str) -> tuple[str, ...]:
    """The folders of a (sealed, unchanging) tree holding a ``.sourceignore``, parents first;
    kept per tree, so 1,000 Kustomizations of one commit walk it once."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        if IGNORE_FILE in files:
            rel = os.path.relpath(top, root)
            found.append("" if rel == "." else rel.replace(os.sep, "/"))
    return tuple(sorted(found, key=lambda f: (f.count("/"), f)))
