"""Evaluates Jsonnet files in a child process, so the render time limit can stop a runaway program.

Reads one JSON request on stdin, writes one JSON answer on stdout. Imports are confined to the
repository copy: an import that resolves elsewhere (``/etc/passwd``, ``../../..``) fails.
Standalone on purpose (stdlib and ``_gojsonnet`` only) to keep start-up short.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import _gojsonnet


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def main() -> int:
    request: dict[str, Any] = json.load(sys.stdin)
    root: str = request["root"]
    jpaths: list[str] = request["jpaths"]

    def import_callback(directory: str, rel: str) -> tuple[str, bytes]:
        candidates = [rel] if os.path.isabs(rel) else [os.path.join(directory, rel)]
        candidates += [os.path.join(lib, rel) for lib in jpaths if not os.path.isabs(rel)]
        for candidate in candidates:
            resolved = os.path.realpath(candidate)
            if not _inside(root, resolved):
                raise RuntimeError(f"import {rel!r} resolves outside the repository")
            if os.path.isfile(resolved):
                with open(resolved, "rb") as fh:
                    return candidate, fh.read()
        raise RuntimeError(f"import {rel!r} not found")

    results: list[str] = []
    for path in request["files"]:
        try:
            results.append(
                _gojsonnet.evaluate_file(
                    path,
                    ext_vars=request["ext_vars"],
                    ext_codes=request["ext_codes"],
                    tla_vars=request["tla_vars"],
                    tla_codes=request["tla_codes"],
                    import_callback=import_callback,
                )
            )
        except RuntimeError as exc:
            json.dump({"error": {"file": path, "message": str(exc)}}, sys.stdout)
            return 0
    json.dump({"results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
