"""Errors of ``tether up``: each says what is in the way and what to do about it."""

from __future__ import annotations

from tether.errors import TetherError


class DemoError(TetherError):
    """Base class of every error raised by `tether.demo`."""


class DemoPortError(DemoError):
    """A port the demo must use is taken (one the user chose, or the Git server's kept port)."""


class DemoStateError(DemoError):
    """The demo's state folder or its ``demo.json`` cannot be read or written."""
