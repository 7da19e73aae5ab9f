"""Which container images exist, as far as the local cluster's kubelet can pull them.

An :class:`ImageCatalog` is a list of patterns, one per line in a file (``#`` starts a comment)
or given from Python; an image exists when one pattern accepts it. A pattern is read as an image
reference is, ``repository[:tag][@digest]``, where any part may be a glob (``tether.globs``):

* ``ghcr.io/example/payment-service:1.*`` - every 1.x tag of that repository;
* ``nginx:*`` - every tag of Docker Hub's nginx (a repository without glob characters is
  normalised as Docker does: ``nginx`` is ``docker.io/library/nginx``);
* ``ghcr.io/example/*:*`` - every tag of every repository right under ``ghcr.io/example``
  (``*`` stops at ``/``, ``**`` does not); a globbed repository is tried against the full name
  (``docker.io/library/nginx``) and the short one (``nginx``);
* ``nginx@sha256:<64 hex>`` - one digest; ``nginx@*`` every digest;
* ``nginx`` - ``nginx:latest`` only, as a reference without tag means.

A reference with a digest is pulled by its digest (as containerd does, the tag beside it is
ignored), so only patterns with a digest part accept it; a reference without one is accepted by
the tag part (``latest`` when it names no tag).

A catalog read from a file follows the file: it is looked at again at most once a second and
re-read when it changed, so adding a line works like pushing the image to the registry. A file
that no longer parses leaves the previous list in force (the error is logged and kept in
:attr:`ImageCatalog.reload_error`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from tether.globs import Glob, GlobSyntax, InvalidGlobError
from tether.localcluster.errors import ImageCatalogError, InvalidImageReferenceError

log = logging.getLogger(__name__)

#: Largest catalog file read.
MAX_CATALOG_BYTES = 1024 * 1024
#: Most patterns in one catalog: each is compiled (about 0.3 ms) and kept with its own cache
#: of automaton states, and a catalog file is re-read on the cluster's event loop.
MAX_PATTERNS = 1000
#: Longest image reference parsed; a repository name may have 255 characters (Docker's limit).
MAX_REFERENCE_LENGTH = 4096
MAX_NAME_LENGTH = 255
#: Seconds between two looks at a catalog file.
RELOAD_INTERVAL = 1.0
#: Answers remembered per catalog (cleared when its list changes).
CACHED_ANSWERS = 4096

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_PATH = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_HEX64 = re.compile(r"[a-f0-9]{64}")
_GLOB_CHARACTERS = frozenset("*?[{\\")


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference: ``domain/path`` with an optional tag and digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full repository name, ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short name Docker prints, ``nginx`` or ``bitnami/redis`` for Docker Hub."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix(OFFICIAL_PREFIX)

    def __str__(self) -> str:
        """The fully qualified reference the runtime resolves (``:latest`` when untagged)."""
        tag = self.tag or ("" if self.digest else DEFAULT_TAG)
        return self.name + (f":{tag}" if tag else "") + (f"@{self.digest}" if self.digest else "")


def _split(text: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` into its three parts (None where a part is absent)."""
    name, at, digest = text.partition("@")
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :], digest if at else None
    return name, None, digest if at else None


