"""A Secret body decoded the way kube-apiserver decodes it into the typed ``v1.Secret``.

The real server unmarshals JSON into Go types before anything else: ``data`` is
``map[string][]byte`` (each value base64, as Go's ``encoding/json`` reads a ``[]byte``, or an
array of numbers 0-255), ``stringData`` is ``map[string]string``. A body that does not fit is
not an invalid object but an undecodable one: 400 BadRequest, ``Secret in version "v1" cannot be
handled as a Secret: <the Go error>`` for a create, update or apply; a JSON/merge/strategic patch
whose result does not decode is 422 Invalid on the field ``patch``. The first error in document
order wins, as with Go's decoder.

What decodes is stored the way Go would write it back: ``data`` values in canonical base64
(newlines dropped), ``null`` values as empty, ``stringData`` values as text.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Final

import orjson

from tether.errors import TetherError

_ALPHABET: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES: Final = frozenset(b"\r\n")
_PAD: Final = ord("=")


class SecretDecodeError(TetherError):
    """The text Go's JSON decoder gives for a Secret body that does not fit the typed object."""


def go_base64_error(text: str) -> int | None:
    """Where Go's ``base64.StdEncoding.Decode`` stops on ``text`` (a byte offset), or None.

    Newlines are skipped, padding is required, and the offset is the one Go reports in
    ``illegal base64 data at input byte N``.
    """
    src = text.encode()
    si = 0
    while si < len(src):
        j = 0
        while j < 4:
            if si == len(src):
                # a quantum cut short: one character is never enough, others need padding
                return si - j if j > 0 else None
            char = src[si]
            si += 1
            if char in _ALPHABET:
                j += 1
                continue
            if char in _NEWLINES:
                continue
            if char != _PAD or j < 2:
                return si - 1
            return _check_padding(src, si, j)
    return None


def _check_padding(src: bytes, si: int, j: int) -> int | None:
    """After a ``=`` at quantum position ``j``: the rest must be padding, then only newlines."""
    if j == 2:
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        if si == len(src):
            return len(src)
        if src[si] != _PAD:
            return si - 1
        si += 1
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si if si < len(src) else None


def _json_kind(value: Any) -> str:
    """Go's name for a JSON value in ``cannot unmarshal <kind> into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def _type_error(value: Any, field: str, go_type: str) -> SecretDecodeError:
    return SecretDecodeError(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field Secret.{field} "
        f"of type {go_type}"
    )


def _as_text(value: Any) -> str | None:
    """A string as JSON carries it (YAML dates and times arrive as their text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return None


def _decode_bytes(value: Any) -> bytes:
    """One ``data`` value as Go reads a ``[]byte``."""
    if value is None:
        return b""
    text = _as_text(value)
    if text is not None:
        offset = go_base64_error(text)
        if offset is not None:
            raise SecretDecodeError(f"illegal base64 data at input byte {offset}")
        return base64.b64decode(text.replace("\n", "").replace("\r", ""))
    if isinstance(value, list):
        return bytes(_decode_byte(item) for item in value)
    raise _type_error(value, "data", "[]uint8")


def _decode_byte(item: Any) -> int:
    if item is None:
        return 0
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        # Go parses the literal as an unsigned integer: 1.0, -1 and 256 all fail
        if isinstance(item, int) and 0 <= item <= 255:
            return item
        shown = orjson.dumps(item).decode()
        raise SecretDecodeError(
            f"json: cannot unmarshal number {shown} into Go struct field Secret.data of type uint8"
        )
    raise _type_error(item, "data", "uint8")


def _decode_data(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(value, "data", "map[string][]uint8")
    return {str(k): base64.b64encode(_decode_bytes(v)).decode() for k, v in value.items()}


def _decode_string_data(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(value, "stringData", "map[string]string")
    out: dict[str, str] = {}
    for key, item in value.items():
        text = "" if item is None else _as_text(item)
        if text is None:
            raise _type_error(item, "stringData", "string")
        out[str(key)] = text
    return out


def decode_secret(obj: dict[str, Any]) -> None:
    """Check ``data`` and ``stringData`` as Go decodes them and store them the way Go writes them
    back; raise `SecretDecodeError` with Go's text for the first one that does not decode."""
    for key in [k for k in obj if k in ("data", "stringData")]:
        decoded = _decode_data(obj[key]) if key == "data" else _decode_string_data(obj[key])
        if decoded is None:
            del obj[key]
        else:
            obj[key] = decoded
