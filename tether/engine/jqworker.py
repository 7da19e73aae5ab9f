"""The child process that runs `ignoreDifferences` jq expressions for `tether.engine.jqrunner`.

jq runs in C and cannot be interrupted from Python, so expressions run here, in a process of
their own: the parent kills it when an expression runs past its time limit, and the address
space limit set below makes an expression that builds a huge value fail here, not in the
controller. This file imports nothing from Tether (it runs as a plain script under `python -I`).

Protocol, over stdin/stdout, every integer a big-endian u32:

- request: `len(header)`, a JSON header `{"exprs": [...], "objs": [len, ...], "pairs": [[e, o],
  ...], "cpu": seconds, "max_output": bytes}`, then the object texts back to back. A pair with
  `o == -1` only compiles expression `e`.
- one reply per pair, in order: a status byte (`OK`, `RUNTIME_ERROR`, `COMPILE_ERROR`,
  `TOO_LARGE`), `len(payload)`, payload (the program's output text, or an error message).
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
from collections import OrderedDict
from typing import Any, BinaryIO

OK = 0
RUNTIME_ERROR = 1
COMPILE_ERROR = 2
TOO_LARGE = 3
MEMORY = 4

# The program wraps the user's expression; the newlines end a `#` comment inside it.
WRAPPER = "[path(\n{}\n)]"
# Compiled (never run) to check that the expression is whole: `.a) | (.b` fits in WRAPPER but
# not here, and `include`/`import` directives are not allowed after `.|`.
WHOLE = ".|\n{}\n"
_PROGRAM_CACHE_SIZE = 512
_U32 = struct.Struct(">I")


def set_limits(memory_bytes: int) -> None:
    """Bound this process's address space (a jq value past it fails with 'cannot allocate')."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory_bytes = min(memory_bytes, hard)  # an inherited limit may already be lower
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def allow_cpu(seconds: float) -> None:
    """Let the next evaluation use `seconds` more CPU time; past it the kernel stops the process.

    A backstop only: the parent kills the worker on its wall-clock timeout, but if the parent
    is gone the worker must not spin forever.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError
    return data


def _write(stream: BinaryIO, status: int, payload: bytes) -> None:
    stream.write(bytes([status]) + _U32.pack(len(payload)) + payload)


def jq_compile(program: str) -> Any:
    """A compiled jq program (ValueError with jq's message if it does not compile)."""
    import jq  # imported here so that `set_limits` runs before jq allocates anything

    return jq.compile(program)


class Programs:
    """Compiled programs by expression (jq compiles its builtins each time: ~3 ms a program)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, Any] = OrderedDict()

    def get(self, expression: str) -> Any:
        program = self._cache.get(expression)
        if program is None:
            program = jq_compile(WRAPPER.format(expression))
            self._cache[expression] = program
            if len(self._cache) > _PROGRAM_CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(expression)
        return program


def evaluate(
    programs: Programs, expression: str, text: bytes | None, max_output: int
) -> tuple[int, bytes]:
    """One reply: compile `expression` and, given an object, run it on that object."""
    try:
        if text is None:
            jq_compile(WHOLE.format(expression))
        program = programs.get(expression)
    except ValueError as error:
        return COMPILE_ERROR, str(error).encode()
    if text is None:
        return OK, b""
    try:
        output = program.input_text(text.decode()).text()
    except ValueError as error:
        return RUNTIME_ERROR, str(error).encode()[:1000]
    except MemoryError:
        return MEMORY, b""
    encoded = output.encode()
    if len(encoded) > max_output:
        return TOO_LARGE, str(len(encoded)).encode()
    return OK, encoded


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests until stdin closes."""
    programs = Programs()
    while True:
        try:
            (size,) = _U32.unpack(_read_exact(stdin, 4))
        except EOFError:
            return
        header = json.loads(_read_exact(stdin, size))
        texts = [_read_exact(stdin, length) for length in header["objs"]]
        for expression_index, object_index in header["pairs"]:
            allow_cpu(float(header["cpu"]))
            text = texts[object_index] if object_index >= 0 else None
            status, payload = evaluate(
                programs, header["exprs"][expression_index], text, int(header["max_output"])
            )
            _write(stdout, status, payload)
            stdout.flush()
            if status == MEMORY:
                return  # the heap may be in any state after a failed allocation


READY = b"R"


def main() -> None:
    set_limits(int(sys.argv[1]))
    jq_compile(".")  # load jq before saying ready: its start-up is not an expression's time
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    # jq's `debug` and `stderr` builtins write to stderr; nothing reads it.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        serve(stdin, stdout)
    except MemoryError:
        sys.exit(3)


if __name__ == "__main__":
    main()
