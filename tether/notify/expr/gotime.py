"""Values beyond JSON: Go's ``time.Time`` and ``time.Duration``; RFC3339 times as Argo CD's
``time.Parse`` reads them, durations as Go's ``time.ParseDuration`` reads them, and the Go
methods Argo CD's conditions call on both."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tether.notify.expr.limits import INT64_MAX


@dataclass(frozen=True, slots=True, order=True)
class Time:
    """An instant, as nanoseconds since the Unix epoch (UTC), like Go's ``time.Time``."""

    nanoseconds: int

    @classmethod
    def from_datetime(cls, value: datetime) -> Time:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return cls(delta // timedelta(microseconds=1) * 1000)

    def to_datetime(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.nanoseconds // 1000)

    def __str__(self) -> str:
        return self.to_datetime().isoformat()


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A span of time in nanoseconds, like Go's ``time.Duration``."""

    nanoseconds: int

    def __str__(self) -> str:
        return f"{self.nanoseconds / 1e9:g}s"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_rfc3339(text: str) -> Time:
    """``time.Parse`` as Argo CD exposes it: RFC3339, fractional seconds allowed."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RFC3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = (m.group(7) or "").ljust(9, "0")
    zone = m.group(8)
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * 60
    if zone[0] == "-":
        offset = -offset
    if hour > 23 or minute > 59 or second > 59 or abs(offset) >= 86400:
        raise ValueError(f"{text!r} is out of range")
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    base = Time.from_datetime(moment).nanoseconds
    return Time(base + int(fraction) - offset * 1_000_000_000)


def parse_duration(text: str) -> Duration:
    """Go's ``time.ParseDuration``: ``"1h30m"``, ``"-1.5s"``, ``"0"``."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return Duration(0)
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not body or abs(total) > INT64_MAX:
        raise ValueError(f"invalid duration {text!r}")
    return Duration(-int(total) if text.startswith("-") else int(total))


def go_float_div(ns: int, unit: int) -> float:
    whole, rest = divmod(abs(ns), unit)
    sign = -1 if ns < 0 else 1
    return sign * (float(whole) + rest / unit)


GO_ZERO_TIME = Time.from_datetime(datetime(1, 1, 1, tzinfo=UTC)).nanoseconds


#: Go methods of time.Time and time.Duration: name -> number of arguments
METHODS: dict[str, int] = {
    "Sub": 1,
    "Add": 1,
    "Before": 1,
    "After": 1,
    "Equal": 1,
    "Unix": 0,
    "UnixMilli": 0,
    "IsZero": 0,
    "UTC": 0,
    "Hours": 0,
    "Minutes": 0,
    "Seconds": 0,
    "Milliseconds": 0,
    "Nanoseconds": 0,
}
