"""Argo CD sync windows (an AppProject's ``spec.syncWindows``), evaluated: a pure module.

A window is ``kind`` allow or deny, a cron ``schedule`` (five fields, as robfig/cron reads them
with Argo CD's parser options), a Go ``duration``, an IANA ``timeZone`` (UTC by default), glob
lists ``applications`` / ``namespaces`` / ``clusters`` naming the apps it applies to, and
``manualSync``. It is active from each time its schedule fires (wall-clock time in its zone) for
``duration`` of elapsed time: during ``[fire, fire + duration)``.

What Argo CD decides (``SyncWindows.CanSync``), for the windows that match an app:

* no matching windows: every sync may run;
* an active deny window blocks every sync; a manual sync may run only if *every* active deny
  window has ``manualSync``;
* else an active allow window lets every sync run;
* else, if there are allow windows (all inactive), syncs are blocked; a manual sync may run only
  if *every* inactive allow window has ``manualSync``;
* else (only inactive deny windows) every sync may run.

Where Tether differs on purpose (each a corner where Argo CD's behaviour is an accident):

* time zones are real: a schedule fires at wall-clock times of its zone, DST included (a time a
  spring-forward skips never fires, as robfig documents; a time a fall-back repeats fires at both
  instants). Argo CD shifts by the zone's offset *at the current moment* instead;
* a schedule that can never fire (``0 0 30 2 *``) is rejected; robfig's ``Next`` gives up and
  returns the zero time, which Argo CD takes for an always-active window;
* the descriptors ``@yearly`` ``@annually`` ``@monthly`` ``@weekly`` ``@daily`` ``@midnight``
  ``@hourly`` are accepted (Argo CD's parser is built without robfig's ``Descriptor`` option and
  rejects them); ``@every`` and ``TZ=`` / ``CRON_TZ=`` prefixes are rejected (use ``timeZone``);
* a window is active at exactly its fire time and inactive at exactly its end (Argo CD's
  comparisons exclude both instants).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tether.durations import InvalidDurationError, parse_duration
from tether.errors import TetherError
from tether.globs import InvalidGlobError, glob_match

#: Most windows one project may list.
MAX_WINDOWS = 100
#: Longest schedule string accepted.
MAX_SCHEDULE_LENGTH = 200
#: Most patterns in one of a window's glob lists, and longest pattern.
MAX_PATTERNS = 1000
MAX_PATTERN_LENGTH = 1024
#: How far a fire time is searched for: every schedule that can fire does so at least once in
#: eight years (29 February across 2100), so the search is exact.
SEARCH_LIMIT = timedelta(days=3000)
#: How far :func:`next_change` looks ahead by default.
DEFAULT_HORIZON = timedelta(days=366)
#: Most steps :func:`next_change` takes to follow overlapping fires of one window.
MAX_CHAIN = 20_000

_MINUTE = timedelta(minutes=1)
_KINDS = ("allow", "deny")


class SyncWindowError(TetherError):
    """A sync window is not valid: names the window's index and the field."""


class CronError(TetherError):
    """A schedule is not a cron expression robfig/cron would parse (or can never fire)."""


# --------------------------------------------------------------------------- cron


@dataclass(frozen=True)
class _Bounds:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is value low + i


