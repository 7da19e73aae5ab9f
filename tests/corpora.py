"""Where the shared corpora are (``../shared/corpora`` beside the project; read-only)."""

from __future__ import annotations

from pathlib import Path

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
