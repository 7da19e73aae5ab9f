"""Bounds on what one expression may ask for (its length and nesting, the steps and string sizes
of an evaluation, the size of a ``matches`` pattern and the work of matching it), and Go's int64
range, within which expr's integers stay."""

from __future__ import annotations

#: bounds on what one expression may ask for
MAX_LENGTH = 4096
MAX_DEPTH = 64
MAX_STEPS = 100_000
MAX_STRING = 1024 * 1024
MAX_MATCH_INPUT = 64 * 1024
MAX_REGEX_LENGTH = 1024
MAX_REGEX_PROGRAM = 4000
MAX_REGEX_WORK = 2_000_000

#: Go's int64 range
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