def tag_of(image: str) -> str:
    """The tag of an image as written, without parsing it (empty when it names none)."""
    return _split(image)[1] or ""


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the first component is a registry when it has a dot or a port, is
    ``localhost``, or has capitals; otherwise the name is on Docker Hub."""
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse_name(name: str) -> tuple[str, str]:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidImageReferenceError(
            f"repository name must not be more than {MAX_NAME_LENGTH} characters"
        )
    if _HEX64.fullmatch(name):
        raise InvalidImageReferenceError(
            f"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
        )
    domain, path = _split_domain(name)
    if path.lower() != path:
        raise InvalidImageReferenceError(
            f"invalid reference format: repository name ({path}) must be lowercase"
        )
    if not _DOMAIN.fullmatch(domain) or not _PATH.fullmatch(path):
        raise InvalidImageReferenceError("invalid reference format")
    return domain, path


def _check_digest(digest: str) -> None:
    if not _DIGEST.fullmatch(digest):
        raise InvalidImageReferenceError("invalid reference format")
    algorithm, _, hex_part = digest.partition(":")
    if algorithm == "sha256" and not _HEX64.fullmatch(hex_part):
        raise InvalidImageReferenceError("invalid checksum digest length")
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise InvalidImageReferenceError("unsupported digest algorithm")


def parse_reference(image: str) -> ImageReference:
    """``image`` as the kubelet reads it (Docker's ``ParseNormalizedNamed``).

    Raises :class:`InvalidImageReferenceError` with Docker's wording when it does not parse.
    """
    if not image or len(image) > MAX_REFERENCE_LENGTH:
        raise InvalidImageReferenceError("invalid reference format")
    name, tag, digest = _split(image)
    domain, path = _parse_name(name)
    if tag is not None and not _TAG.fullmatch(tag):
        raise InvalidImageReferenceError("invalid reference format")
    if digest is not None:
        _check_digest(digest)
    return ImageReference(domain, path, tag or "", digest or "")


@dataclass(frozen=True)
class _Pattern:
    """One line of a catalog: which tags and digests of its repositories exist."""

    text: str
    tag: Glob | None
    digest: Glob | None

    def accepts_version(self, ref: ImageReference) -> bool:
        if ref.digest:
            return self.digest is not None and self.digest.matches(ref.digest)
        return self.tag is not None and self.tag.matches(ref.tag or DEFAULT_TAG)


def _is_glob(text: str) -> bool:
    return bool(_GLOB_CHARACTERS.intersection(text))


def _compile_pattern(text: str, globs: dict[tuple[str, str], Glob]) -> tuple[str | Glob, _Pattern]:
    """The repository (its full name, or a glob) and the version part of one pattern; ``globs``
    keeps the globs compiled so far (a list repeats its tag patterns)."""
    name, tag, digest = _split(text)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    if not name:
        raise ImageCatalogError("no repository before the tag or digest")
    _check_literal_version(tag, digest)
    try:
        version = _Pattern(
            text,
            _glob(tag, "", globs) if tag is not None else None,
            _glob(digest, "", globs) if digest is not None else None,
        )
        if _is_glob(name):
            return _glob(name, "/", globs), version
    except InvalidGlobError as exc:
        raise ImageCatalogError(exc.message) from exc
    try:
        domain, path = _parse_name(name)
    except InvalidImageReferenceError as exc:
        raise ImageCatalogError(f"{name!r} is no repository: {exc.message}") from exc
    return f"{domain}/{path}", version


def _glob(text: str, separators: str, globs: dict[tuple[str, str], Glob]) -> Glob:
    compiled = globs.get((text, separators))
    if compiled is None:
        compiled = globs[(text, separators)] = Glob(text, GlobSyntax(separators=separators))
    return compiled


def _check_literal_version(tag: str | None, digest: str | None) -> None:
    """A tag or digest written without glob characters must be one a reference can have."""
    if tag is not None and not _is_glob(tag) and not _TAG.fullmatch(tag):
        raise ImageCatalogError(f"{tag[:80]!r} is no tag")
    if digest is not None and not _is_glob(digest):
        try:
            _check_digest(digest)
        except InvalidImageReferenceError as exc:
            raise ImageCatalogError(f"{digest[:80]!r} is no digest: {exc.message}") from exc


def _pattern_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, pattern) for each line that holds one; ``#`` starts a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        pattern = line.split("#", 1)[0].strip()
        if pattern:
            yield number, pattern


class ImageCatalog:
    """A list of image patterns; :meth:`exists` says whether the registry has an image."""

    def __init__(self, patterns: Iterable[str] = (), *, source: str = "patterns") -> None:
        self.source = source
        self._literal: dict[str, list[_Pattern]] = {}
        self._globbed: list[tuple[Glob, _Pattern]] = []
        self._answers: dict[str, bool] = {}
        self._texts: list[str] = []
        self._set_patterns(enumerate(patterns, start=1))
        #: why the last reload of the file was refused (None once a reload succeeds)
        self.reload_error: str | None = None
        self._path: Path | None = None
        self._seen: tuple[int, int, int] | None = None
        self._looked_at = 0.0
        self._clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> ImageCatalog:
        """A catalog of ``patterns`` (one pattern each, no comments)."""
        return cls(patterns)

    @classmethod
    def from_file(
        cls, path: Path | str, *, clock: Callable[[], float] = time.monotonic
    ) -> ImageCatalog:
        """A catalog that follows ``path``: one pattern per line, ``#`` comments, blank lines;
        ``clock`` times the looks at the file.

        Raises :class:`ImageCatalogError` naming the file (and line) when it cannot be used.
        """
        catalog = cls(source=str(path))
        catalog._clock = clock
        catalog._path = Path(path)
        catalog._reload(_file_identity(catalog._path, str(path)))
        catalog._looked_at = catalog._clock()
        return catalog

    @property
    def patterns(self) -> list[str]:
        """The patterns in force, in their order."""
        return list(self._texts)

    def exists(self, image: ImageReference | str) -> bool:
        """Whether the registry has ``image`` (a reference that does not parse never exists)."""
        self._follow_file()
        key = str(image)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._lookup(image)
            if len(self._answers) >= CACHED_ANSWERS:
                self._answers.clear()
            self._answers[key] = answer
        return answer

    def _lookup(self, image: ImageReference | str) -> bool:
        if isinstance(image, str):
            try:
                image = parse_reference(image)
            except InvalidImageReferenceError:
                return False
        ref = image
        if any(p.accepts_version(ref) for p in self._literal.get(ref.name, ())):
            return True
        names = (ref.name, ref.familiar_name)
        return any(
            p.accepts_version(ref) and any(repo.matches(n) for n in names)
            for repo, p in self._globbed
        )

    def _set_patterns(self, numbered: Iterable[tuple[int, str]]) -> None:
        literal: dict[str, list[_Pattern]] = {}
        globbed: list[tuple[Glob, _Pattern]] = []
        texts: list[str] = []
        globs: dict[tuple[str, str], Glob] = {}
        for count, (number, text) in enumerate(numbered, start=1):
            if count > MAX_PATTERNS:
                raise ImageCatalogError(f"{self.source}: more than {MAX_PATTERNS} patterns")
            try:
                repository, version = _compile_pattern(text.strip(), globs)
            except ImageCatalogError as exc:
                raise ImageCatalogError(
                    f"{self.source}:{number}: {text.strip()[:80]!r}: {exc.message}"
                ) from exc
            if isinstance(repository, str):
                literal.setdefault(repository, []).append(version)
            else:
                globbed.append((repository, version))
            texts.append(version.text)
        self._literal, self._globbed, self._texts = literal, globbed, texts
        self._answers = {}

    def _follow_file(self) -> None:
        """Re-read the file when it changed, at most once per :data:`RELOAD_INTERVAL`."""
        if self._path is None:
            return
        now = self._clock()
        if now - self._looked_at < RELOAD_INTERVAL:
            return
        self._looked_at = now
        try:
            identity = _file_identity(self._path, self.source)
            if identity != self._seen:
                self._reload(identity)
                self.reload_error = None
        except ImageCatalogError as exc:
            if self.reload_error != exc.message:
                log.warning("image list not reloaded, the previous one stays: %s", exc.message)
            self.reload_error = exc.message

    def _reload(self, identity: tuple[int, int, int]) -> None:
        assert self._path is not None
        self._set_patterns(_pattern_lines(_read_text(self._path, self.source)))
        self._seen = identity


def _file_identity(path: Path, source: str) -> tuple[int, int, int]:
    """What changes when the file is edited or replaced; refuses a file too large to read."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ImageCatalogError(f"{source}: cannot read: {exc.strerror}") from exc
    if not S_ISREG(stat.st_mode):
        raise ImageCatalogError(f"{source}: not a regular file")
    if stat.st_size > MAX_CATALOG_BYTES:
        raise ImageCatalogError(f"{source}: larger than {MAX_CATALOG_BYTES} bytes")
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _read_text(path: Path, source: str) -> str:
    """The file's text, refused when it is no regular file, too large or not UTF-8 (opened
    without blocking, so a FIFO put in its place cannot hang the kubelet)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ImageCatalogError(f"{source}: cannot read: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise ImageCatalogError(f"{source}: not a regular file")
        data = fh.read(MAX_CATALOG_BYTES + 1)
    if len(data) > MAX_CATALOG_BYTES:
        raise ImageCatalogError(f"{source}: larger than {MAX_CATALOG_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImageCatalogError(f"{source}: not UTF-8 text (byte {exc.start})") from exc
