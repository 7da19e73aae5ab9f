"""Sprig's (and Argo CD's) encoding, date, URL and regular-expression functions."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import yaml

from tether import safeyaml
from tether.gotemplate.functions import Func
from tether.gotemplate.gotime import format_time, parse_duration, parse_time
from tether.gotemplate.options import TemplateLimits
from tether.gotemplate.regex import compile_re2, translate_replacement
from tether.gotemplate.values import MAX_TEXT, ValueError_, check_size, go_type, is_list

_LIMITS = TemplateLimits()
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_ESCAPES.update({"\b": "\\b", "\f": "\\f", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_JSON_ESCAPES.update({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ValueError_(f"json: unsupported value: {value}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        text = re.sub(r"e([+-])0?(\d)", r"e\1\2", f"{value:e}" if "e" not in text else text)
    return text


def go_json(value: Any, indent: str = "", level: int = 0) -> str:
    """Go's ``json.Marshal`` (``MarshalIndent`` with ``indent``): keys sorted, HTML escaped."""
    if level > 200:
        raise ValueError_("json: value nested more than 200 deep")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, datetime.datetime):
        return _json_string(value.isoformat().replace("+00:00", "Z"))
    newline = "\n" + indent * (level + 1) if indent else ""
    close = "\n" + indent * level if indent else ""
    colon = ": " if indent else ":"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [
            f"{newline}{_json_string(str(k))}{colon}{go_json(value[k], indent, level + 1)}"
            for k in sorted(value, key=str)
        ]
        return "{" + ",".join(items) + close + "}"
    if is_list(value):
        if not value:
            return "[]"
        items = [f"{newline}{go_json(item, indent, level + 1)}" for item in value]
        return "[" + ",".join(items) + close + "]"
    raise ValueError_(f"json: unsupported type: {go_type(value)}")


def _to_json(value: Any) -> str:
    # Sprig ignores the marshalling error and returns "".
    check_size(value)
    try:
        return go_json(value)
    except ValueError_:
        return ""


def _to_pretty_json(value: Any) -> str:
    check_size(value)
    try:
        return go_json(value, "  ")
    except ValueError_:
        return ""