_MINUTES = _Bounds("minute", 0, 59)
_HOURS = _Bounds("hour", 0, 23)
_DOM = _Bounds("day-of-month", 1, 31)
_MONTHS = _Bounds(
    "month",
    1,
    12,
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
)
_DOW = _Bounds("day-of-week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NUMBER = re.compile(r"\+?[0-9]+")


def _value(text: str, bounds: _Bounds) -> int:
    """A number or (case-insensitive) name of one field."""
    lowered = text.lower()
    if lowered in bounds.names:
        return bounds.low + bounds.names.index(lowered)
    if not _NUMBER.fullmatch(text):
        raise CronError(f'{bounds.name}: "{text}" is not a number')
    return int(text)


def _range(expr: str, bounds: _Bounds) -> tuple[frozenset[int], bool]:
    """The values of one comma-separated part, and whether it is a star (``*``/``?``, no step)."""
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise CronError(f'{bounds.name}: too many slashes in "{expr}"')
    low_high = range_and_step[0].split("-")
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = bounds.low, bounds.high, True
    else:
        if len(low_high) > 2:
            raise CronError(f'{bounds.name}: too many hyphens in "{expr}"')
        start = _value(low_high[0], bounds)
        end = _value(low_high[1], bounds) if len(low_high) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        if not _NUMBER.fullmatch(range_and_step[1]):
            raise CronError(f'{bounds.name}: step "{range_and_step[1]}" is not a number')
        step = int(range_and_step[1])
        if len(low_high) == 1:  # "N/step" means "N-max/step"
            end = bounds.high
        if step > 1:
            star = False
    if start < bounds.low:
        raise CronError(f"{bounds.name}: {start} is below the minimum {bounds.low}")
    if end > bounds.high:
        raise CronError(f"{bounds.name}: {end} is above the maximum {bounds.high}")
    if start > end:
        raise CronError(f"{bounds.name}: range start {start} is after its end {end}")
    if step == 0:
        raise CronError(f"{bounds.name}: a step must be positive")
    return frozenset(range(start, end + 1, step)), star


def _field(text: str, bounds: _Bounds) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        part_values, part_star = _range(part, bounds)
        values |= part_values
        star = star or part_star
    return frozenset(values), star


@dataclass(frozen=True)
class CronSchedule:
    """A parsed five-field schedule. ``weekdays`` uses 0 for Sunday; ``dom_star``/``dow_star``
    say the day fields were ``*`` or ``?`` (robfig then requires both day fields to match, and
    otherwise either)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    dom_star: bool
    dow_star: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Parse ``minute hour day-of-month month day-of-week`` or a descriptor."""
        if not isinstance(text, str):
            raise CronError("a schedule must be a string")
        if len(text) > MAX_SCHEDULE_LENGTH:
            raise CronError(f"longer than {MAX_SCHEDULE_LENGTH} characters")
        spec = text.strip()
        if not spec:
            raise CronError("empty schedule")
        if spec.startswith(("TZ=", "CRON_TZ=")):
            raise CronError("a TZ= prefix is not supported: set the window's timeZone")
        if spec.startswith("@"):
            expanded = _DESCRIPTORS.get(spec.lower())
            if expanded is None:
                raise CronError(f'unknown descriptor "{spec}"')
            spec = expanded
        fields = spec.split()
        if len(fields) != 5:
            raise CronError(f"expected exactly 5 fields, found {len(fields)}: {spec!r}")
        minutes, _ = _field(fields[0], _MINUTES)
        hours, _ = _field(fields[1], _HOURS)
        days, dom_star = _field(fields[2], _DOM)
        months, _ = _field(fields[3], _MONTHS)
        weekdays, dow_star = _field(fields[4], _DOW)
        schedule = cls(text, minutes, hours, days, months, weekdays, dom_star, dow_star)
        if not schedule._can_fire():
            raise CronError(f'"{text}" never fires: no month has those days')
        return schedule

    def _can_fire(self) -> bool:
        if self.dom_star or not self.dow_star:
            return True  # every day of the week occurs in every month
        return any(day <= _longest_month(month) for month in self.months for day in self.days)

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the calendar day matches the month and day fields (robfig's day rule)."""
        if month not in self.months:
            return False
        weekday = (calendar.weekday(year, month, day) + 1) % 7  # Monday=0 -> Sunday=0
        dom = day in self.days
        dow = weekday in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _aligned_down(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _aligned_up(moment: datetime) -> datetime:
    floor = _aligned_down(moment)
    return floor if floor == moment else floor + _MINUTE


def _jump(moment: datetime, tz: ZoneInfo, offset: timedelta | None, step: timedelta) -> bool:
    """Whether ``moment + step`` is reached with no change of the zone's UTC offset, so wall-clock
    arithmetic holds across the jump."""
    return (moment + step).astimezone(tz).utcoffset() == offset


def prev_fire(
    schedule: CronSchedule, tz: ZoneInfo, at: datetime, not_before: datetime
) -> datetime | None:
    """The latest instant ``<= at`` (and ``>= not_before``) whose wall-clock time in ``tz``
    matches ``schedule``, in UTC; None if there is none."""
    moment = _aligned_down(at)
    floor = max(not_before.astimezone(UTC), moment - SEARCH_LIMIT)
    while moment >= floor:
        local = moment.astimezone(tz)
        offset = local.utcoffset()
        into_hour = timedelta(minutes=local.minute) + _MINUTE
        if not schedule.day_matches(local.year, local.month, local.day):
            into_day = timedelta(hours=local.hour) + into_hour
            step = into_day if _jump(moment, tz, offset, -into_day) else into_hour
        elif local.hour not in schedule.hours:
            step = into_hour
        elif local.minute not in schedule.minutes:
            earlier = [m for m in schedule.minutes if m < local.minute]
            step = timedelta(minutes=local.minute - max(earlier)) if earlier else into_hour
        else:
            return moment
        moment = moment - step if _jump(moment, tz, offset, -step) else moment - _MINUTE
    return None


def next_fire(
    schedule: CronSchedule, tz: ZoneInfo, at: datetime, not_after: datetime
) -> datetime | None:
    """The earliest instant ``>= at`` (and ``<= not_after``) whose wall-clock time in ``tz``
    matches ``schedule``, in UTC; None if there is none."""
    moment = _aligned_up(at)
    ceiling = min(not_after.astimezone(UTC), moment + SEARCH_LIMIT)
    while moment <= ceiling:
        local = moment.astimezone(tz)
        offset = local.utcoffset()
        rest_of_hour = timedelta(minutes=60 - local.minute)
        if not schedule.day_matches(local.year, local.month, local.day):
            rest_of_day = timedelta(hours=23 - local.hour) + rest_of_hour
            exact_day = _jump(moment, tz, offset, rest_of_day - _MINUTE)
            step = rest_of_day if exact_day else rest_of_hour
        elif local.hour not in schedule.hours:
            step = rest_of_hour
        elif local.minute not in schedule.minutes:
            later = [m for m in schedule.minutes if m > local.minute]
            step = timedelta(minutes=min(later) - local.minute) if later else rest_of_hour
        else:
            return moment
        # a jump that lands exactly on an offset change is still exact; only steps that would
        # cross one fall back to a minute
        target = moment + step
        exact = _jump(moment, tz, offset, step - _MINUTE) or step == _MINUTE
        moment = target if exact else moment + _MINUTE
    return None


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def active_at(schedule: CronSchedule, duration: timedelta, tz: ZoneInfo, now: datetime) -> bool:
    """Whether a window is active at ``now``: the schedule fired (in ``tz``) within ``duration``
    before ``now`` (``fire <= now < fire + duration``)."""
    _check_aware(now)
    if duration <= timedelta(0):
        return False
    fire = prev_fire(schedule, tz, now, now - duration)
    return fire is not None and now < fire + duration


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class SyncWindow:
    """One parsed window; ``index`` is its position in the project's list."""

    index: int
    kind: str
    schedule: CronSchedule
    duration: timedelta
    duration_text: str
    time_zone: str
    tz: ZoneInfo
    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    manual_sync: bool = False
    and_operator: bool = False
    description: str = ""

    def active(self, now: datetime) -> bool:
        return active_at(self.schedule, self.duration, self.tz, now)

    def describe(self) -> str:
        return (
            f"#{self.index} {self.kind} '{self.schedule.text}' for {self.duration_text}"
            f" ({self.time_zone})"
        )


@dataclass(frozen=True)
class AppTarget:
    """What windows match on: the app's name and destination."""

    name: str
    namespace: str = ""
    server: str = ""
    cluster_name: str = ""


def _string(raw: Any, index: int, field: str, *, default: str | None = None) -> str:
    if raw is None and default is not None:
        return default
    if not isinstance(raw, str):
        raise SyncWindowError(f"syncWindows[{index}].{field}: must be a string")
    return raw


def _patterns(raw: Any, index: int, field: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise SyncWindowError(f"syncWindows[{index}].{field}: must be a list of strings")
    if len(raw) > MAX_PATTERNS or any(len(item) > MAX_PATTERN_LENGTH for item in raw):
        raise SyncWindowError(
            f"syncWindows[{index}].{field}: at most {MAX_PATTERNS} patterns of at most"
            f" {MAX_PATTERN_LENGTH} characters"
        )
    return tuple(raw)


def _flag(raw: Any, index: int, field: str) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise SyncWindowError(f"syncWindows[{index}].{field}: must be true or false")
    return raw


def _zone(name: str, index: int) -> ZoneInfo:
    if not name or len(name) > 255 or name.startswith("/") or ".." in name:
        raise SyncWindowError(f'syncWindows[{index}].timeZone: unknown time zone "{name}"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise SyncWindowError(f'syncWindows[{index}].timeZone: unknown time zone "{name}"') from err


def parse_window(raw: Any, index: int) -> SyncWindow:
    """One entry of ``spec.syncWindows``; :class:`SyncWindowError` names the index and field."""
    if not isinstance(raw, dict):
        raise SyncWindowError(f"syncWindows[{index}]: must be an object")
    kind = _string(raw.get("kind"), index, "kind")
    if kind not in _KINDS:
        raise SyncWindowError(f'syncWindows[{index}].kind: "{kind}" is neither allow nor deny')
    schedule_text = _string(raw.get("schedule"), index, "schedule")
    try:
        schedule = CronSchedule.parse(schedule_text)
    except CronError as err:
        raise SyncWindowError(f"syncWindows[{index}].schedule: {err.message}") from err
    duration_text = _string(raw.get("duration"), index, "duration")
    try:
        seconds = parse_duration(duration_text)
    except InvalidDurationError as err:
        raise SyncWindowError(f"syncWindows[{index}].duration: {err.message}") from err
    if abs(seconds) > 10**10:  # ~317 years; Go's durations stop at ~292
        raise SyncWindowError(f'syncWindows[{index}].duration: "{duration_text}" is too long')
    time_zone = _string(raw.get("timeZone"), index, "timeZone", default="") or "UTC"
    return SyncWindow(
        index=index,
        kind=kind,
        schedule=schedule,
        duration=timedelta(seconds=seconds),
        duration_text=duration_text,
        time_zone=time_zone,
        tz=_zone(time_zone, index),
        applications=_patterns(raw.get("applications"), index, "applications"),
        namespaces=_patterns(raw.get("namespaces"), index, "namespaces"),
        clusters=_patterns(raw.get("clusters"), index, "clusters"),
        manual_sync=_flag(raw.get("manualSync"), index, "manualSync"),
        and_operator=_flag(raw.get("andOperator"), index, "andOperator"),
        description=_string(raw.get("description"), index, "description", default=""),
    )


def parse_windows(raw: Any) -> tuple[SyncWindow, ...]:
    """An AppProject's ``spec.syncWindows`` (None: no windows)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SyncWindowError("syncWindows: must be a list")
    if len(raw) > MAX_WINDOWS:
        raise SyncWindowError(f"syncWindows: at most {MAX_WINDOWS} windows, found {len(raw)}")
    return tuple(parse_window(item, index) for index, item in enumerate(raw))


# --------------------------------------------------------------------------- matching


def _glob(pattern: str, text: str) -> bool:
    """Argo CD's ``globMatch``: gobwas/glob without separators; a bad pattern matches nothing."""
    if pattern == "*":
        return True
    try:
        return glob_match(pattern, text)
    except InvalidGlobError:
        return False


def _any(patterns: Iterable[str], *texts: str) -> bool:
    return any(_glob(p, t) for p in patterns for t in texts if t)


def window_matches(window: SyncWindow, app: AppTarget) -> bool:
    """Whether ``window`` applies to ``app``: one of its non-empty lists matches (every one with
    ``andOperator``); a window with no lists applies to nothing. Clusters match the destination
    server or name (empty ones never match); an empty namespace is matched like any text."""
    results = []
    if window.applications:
        results.append(any(_glob(p, app.name) for p in window.applications))
    if window.clusters:
        results.append(_any(window.clusters, app.cluster_name, app.server))
    if window.namespaces:
        results.append(any(_glob(p, app.namespace) for p in window.namespaces))
    if not results:
        return False
    return all(results) if window.and_operator else any(results)


def windows_for(
    windows: Iterable[SyncWindow],
    app_name: str,
    namespace: str,
    cluster_server: str,
    cluster_name: str = "",
) -> tuple[SyncWindow, ...]:
    """The windows that apply to an app, in project order (each once)."""
    app = AppTarget(app_name, namespace, cluster_server, cluster_name)
    return tuple(w for w in windows if window_matches(w, app))


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class Decision:
    """Whether a sync may run now: ``active`` are the matching windows active now."""

    allowed: bool
    active: tuple[SyncWindow, ...]
    reason: str
    matching: tuple[SyncWindow, ...] = ()


def _names(windows: Iterable[SyncWindow]) -> str:
    return ", ".join(w.describe() for w in windows)


def decide(
    windows: Iterable[SyncWindow], app: AppTarget, now: datetime, *, manual: bool
) -> Decision:
    """Whether a (``manual`` or automated) sync of ``app`` may run at ``now`` (Argo CD's
    ``CanSync`` over the matching windows)."""
    _check_aware(now)
    matching = tuple(w for w in windows if window_matches(w, app))
    if not matching:
        return Decision(True, (), "no sync window applies", matching)
    active = tuple(w for w in matching if w.active(now))
    denies = tuple(w for w in active if w.kind == "deny")
    if denies:
        if manual and all(w.manual_sync for w in denies):
            reason = f"manual sync allowed by manualSync during deny window {_names(denies)}"
            return Decision(True, active, reason, matching)
        return Decision(False, active, f"sync denied by window {_names(denies)}", matching)
    allows = tuple(w for w in active if w.kind == "allow")
    if allows:
        return Decision(True, active, f"sync allowed by window {_names(allows)}", matching)
    inactive_allows = tuple(w for w in matching if w.kind == "allow")
    if inactive_allows:
        names = _names(inactive_allows)
        if manual and all(w.manual_sync for w in inactive_allows):
            reason = f"manual sync allowed by manualSync outside allow window {names}"
            return Decision(True, active, reason, matching)
        return Decision(False, active, f"sync blocked: no allow window active ({names})", matching)
    return Decision(True, active, "no deny window is active", matching)


def _window_change(window: SyncWindow, now: datetime, until: datetime) -> datetime | None:
    """The first instant after ``now`` (and ``<= until``) at which ``window`` turns active or
    inactive; with more than :data:`MAX_CHAIN` overlapping fires, a time no later than that."""
    if window.duration <= timedelta(0):
        return None
    fire = prev_fire(window.schedule, window.tz, now, now - window.duration)
    if fire is None or now >= fire + window.duration:
        return next_fire(window.schedule, window.tz, now + timedelta(microseconds=1), until)
    for _ in range(MAX_CHAIN):
        end = fire + window.duration
        if end > until:
            return None
        later = prev_fire(window.schedule, window.tz, end, fire + _MINUTE)
        if later is None:
            return end
        fire = later
    return fire + window.duration


def next_change(
    windows: Iterable[SyncWindow],
    app: AppTarget,
    now: datetime,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
) -> datetime | None:
    """When a window that applies to ``app`` next starts or ends (so the decision may change),
    within ``horizon`` of ``now``; None if none does."""
    _check_aware(now)
    until = now + horizon
    changes = [
        change
        for w in windows
        if window_matches(w, app)
        if (change := _window_change(w, now, until)) is not None
    ]
    return min(changes) if changes else None
