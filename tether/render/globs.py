"""Argo CD's include/exclude globs for directory applications.

Argo CD compiles them with gobwas/glob and no path separator, so ``*`` also matches ``/``;
``?`` is one character, ``[a-z]`` / ``[!a-z]`` a class, ``{a,b}`` a list of alternatives (nested
allowed) and a backslash escapes the next character. The matching is :mod:`tether.globs`'s.
"""

from __future__ import annotations

from tether.globs import GOBWAS, Glob, InvalidGlobError
from tether.globs import compile_glob as _compile_glob
from tether.render.errors import RenderError


def compile_glob(pattern: str) -> Glob:
    """The compiled ``pattern``; :class:`RenderError` when it is not a glob."""
    try:
        return _compile_glob(pattern, GOBWAS)
    except InvalidGlobError as exc:
        raise RenderError(str(exc)) from None


def glob_match(pattern: str, path: str) -> bool:
    """Whether the slash-separated ``path`` matches the Argo CD glob ``pattern``."""
    return compile_glob(pattern).matches(path)
