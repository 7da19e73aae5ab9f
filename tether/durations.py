"""Go's duration syntax (``5s``, ``3m``, ``1h30m``), which Argo CD's and Flux's fields use."""

from __future__ import annotations

import re

from tether.errors import TetherError

_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 micro sign
    "μs": 1e-6,  # U+03BC Greek mu; Go accepts both spellings
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class InvalidDurationError(TetherError):
    """A string is not a Go duration."""


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string: ``"5s"``, ``"3m"``, ``"1h30m"``, ``"1.5h"``, ``"-2m"``.

    Follows Go's ``time.ParseDuration``: a sign, then one or more number+unit pairs with units
    ``ns us µs ms s m h``; a bare ``"0"`` is the only number allowed without a unit.
    """
    raw = text
    text = text.strip()
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _GO_DURATION.match(text, pos)
        if match is None or match.group(1) in ("", ".") or match.group(2) not in _DURATION_UNITS:
            raise InvalidDurationError(f'invalid duration "{raw}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise InvalidDurationError(f'invalid duration "{raw}"')
    return sign * total
