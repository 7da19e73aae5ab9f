"""Typed reads of a resource's spec, with errors naming the field's full path: the Argo CD
kinds (tether/controller/models.py, project.py) and Flux's (tether/flux/specs.py) read through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether import durations
from tether.errors import TetherError


class InvalidSpecError(TetherError):
    """A resource's spec (or one of its fields) is not something its API would accept."""


# ---- values ------------------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (see :func:`tether.durations.parse_duration`), or an
    :class:`InvalidSpecError`."""
    try:
        return durations.parse_duration(text)
    except durations.InvalidDurationError as exc:
        raise InvalidSpecError(exc.message) from None


class FieldReader:
    """Typed access to one object of the spec, with errors naming the field's full path."""

    def __init__(self, obj: Any, path: str) -> None:
        if obj is None:
            obj = {}
        if not isinstance(obj, Mapping):
            raise InvalidSpecError(f"{path} must be an object")
        self.obj: Mapping[str, Any] = obj
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidSpecError(f"{self.at(key)} must be a string")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidSpecError(f"{self.at(key)} must be true or false")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.obj.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidSpecError(f"{self.at(key)} must be an integer")
        return value

    def duration(self, key: str, default: float | None = None) -> float | None:
        """Seconds of a Go duration (``30s``, ``5m``, ``1h30m``); negative ones refused."""
        text = self.string(key)
        if text is None:
            return default
        try:
            seconds = durations.parse_duration(text)
        except durations.InvalidDurationError:
            raise InvalidSpecError(
                f'{self.at(key)}: invalid duration "{text}" (use e.g. 30s, 5m, 1h30m)'
            ) from None
        if seconds < 0:
            raise InvalidSpecError(f"{self.at(key)} must not be negative")
        return seconds

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise InvalidSpecError(f"{self.at(key)} must be an object")
        return dict(value)

    def child(self, key: str) -> FieldReader | None:
        value = self.obj.get(key)
        return None if value is None else FieldReader(value, self.at(key))

    def items(self, key: str) -> list[Any]:
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidSpecError(f"{self.at(key)} must be a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.items(key)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidSpecError(f"{self.at(key)}[{i}] must be a string")
        return tuple(values)

    def objects(self, key: str) -> list[FieldReader]:
        return [FieldReader(item, f"{self.at(key)}[{i}]") for i, item in enumerate(self.items(key))]
