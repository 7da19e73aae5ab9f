"""Evaluates Jsonnet files in a child process, so the render limits can stop a runaway program.

Reads one JSON request on stdin, writes one JSON answer on stdout, and never a traceback: any
failure is an ``error`` answer with a one-line message. Imports are confined to the repository
copy: an import that resolves elsewhere (``/etc/passwd``, ``../../..``), is missing or is larger
than ``max_file_bytes`` fails. Standalone on purpose (stdlib and ``_gojsonnet`` only) to keep
start-up short.

The import callback never raises. gojsonnet's Python binding copies the message of an exception
raised in an import callback without its terminating NUL byte, and the Go side reads it as a C
string: past the message it reads whatever the heap holds until a zero byte. What is there
depends on earlier allocations (the interpreter's own path is enough: run from a checkout in
``/tmp/tmp.XXXXXXXXXX/clone`` it was garbage on the first import), so the message ended in stray
characters or could not be decoded at all (``UnicodeDecodeError`` out of ``evaluate_file``, and a
traceback for the user). A refused import is therefore recorded and answered with empty content,
and the recorded refusal is what the worker reports.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import _gojsonnet

# what a refused import "was found at": never a real path, so nothing resolves against it
_REFUSED = "/nonexistent/tether-refused-import"


class _ImportRefused(Exception):
    """An import the repository may not make; the message says why."""


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _import(request: dict[str, Any], directory: str, rel: str) -> tuple[str, bytes]:
    root: str = request["root"]
    max_bytes: int = request["max_file_bytes"]
    candidates = [rel] if os.path.isabs(rel) else [os.path.join(directory, rel)]
    candidates += [os.path.join(lib, rel) for lib in request["jpaths"] if not os.path.isabs(rel)]
    for candidate in candidates:
        resolved = os.path.realpath(candidate)
        if not _inside(root, resolved):
            raise _ImportRefused(f"import {rel!r} resolves outside the repository")
        if os.path.isfile(resolved):
            if os.stat(resolved).st_size > max_bytes:
                raise _ImportRefused(f"import {rel!r} is larger than {max_bytes} bytes")
            with open(resolved, "rb") as fh:
                return candidate, fh.read(max_bytes + 1)
    raise _ImportRefused(f"import {rel!r} not found")


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request: every file's JSON text, or the first error."""
    refusals: list[str] = []

    def import_callback(directory: str, rel: str) -> tuple[str, bytes]:
        try:
            return _import(request, directory, rel)
        except (_ImportRefused, OSError) as exc:
            refusals.append(
                str(exc) if isinstance(exc, _ImportRefused) else f"import {rel!r}: {exc}"
            )
            return _REFUSED, b""

    results: list[str] = []
    for path in request["files"]:
        error = ""
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
            error = str(exc)
        # a refusal explains whatever the evaluation did with the empty content that replaced it
        if refusals or error:
            return {"error": {"file": path, "message": refusals[0] if refusals else error}}
    return {"results": results}


def main() -> int:
    try:
        answer = evaluate(json.load(sys.stdin))
    except Exception as exc:  # the user gets a message, never a traceback
        answer = {"error": {"file": "", "message": f"{type(exc).__name__}: {exc}"}}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
