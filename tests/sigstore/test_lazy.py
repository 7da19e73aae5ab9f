"""Signature verification costs nothing until an object asks for it: a controller starting up
does not load cryptography (about 7 MiB of resident memory); checking a signature does."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import tether.cli.controller, tether.controller.controller, tether.controller.flux.part
print("cryptography" in sys.modules)
from tether.sigstore import cosign
print("cryptography" in sys.modules)
"""


def test_the_controller_loads_cryptography_only_to_check_a_signature() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
