"""The functions an expression may call: expr's builtins (``len``, ``lower``, ``split``, ``now``,
``duration``, ...), the names of its predicates (``all``, ``filter``, ...; the evaluator runs
those), and Argo CD's functions (argo-cd: util/notification/expression) in the ``time``,
``strings``, ``sync`` and ``repo`` namespaces, less the two that need the repo server."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.gotime import Time, parse_duration, parse_rfc3339
from tether.notify.expr.limits import MAX_STRING
from tether.notify.expr.values import go_format, is_number, type_name, wrap

if TYPE_CHECKING:
    from tether.notify.expr.evaluate import Evaluation


#: builtin functions: name -> (fewest, most arguments)
BUILTINS: dict[str, tuple[int, int]] = {
    "len": (1, 1),
    "lower": (1, 1),
    "upper": (1, 1),
    "trim": (1, 2),
    "trimPrefix": (2, 2),
    "trimSuffix": (2, 2),
    "hasPrefix": (2, 2),
    "hasSuffix": (2, 2),
    "split": (2, 3),
    "replace": (3, 3),
    "join": (1, 2),
    "indexOf": (2, 2),
    "keys": (1, 1),
    "values": (1, 1),
    "first": (1, 1),
    "last": (1, 1),
    "abs": (1, 1),
    "min": (1, 32),
    "max": (1, 32),
    "int": (1, 1),
    "float": (1, 1),
    "string": (1, 1),
    "now": (0, 0),
    "duration": (1, 1),
    # Argo CD's functions (argo-cd: util/notification/expression)
    "time.Now": (0, 0),
    "time.Parse": (1, 1),
    "strings.ReplaceAll": (3, 3),
    "strings.ToUpper": (1, 1),
    "strings.ToLower": (1, 1),
    "sync.GetInfoItem": (2, 2),
    "repo.RepoURLToHTTPS": (1, 1),
    "repo.FullNameByRepoURL": (1, 1),
}
PREDICATES = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "findLast"}
)
NAMESPACES = frozenset({"time", "strings", "sync", "repo"})
NEEDS_REPO_SERVER = frozenset({"repo.GetCommitMetadata", "repo.GetAppDetails"})


_GIT_URL = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:(?P<user>[^@/]+)@)?(?P<rest>.*)")


def _repo_parts(url: str) -> tuple[str, str]:
    """(host, path) of a Git URL: ``https://host/o/r.git``, ``git@host:o/r.git``, ``ssh://…``."""
    m = _GIT_URL.fullmatch(url)
    assert m is not None
    rest = m.group("rest")
    if m.group("scheme") is None and ":" in rest.split("/", 1)[0]:
        host, path = rest.split(":", 1)  # scp-like git@host:owner/repo
    else:
        host, _, path = rest.partition("/")
    return host, path.lstrip("/")


def _repo_url_to_https(url: str) -> str:
    host, path = _repo_parts(url)
    return f"https://{host}/{path}"


def _full_name_by_repo_url(url: str) -> str:
    _, path = _repo_parts(url)
    if path.endswith(".git"):
        path = path[:-4]
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[:2]) if len(parts) >= 2 else path


def _string_fn(transform: Callable[[str], str]) -> Callable[[Evaluation, list[Any], int], Any]:
    def run(ev: Evaluation, args: list[Any], col: int) -> Any:
        return transform(ev.string(args[0], "this function", col))

    return run


