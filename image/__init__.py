"""Tether's container image builder (``make image``, ``python -m image.build``); see docs/image.md."""