def _plain(value: Any, level: int = 0) -> Any:
    if level > 200:
        raise ValueError_("value nested more than 200 deep")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, level + 1) for k, v in value.items()}
    if is_list(value):
        return [_plain(v, level + 1) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _to_yaml(value: Any) -> str:
    check_size(value)
    # Argo CD's toYaml: sigs.k8s.io/yaml.Marshal, the final newline trimmed.
    text = yaml.safe_dump(
        _plain(value), default_flow_style=False, sort_keys=True, allow_unicode=True, width=1 << 30
    )
    return text.removesuffix("\n...\n").removesuffix("\n")


def _from_yaml(text: str) -> dict[str, Any]:
    try:
        value = safeyaml.load(text, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlError as exc:
        return {"Error": f"error converting YAML to JSON: {exc}"}
    if value is None:
        return {}
    if not isinstance(value, dict):
        return {
            "Error": "error unmarshaling JSON: json: cannot unmarshal "
            f"{'array' if isinstance(value, list) else 'value'} into Go value of type "
            "map[string]interface {}"
        }
    return value


def _from_yaml_array(text: str) -> list[Any]:
    try:
        value = safeyaml.load(text, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlError as exc:
        return [f"error converting YAML to JSON: {exc}"]
    if value is None:
        return []
    if not isinstance(value, list):
        return [
            "error unmarshaling JSON: json: cannot unmarshal object into Go value of type "
            "[]interface {}"
        ]
    return value


def _from_json(text: str) -> Any:
    # Sprig's fromJson: nil when the text is not JSON.
    try:
        return json.loads(text)
    except ValueError:
        return None


_INVALID_DNS = re.compile(r"[^-a-z0-9.]")


def normalize_name(text: str) -> str:
    # Argo CD's SanitizeName: lower case, other characters to "-", at most 253, trimmed.
    name = _INVALID_DNS.sub("-", text.lower())[:253]
    return name.strip("-.")


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode(errors="replace")
    except (binascii.Error, ValueError) as exc:
        return f"illegal base64 data: {exc}"


def _url_parse(text: str) -> dict[str, Any]:
    try:
        parts = urllib.parse.urlsplit(text)
        hostname = parts.hostname or ""
    except ValueError as exc:
        raise ValueError_(f"unable to parse url: {exc}") from None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    opaque = (
        parts.path if parts.scheme and not parts.netloc and not parts.path.startswith("/") else ""
    )
    return {
        "scheme": parts.scheme,
        "host": parts.netloc.rpartition("@")[2],
        "hostname": hostname,
        "path": "" if opaque else urllib.parse.unquote(parts.path),
        "query": parts.query,
        "opaque": opaque,
        "fragment": parts.fragment,
        "userinfo": userinfo,
    }


def _regex_match(pattern: str, text: str) -> bool:
    # Sprig's regexMatch ignores a bad pattern: no match.
    try:
        regex = compile_re2(pattern, _LIMITS.max_regex_size)
    except ValueError_ as exc:
        if "error parsing regexp" in str(exc):
            return False
        raise
    regex.check_cost(text, _LIMITS.max_regex_input)
    return regex.compiled.search(text) is not None


def _regex_find(pattern: str, text: str) -> str:
    regex = compile_re2(pattern, _LIMITS.max_regex_size)
    regex.check_cost(text, _LIMITS.max_regex_input)
    match = regex.compiled.search(text)
    return match.group(0) if match else ""


def _regex_replace_all(pattern: str, text: str, replacement: str) -> str:
    regex = compile_re2(pattern, _LIMITS.max_regex_size)
    regex.check_cost(text, _LIMITS.max_regex_input)
    plan = translate_replacement(replacement, regex.compiled)
    matches = sum(1 for _ in regex.compiled.finditer(text))
    # matches do not overlap: the groups copied are at most the text, once per reference
    bound = len(text) + matches * plan.literal_length + plan.references * len(text)
    if matches and bound > MAX_TEXT:
        raise ValueError_(f"the result could be longer than {MAX_TEXT} characters")
    return regex.compiled.sub(plan.template, text)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _as_time(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    raise ValueError_(f"wrong type for value; expected time.Time; got {go_type(value)}")


def _date(layout: str, value: Any) -> str:
    # Sprig's formatDate: a time, or Unix seconds; anything else is "now".
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, int) and not isinstance(value, bool):
        moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
    else:
        moment = _now()
    return format_time(moment, layout)


def _date_modify(change: str, value: Any) -> datetime.datetime:
    moment = _as_time(value)
    try:
        return moment + parse_duration(change)
    except ValueError_:
        return moment


def _to_date(layout: str, text: str) -> datetime.datetime:
    try:
        return parse_time(layout, text)
    except ValueError_:
        return datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)


DATA_FUNCTIONS: dict[str, Func] = {
    "toJson": Func(_to_json, ("any",)),
    "toPrettyJson": Func(_to_pretty_json, ("any",)),
    "toYaml": Func(_to_yaml, ("any",)),
    "fromYaml": Func(_from_yaml, ("str",)),
    "fromYamlArray": Func(_from_yaml_array, ("str",)),
    "fromJson": Func(_from_json, ("str",)),
    "normalize": Func(normalize_name, ("str",)),
    "b64enc": Func(lambda s: base64.b64encode(s.encode()).decode(), ("str",)),
    "b64dec": Func(_b64dec, ("str",)),
    "sha256sum": Func(lambda s: hashlib.sha256(s.encode()).hexdigest(), ("str",)),
    "urlParse": Func(_url_parse, ("str",)),
    "regexMatch": Func(_regex_match, ("str", "str")),
    "regexFind": Func(_regex_find, ("str", "str")),
    "regexReplaceAll": Func(_regex_replace_all, ("str", "str", "str")),
    "now": Func(_now),
    "date": Func(_date, ("str", "any")),
    "dateModify": Func(_date_modify, ("str", "any")),
    "toDate": Func(_to_date, ("str", "str")),
    "unixEpoch": Func(lambda t: str(int(_as_time(t).timestamp())), ("any",)),
}
