"""What can go wrong while installing, upgrading or removing Tether."""

from __future__ import annotations

from tether.errors import TetherError


class InstallError(TetherError):
    """``tether install`` could not do what was asked; the message says why and what to do."""


class TakeoverRefused(InstallError):
    """Objects Tether would write belong to someone else (a running Argo CD); ``--adopt`` wanted."""


class AdminSecretTimeout(InstallError):
    """The controller did not write the initial admin password in time (is its pod running?)."""
