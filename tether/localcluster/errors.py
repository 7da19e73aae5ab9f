"""Errors of the local cluster's own setup (what it serves as Kubernetes errors is apierrors.py)."""

from __future__ import annotations

from tether.errors import TetherError


class ImageCatalogError(TetherError):
    """A list of images cannot be used: unreadable, too large, or a line that is no pattern."""


class InvalidImageReferenceError(TetherError):
    """An image reference does not parse (what the kubelet reports as ``InvalidImageName``)."""
