"""Argo CD's include/exclude globs for directory applications.

Argo CD compiles them with gobwas/glob and no path separator, so ``*`` also matches ``/``;
``?`` is one character, ``[a-z]`` / ``[!a-z]`` a class, ``{a,b}`` a list of alternatives (nested
allowed) and a backslash escapes the next character.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tether.render.errors import RenderError


def _translate(pattern: str, i: int, depth: int) -> tuple[str, int]:
    out: list[str] = []
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif ch == "*":
            out.append(".*")
            while i < n and pattern[i] == "*":
                i += 1
        elif ch == "?":
            out.append(".")
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise RenderError(f"invalid glob {pattern!r}: unclosed '['")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end + 1
        elif ch == "{":
            alternatives: list[str] = []
            i += 1
            while True:
                part, i = _translate(pattern, i, depth + 1)
                alternatives.append(part)
                if i >= n:
                    raise RenderError(f"invalid glob {pattern!r}: unclosed '{{'")
                if pattern[i] == "}":
                    i += 1
                    break
                i += 1  # the comma
            out.append("(?:" + "|".join(alternatives) + ")")
        elif depth and ch in ",}":
            return "".join(out), i
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out), i


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression matching exactly what ``pattern`` matches."""
    body, _ = _translate(pattern, 0, 0)
    return re.compile(body, re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    """Whether the slash-separated ``path`` matches the Argo CD glob ``pattern``."""
    return compile_glob(pattern).fullmatch(path) is not None
