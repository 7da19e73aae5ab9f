"""A Secret's values as text, for the parts that read credentials and settings from one."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any


def decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    """``data`` decoded from base64 as UTF-8 text, with ``stringData`` over it (as the API
    server merges them); values that are not text are left out, never guessed at."""
    values: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
    for key, value in (secret.get("stringData") or {}).items():
        if isinstance(value, str):
            values[str(key)] = value
    return values
