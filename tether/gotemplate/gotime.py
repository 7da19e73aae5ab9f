"""Go's time layouts ("2006-01-02T15:04:05Z07:00") and durations ("1h30m"), both ways."""

from __future__ import annotations

import datetime
import re

from tether.gotemplate.values import ValueError_, zone_name

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Longest first where one token begins another, as Go's nextStdChunk decides.
_TOKENS = [
    "January", "Jan", "Monday", "Mon", "MST", "2006", "002", "01", "02", "03", "04", "05",
    "06", "_2", "15", "1", "2", "3", "4", "5", "PM", "pm", "Z07:00:00", "Z07:00", "Z0700",
    "Z07", "-07:00:00", "-0700", "-07:00", "-07",
]  # fmt: skip
_VARIABLE_WIDTH = frozenset({"1", "2", "_2", "15", "3", "4", "5", "MST"})
MAX_LAYOUT = 100
_FRACTION = re.compile(r"[.,](0+|9+)(?!\d)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _chunks(layout: str) -> list[tuple[bool, str]]:
    """The layout as (is_token, text) pieces."""
    pieces: list[tuple[bool, str]] = []
    i = 0
    while i < len(layout):
        fraction = _FRACTION.match(layout, i)
        if fraction:
            pieces.append((True, fraction.group(0)))
            i = fraction.end()
            continue
        token = next((t for t in _TOKENS if layout.startswith(t, i)), None)
        if token is None:
            pieces.append((False, layout[i]))
            i += 1
        else:
            pieces.append((True, token))
            i += len(token)
    return pieces


def _offset(moment: datetime.datetime, token: str) -> str:
    offset = moment.utcoffset() or datetime.timedelta(0)
    seconds = int(offset.total_seconds())
    if token.startswith("Z") and seconds == 0:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    body = token.lstrip("Z-")
    parts = {"07": f"{hours:02d}", "0700": f"{hours:02d}{minutes:02d}"}
    parts["07:00"] = f"{hours:02d}:{minutes:02d}"
    parts["07:00:00"] = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return sign + parts[body]


def _format_token(moment: datetime.datetime, token: str) -> str:
    hour12 = moment.hour % 12 or 12
    table = {
        "January": _MONTHS[moment.month - 1],
        "Jan": _MONTHS[moment.month - 1][:3],
        "Monday": _DAYS[moment.weekday()],
        "Mon": _DAYS[moment.weekday()][:3],
        "MST": zone_name(moment),
        "2006": f"{moment.year:04d}",
        "002": f"{moment.timetuple().tm_yday:03d}",
        "01": f"{moment.month:02d}",
        "02": f"{moment.day:02d}",
        "03": f"{hour12:02d}",
        "04": f"{moment.minute:02d}",
        "05": f"{moment.second:02d}",
        "06": f"{moment.year % 100:02d}",
        "_2": f"{moment.day:2d}",
        "15": f"{moment.hour:02d}",
        "1": str(moment.month),
        "2": str(moment.day),
        "3": str(hour12),
        "4": str(moment.minute),
        "5": str(moment.second),
        "PM": "PM" if moment.hour >= 12 else "AM",
        "pm": "pm" if moment.hour >= 12 else "am",
    }
    if token in table:
        return table[token]
    if token[0] in ".,":
        digits = f"{moment.microsecond:06d}000"[: len(token) - 1]
        if token[1] == "9":
            digits = digits.rstrip("0")
            return token[0] + digits if digits else ""
        return token[0] + digits
    return _offset(moment, token)


def format_time(moment: datetime.datetime, layout: str) -> str:
    """Go's ``Time.Format``."""
    return "".join(
        _format_token(moment, text) if is_token else text for is_token, text in _chunks(layout)
    )


_PATTERNS = {
    "January": "(?P<month_name>" + "|".join(_MONTHS) + ")",
    "Jan": "(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "Monday": "(?:" + "|".join(_DAYS) + ")",
    "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "MST": "(?P<zone>[A-Z]{3,4}|[+-]\\d\\d)",
    "2006": "(?P<year>\\d{4})",
    "06": "(?P<year2>\\d\\d)",
    "01": "(?P<month>\\d\\d)",
    "1": "(?P<month>\\d\\d?)",
    "02": "(?P<day>\\d\\d)",
    "2": "(?P<day>\\d\\d?)",
    "_2": "(?P<day> ?\\d\\d?)",
    "002": "(?P<yday>\\d{3})",
    "15": "(?P<hour>\\d\\d?)",
    "03": "(?P<hour12>\\d\\d)",
    "3": "(?P<hour12>\\d\\d?)",
    "04": "(?P<minute>\\d\\d)",
    "4": "(?P<minute>\\d\\d?)",
    "05": "(?P<second>\\d\\d)",
    "5": "(?P<second>\\d\\d?)",
    "PM": "(?P<ampm>AM|PM)",
    "pm": "(?P<ampm>am|pm)",
}


def _pattern(token: str) -> str:
    if token in _PATTERNS:
        return _PATTERNS[token]
    if token[0] in ".,":
        return "(?:[.,](?P<fraction>\\d+))" + ("?" if token[1] == "9" else "")
    zulu = "Z|" if token.startswith("Z") else ""
    return f"(?P<offset>{zulu}[+-]\\d\\d(?::?\\d\\d(?::?\\d\\d)?)?)"


def parse_time(layout: str, text: str) -> datetime.datetime:
    """Go's ``time.Parse`` for the common layouts (UTC unless the text has an offset)."""
    pieces = _chunks(layout)
    variable = sum(1 for is_token, piece in pieces if is_token and piece in _VARIABLE_WIDTH)
    if len(layout) > MAX_LAYOUT or len(text) > MAX_LAYOUT or variable > 8:
        # the layout becomes a regular expression: keep its backtracking small
        raise ValueError_(f"layout or time longer than Tether parses ({MAX_LAYOUT} characters)")
    seen: set[str] = set()
    regex = []
    for is_token, piece in pieces:
        pattern = _pattern(piece) if is_token else re.escape(piece)
        for name in re.findall(r"\?P<(\w+)>", pattern):
            if name in seen:
                pattern = pattern.replace(f"?P<{name}>", "?:")
            seen.add(name)
        regex.append(pattern)
    match = re.fullmatch("".join(regex), text)
    if not match:
        raise ValueError_(f'parsing time "{text}" as "{layout}": cannot parse')
    return _build(match.groupdict())


def _build(parts: dict[str, str | None]) -> datetime.datetime:
    def number(name: str, default: int) -> int:
        value = parts.get(name)
        return int(value) if value else default

    month = number("month", 1)
    if parts.get("month_name") or parts.get("month_abbr"):
        name = (parts.get("month_name") or parts.get("month_abbr") or "")[:3]
        month = [m[:3] for m in _MONTHS].index(name) + 1
    year = number("year", 0) or (2000 + number("year2", 0) if parts.get("year2") else 0)
    hour = number("hour", 0)
    if parts.get("hour12"):
        hour = number("hour12", 0) % 12 + (12 if (parts.get("ampm") or "").lower() == "pm" else 0)
    fraction = (parts.get("fraction") or "0")[:6].ljust(6, "0")
    zone = datetime.UTC
    offset = parts.get("offset")
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        seconds = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
        zone = datetime.timezone(
            datetime.timedelta(seconds=seconds * (-1 if offset[0] == "-" else 1))
        )
    try:
        return datetime.datetime(
            max(year, 1), month, number("day", 1), hour, number("minute", 0),
            number("second", 0), int(fraction), tzinfo=zone,
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError_(f"parsing time: {exc}") from None


def parse_duration(text: str) -> datetime.timedelta:
    """Go's ``time.ParseDuration``: "300ms", "-1.5h", "2h45m"."""
    if len(text) > MAX_LAYOUT:
        raise ValueError_(f'time: invalid duration "{text[:MAX_LAYOUT]}..."')
    match = re.fullmatch(r"([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", text)
    if not match or text in ("+", "-"):
        if text in ("0", "+0", "-0"):
            return datetime.timedelta(0)
        raise ValueError_(f'time: invalid duration "{text}"')
    seconds = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text):
        seconds += float(amount) * _UNITS[unit]
    if abs(seconds) > 292 * 365 * 86400:
        raise ValueError_(f'time: invalid duration "{text}"')
    return datetime.timedelta(seconds=-seconds if match.group(1) == "-" else seconds)
