"""The one error of signature verification: what was checked and why it did not hold."""

from __future__ import annotations

from tether.errors import TetherError


class SignatureError(TetherError):
    """A signature, certificate, log entry or trusted root that does not verify."""