def _len(ev: Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise ExprError(f"invalid argument for len (type {type_name(value)})", col)


def _trim(ev: Evaluation, args: list[Any], col: int) -> Any:
    text = ev.string(args[0], "trim()", col)
    if len(args) == 1:
        return text.strip(" \t\n\r\v\f")
    return text.strip(ev.string(args[1], "trim()", col))


def _two_strings(ev: Evaluation, args: list[Any], col: int, what: str) -> tuple[str, str]:
    return ev.string(args[0], what, col), ev.string(args[1], what, col)


def _replace(ev: Evaluation, args: list[Any], col: int) -> Any:
    text, old = _two_strings(ev, args, col, "replace()")
    new = ev.string(args[2], "replace()", col)
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_STRING:
        raise ExprError(f"string longer than {MAX_STRING} characters", col)
    return text.replace(old, new)


def _split(ev: Evaluation, args: list[Any], col: int) -> Any:
    text, sep = _two_strings(ev, args, col, "split()")
    limit = args[2] if len(args) == 3 else -1
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ExprError("split() needs an int count", col)
    if limit == 0:
        return []
    if sep == "":
        parts = list(text)
        if limit > 0 and len(parts) > limit:
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(sep, limit - 1 if limit > 0 else -1)


def _join(ev: Evaluation, args: list[Any], col: int) -> Any:
    items = args[0]
    sep = ev.string(args[1], "join()", col) if len(args) == 2 else ""
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ExprError("join() needs an array of strings", col)
    return ev.bounded(sep.join(items), col)


def _collection(value: Any, what: str, col: int, kinds: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kinds):
        raise ExprError(f"{what} needs {'a map' if kinds is Mapping else 'an array'}", col)
    return value


def _min_max(pick: Callable[..., Any], name: str) -> Callable[[Evaluation, list[Any], int], Any]:
    def run(ev: Evaluation, args: list[Any], col: int) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        if not values or not all(is_number(v) for v in values):
            raise ExprError(f"{name}() needs numbers", col)
        return pick(values)

    return run


def _to_int(ev: Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str):
        return int(value.strip(), 10)
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError(f"int() of {value}", col)
        return wrap(int(value))
    raise ExprError(f"int() needs a number or a string, not {type_name(value)}", col)


def _to_float(ev: Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str) or is_number(value):
        return float(value)
    raise ExprError(f"float() needs a number or a string, not {type_name(value)}", col)


def _abs(ev: Evaluation, args: list[Any], col: int) -> Any:
    if not is_number(args[0]):
        raise ExprError(f"abs() needs a number, not {type_name(args[0])}", col)
    value = args[0]
    return wrap(abs(value)) if isinstance(value, int) else abs(value)  # Go wraps int64


def _time_parse(ev: Evaluation, args: list[Any], col: int) -> Any:
    return parse_rfc3339(ev.string(args[0], "time.Parse()", col))


def _duration(ev: Evaluation, args: list[Any], col: int) -> Any:
    return parse_duration(ev.string(args[0], "duration()", col))


def _get_info_item(ev: Evaluation, args: list[Any], col: int) -> Any:
    app, name = args
    operation = app.get("operation") if isinstance(app, Mapping) else None
    if not isinstance(operation, Mapping):
        raise ExprError("sync.GetInfoItem(): the application has no operation", col)
    for item in operation.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return item.get("value", "")
    raise ExprError(f"sync.GetInfoItem(): the application has no info item {name!r}", col)


FUNCTIONS: dict[str, Callable[[Evaluation, list[Any], int], Any]] = {
    "len": _len,
    "lower": _string_fn(str.lower),
    "upper": _string_fn(str.upper),
    "trim": _trim,
    "trimPrefix": lambda ev, a, c: str.removeprefix(*_two_strings(ev, a, c, "trimPrefix()")),
    "trimSuffix": lambda ev, a, c: str.removesuffix(*_two_strings(ev, a, c, "trimSuffix()")),
    "hasPrefix": lambda ev, a, c: str.startswith(*_two_strings(ev, a, c, "hasPrefix()")),
    "hasSuffix": lambda ev, a, c: str.endswith(*_two_strings(ev, a, c, "hasSuffix()")),
    "split": _split,
    "replace": _replace,
    "join": _join,
    "indexOf": lambda ev, a, c: str.find(*_two_strings(ev, a, c, "indexOf()")),
    "keys": lambda ev, a, c: list(_collection(a[0], "keys()", c, Mapping)),
    "values": lambda ev, a, c: list(_collection(a[0], "values()", c, Mapping).values()),
    "first": lambda ev, a, c: (_collection(a[0], "first()", c, (list, tuple)) or [None])[0],
    "last": lambda ev, a, c: (_collection(a[0], "last()", c, (list, tuple)) or [None])[-1],
    "abs": _abs,
    "min": _min_max(min, "min"),
    "max": _min_max(max, "max"),
    "int": _to_int,
    "float": _to_float,
    "string": lambda ev, a, c: go_format(a[0]),
    "now": lambda ev, a, c: Time.from_datetime(ev.now()),
    "duration": _duration,
    "time.Now": lambda ev, a, c: Time.from_datetime(ev.now()),
    "time.Parse": _time_parse,
    "strings.ReplaceAll": _replace,
    "strings.ToUpper": _string_fn(str.upper),
    "strings.ToLower": _string_fn(str.lower),
    "sync.GetInfoItem": _get_info_item,
    "repo.RepoURLToHTTPS": lambda ev, a, c: _repo_url_to_https(ev.string(a[0], "repo", c)),
    "repo.FullNameByRepoURL": lambda ev, a, c: _full_name_by_repo_url(ev.string(a[0], "repo", c)),
}
