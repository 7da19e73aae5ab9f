"""Sprig functions (masterminds/sprig v3) that Argo CD templates use."""

from __future__ import annotations

from tether.gotemplate.functions import Func

SPRIG: dict[str, Func] = {}
