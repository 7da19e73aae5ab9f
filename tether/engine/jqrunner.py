"""Runs `ignoreDifferences` jq path expressions in worker processes, under time and memory limits.

jq (the C library behind the `jq` package) cannot be interrupted once a program runs, and a
program like `repeat(.)` never ends while it grows its output. So no expression runs in the
controller: `JqRunner` keeps a small pool of worker processes (`jqworker.py`), each with an
address-space limit (`RLIMIT_AS`) and a CPU-time backstop (`RLIMIT_CPU`) that it sets on itself,
and kills and replaces a worker whose expression runs past the timeout. An expression that broke
a limit is not run again for `QUARANTINE_SECONDS`: its evaluations fail at once with the same
message instead of costing the timeout on every object and every reconcile.

The common path stays in the controller: results are cached by (expression, object content),
so an unchanged object costs one serialization and a dictionary look-up, and the evaluations a
comparison needs go to a worker in one request (`JqRunner.paths`, or `apaths` off the event loop).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Final

import orjson

from tether.engine import jqworker
from tether.engine.errors import JqCompileError, JqEvaluationError, JqLimitError

MiB: Final = 1 << 20
#: argocd-cm keys of the limits: Argo CD's own timeout setting, and Tether's memory limit.
TIMEOUT_KEY: Final = "ignore.normalizer.jq.timeout"
MEMORY_KEY: Final = "tether.ignore.normalizer.jq.memoryLimit"
#: Argo CD's default for `ignore.normalizer.jq.timeout`.
DEFAULT_TIMEOUT: Final = 1.0
DEFAULT_MEMORY: Final = 256 * MiB
DEFAULT_MAX_OUTPUT: Final = 4 * MiB
#: Longest expression accepted; keeps even jq's compiler (quadratic on some inputs) quick.
MAX_EXPRESSION_LENGTH: Final = 4096
QUARANTINE_SECONDS: Final = 600.0
POOL_SIZE: Final = 2
#: Compiling is not bounded by the (possibly shorter) evaluation timeout but by this at least.
MIN_COMPILE_SECONDS: Final = 2.0
_STARTUP_SECONDS: Final = 30.0
_RESULT_ENTRIES: Final = 65_536
#: Cached path elements in total (a path of n keys weighs n): bounds the cache's memory.
_RESULT_WEIGHT: Final = 1_000_000
_COMPILE_ENTRIES: Final = 4096
_WORKER_SCRIPT: Final = str(FilePath(jqworker.__file__).resolve())

JsonPath = tuple[str | int, ...]
Outcome = tuple[JsonPath, ...] | JqEvaluationError


@dataclass(frozen=True, slots=True)
class JqLimits:
    """Bounds of one evaluation: wall-clock seconds, worker address space, output bytes."""

    timeout: float = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY
    max_output: int = DEFAULT_MAX_OUTPUT


class _Breach(Exception):
    """The worker broke a limit (or died) while evaluating the current pair."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    """One worker process and the framing of its pipes."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.process = subprocess.Popen(
            [sys.executable, "-I", _WORKER_SCRIPT, str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"LC_ALL": "C.UTF-8"},  # nothing of the controller's environment for `$ENV`
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin
        self._out = self.process.stdout.fileno()
        self._buffer = bytearray()

    def wait_ready(self) -> None:
        """Wait for the worker to have loaded jq."""
        try:
            ready = self._read(len(jqworker.READY), time.monotonic() + _STARTUP_SECONDS)
        except _Breach as breach:
            ready = breach.reason.encode()
        if ready != jqworker.READY:
            self.kill()
            raise JqEvaluationError(f"the jq worker process did not start ({ready.decode()})")

    def send(self, header: dict[str, Any], texts: Sequence[bytes]) -> None:
        encoded = json.dumps(header).encode()
        try:
            self._in.write(len(encoded).to_bytes(4, "big") + encoded + b"".join(texts))
            self._in.flush()
        except OSError:
            # It died between requests: not the fault of any expression of this one.
            raise JqEvaluationError(
                f"the jq worker process stopped before the request ({self._death()})"
            ) from None

    def reply(self, timeout: float) -> tuple[int, bytes]:
        """The next reply; `_Breach` when none comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        head = self._read(5, deadline)
        body = self._read(int.from_bytes(head[1:], "big"), deadline)
        return head[0], body

    def _read(self, size: int, deadline: float) -> bytes:
        with selectors.DefaultSelector() as selector:
            selector.register(self._out, selectors.EVENT_READ)
            while len(self._buffer) < size:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.kill()
                    raise _Breach("time")
                chunk = os.read(self._out, max(65536, size - len(self._buffer)))
                if not chunk:
                    raise _Breach(self._death())
                self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _death(self) -> str:
        code = self.process.wait()
        if code == -signal.SIGXCPU:
            return "time"
        return "memory" if code in (-signal.SIGABRT, -signal.SIGSEGV, 3) else f"exit {code}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self._in, self.process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass  # unflushed bytes of a request the worker will never read


class _WeightedCache:
    """A least-recently-used map bounded by entry count and by total weight."""

    def __init__(self, max_entries: int, max_weight: int) -> None:
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._max_entries, self._max_weight, self._weight = max_entries, max_weight, 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Any, value: Any, weight: int = 1) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while len(self._items) > self._max_entries or self._weight > self._max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0


def object_text(obj: Any) -> bytes:
    """`obj` as JSON for jq (YAML can give non-string keys, dates, integers past 64 bits)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        return json.dumps(obj, default=str).encode()


def _paths(output: bytes) -> tuple[JsonPath, ...] | None:
    """The non-empty paths in a `[path(...)]` output, or None if it is not a list of paths."""
    try:
        found = orjson.loads(output)
    except orjson.JSONDecodeError:
        return None  # several outputs: the expression broke out of `path(...)`
    if not isinstance(found, list):
        return None
    paths = []
    for path in found:
        if not isinstance(path, list) or not all(
            isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in path
        ):
            return None
        if path:
            paths.append(tuple(path))
    return tuple(paths)


def _quote(expression: str) -> str:
    shown = expression if len(expression) <= 80 else expression[:77] + "..."
    return json.dumps(shown, ensure_ascii=False)


class JqRunner:
    """A pool of jq workers with a result cache and a quarantine of expressions that broke a limit.

    Thread-safe: the controller evaluates from its event loop (`paths`, which waits for a worker)
    and from threads (`apaths`).
    """

    def __init__(self, limits: JqLimits | None = None, pool_size: int = POOL_SIZE) -> None:
        self.limits = limits or JqLimits()
        self.problem: str | None = None
        self._pool_size = max(1, pool_size)
        self._idle: list[_Worker] = []
        self._started = 0
        self._available = threading.Condition()
        self._results = _WeightedCache(_RESULT_ENTRIES, _RESULT_WEIGHT)
        self._compiled = _WeightedCache(_COMPILE_ENTRIES, _COMPILE_ENTRIES)
        self._quarantine: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def configure(self, limits: JqLimits, problem: str | None = None) -> None:
        """Use new limits; `problem` (a bad setting) then fails every evaluation with its text."""
        with self._lock:
            changed = limits != self.limits
            self.limits, self.problem = limits, problem
            if changed:
                self._quarantine.clear()  # a larger limit may let those expressions finish
        if changed:
            self._drop_idle()

    def compile_error(self, expression: str) -> str | None:
        """Why `expression` is not a jq path expression jq can compile, or None if it is."""
        if len(expression) > MAX_EXPRESSION_LENGTH:
            return f"longer than {MAX_EXPRESSION_LENGTH} characters"
        if "\x00" in expression:
            return "contains a NUL character"
        cached = self._compiled.get(expression)
        if cached is not None:
            return cached or None
        # Straight to a worker: a quarantine or a bad setting says nothing about compiling.
        outcome = self._run_on_worker([expression], [], [(0, -1)])[0]
        if isinstance(outcome, JqCompileError):
            message = outcome.message
        elif isinstance(outcome, JqLimitError):
            # kept like a syntax error, so that sending it again costs nothing
            seconds = max(self.limits.timeout, MIN_COMPILE_SECONDS)
            message = (
                f"compiling it takes more than {seconds:g}s or {self.limits.memory // MiB} MiB"
            )
        elif isinstance(outcome, JqEvaluationError):
            raise outcome  # no worker: says nothing about the expression
        else:
            message = ""
        self._compiled.put(expression, message)
        return message or None

    def paths(self, requests: Sequence[tuple[str, Any]]) -> list[Outcome]:
        """For each (expression, object): the places `path(expression)` names in the object.

        An expression that fails on the object (jq error: iterating a missing list...) names
        nothing, as in Argo CD; one that broke a limit gives a `JqEvaluationError`.
        """
        outcomes: list[Outcome | None] = [None] * len(requests)
        exprs: dict[str, int] = {}
        texts: dict[bytes, int] = {}
        pairs: dict[tuple[int, int], list[int]] = {}
        cache_keys: dict[tuple[int, int], tuple[str, bytes]] = {}
        for index, (expression, obj) in enumerate(requests):
            refused = self._refusal(expression)
            if refused is not None:
                outcomes[index] = refused
                continue
            text = object_text(obj)
            key = (expression, hashlib.blake2b(text, digest_size=16).digest())
            cached = self._results.get(key)
            if cached is not None:
                outcomes[index] = cached
                continue
            pair = (exprs.setdefault(expression, len(exprs)), texts.setdefault(text, len(texts)))
            pairs.setdefault(pair, []).append(index)
            cache_keys[pair] = key
        if pairs:
            run = self._run(list(exprs), list(texts), list(pairs))
            for pair, outcome in zip(pairs, run, strict=True):
                if isinstance(outcome, tuple):
                    self._results.put(cache_keys[pair], outcome, 1 + sum(map(len, outcome)))
                for index in pairs[pair]:
                    outcomes[index] = outcome
        return [o if o is not None else () for o in outcomes]

    async def apaths(self, requests: Sequence[tuple[str, Any]]) -> list[Outcome]:
        """`paths` in a thread, so that a slow expression never holds the event loop."""
        return await asyncio.to_thread(self.paths, requests)

    def close(self) -> None:
        """Stop every idle worker (busy ones stop when their request ends)."""
        with self._available:
            self._pool_size = 0
        self._drop_idle()

    # --- workers -----------------------------------------------------------------------------

    def _refusal(self, expression: str) -> JqEvaluationError | None:
        if self.problem is not None:
            return JqEvaluationError(self.problem)
        with self._lock:
            found = self._quarantine.get(expression)
            if found is None:
                return None
            if found[0] <= time.monotonic():
                del self._quarantine[expression]
                return None
        return JqLimitError(found[1])

    def _run(
        self, exprs: list[str], texts: list[bytes], pairs: list[tuple[int, int]]
    ) -> list[Outcome]:
        """Evaluate `pairs` (expression index, object index or -1 to compile only) in order."""
        outcomes: list[Outcome] = []
        while len(outcomes) < len(pairs):
            todo = pairs[len(outcomes) :]
            refused = self._refusal(exprs[todo[0][0]])
            if refused is not None:  # quarantined by the breach of an earlier pair
                outcomes.append(refused)
                continue
            outcomes.extend(self._run_on_worker(exprs, texts, todo))
        return outcomes

    def _run_on_worker(
        self, exprs: list[str], texts: list[bytes], pairs: list[tuple[int, int]]
    ) -> list[Outcome]:
        """As many outcomes as one worker gives before it ends or breaks a limit (then the
        breach is the last outcome)."""
        limits = self.limits
        timeouts = [
            limits.timeout if o >= 0 else max(limits.timeout, MIN_COMPILE_SECONDS) for _, o in pairs
        ]
        worker = self._acquire()
        outcomes: list[Outcome] = []
        try:
            used = sorted({o for _, o in pairs if o >= 0})
            header = {
                "exprs": exprs,
                "objs": [len(texts[o]) if o in used else 0 for o in range(len(texts))],
                "pairs": [list(p) for p in pairs],
                "cpu": max(limits.timeout, MIN_COMPILE_SECONDS) + 1,
                "max_output": limits.max_output,
            }
            worker.send(header, [texts[o] for o in used])
            for expression_index, _ in pairs:
                status, payload = worker.reply(timeouts[len(outcomes)])
                outcomes.append(self._outcome(exprs[expression_index], status, payload))
                if status == jqworker.MEMORY:
                    worker.kill()  # it exits after a failed allocation; the rest is retried
                    break
        except _Breach as breach:
            worker.kill()
            expression = exprs[pairs[len(outcomes)][0]]
            seconds = timeouts[len(outcomes)]
            outcomes.append(self._quarantined(expression, breach.reason, seconds, limits.memory))
        except JqEvaluationError as error:
            outcomes.append(error)
        finally:
            self._release(worker)
        return outcomes

    def _outcome(self, expression: str, status: int, payload: bytes) -> Outcome:
        if status == jqworker.OK:
            paths = _paths(payload) if payload else ()
            if paths is None:
                return JqEvaluationError(
                    f"jq expression {_quote(expression)} does not give paths only "
                    "(it must be a path expression such as .spec.replicas)"
                )
            return paths
        if status == jqworker.RUNTIME_ERROR:
            return ()
        if status == jqworker.COMPILE_ERROR:
            return JqCompileError(compile_message(payload.decode(errors="replace"), expression))
        if status == jqworker.TOO_LARGE:
            return JqLimitError(
                f"jq expression {_quote(expression)} names more places than "
                f"{self.limits.max_output // MiB} MiB of paths"
            )
        return self._quarantined(expression, "memory", self.limits.timeout, self.limits.memory)

    def _quarantined(
        self, expression: str, reason: str, seconds: float, memory: int
    ) -> JqLimitError:
        if reason == "time":
            what = f"ran longer than {seconds:g}s ({TIMEOUT_KEY} in argocd-cm)"
        elif reason == "memory":
            what = f"needed more than {memory // MiB} MiB of memory ({MEMORY_KEY} in argocd-cm)"
        else:
            what = f"stopped its worker process ({reason})"
        message = (
            f"jq expression {_quote(expression)} {what}; "
            f"it is not run again for {QUARANTINE_SECONDS / 60:g} minutes"
        )
        with self._lock:
            self._quarantine[expression] = (time.monotonic() + QUARANTINE_SECONDS, message)
        return JqLimitError(message)

    def _acquire(self) -> _Worker:
        with self._available:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive and worker.memory == self.limits.memory:
                        return worker
                    self._started -= 1
                    worker.kill()
                if self._started < max(1, self._pool_size):
                    self._started += 1
                    break
                self._available.wait()
        try:
            worker = _Worker(self.limits.memory)
            worker.wait_ready()
            return worker
        except (OSError, JqEvaluationError) as error:
            with self._available:
                self._started -= 1
                self._available.notify()
            if isinstance(error, JqEvaluationError):
                raise
            raise JqEvaluationError(f"cannot start a jq worker process: {error}") from None

    def _release(self, worker: _Worker) -> None:
        with self._available:
            if worker.alive and self._pool_size > 0:
                self._idle.append(worker)
            else:
                self._started -= 1
                worker.kill()
            self._available.notify()

    def _drop_idle(self) -> None:
        with self._available:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            self._available.notify_all()
        for worker in idle:
            worker.kill()


def compile_message(error: str, expression: str) -> str:
    """jq's compile error, first line only, with its place counted in the user's expression."""
    first = error.strip().splitlines()[0] if error.strip() else "does not compile"
    first = first.removeprefix("jq: error: ").removesuffix(":").replace(" at <top-level>", "")
    where = re.search(r",? line (\d+)(?:, column (\d+))?", first)
    if where is None:
        return first
    # The expression starts on line 2 of the program (see jqworker.WRAPPER).
    line, column = int(where.group(1)) - 1, where.group(2)
    if not 1 <= line <= expression.count("\n") + 1:
        place = " at the end of the expression"
    elif "\n" in expression:
        place = f" at line {line}" + (f", column {column}" if column else "")
    else:
        place = f" at column {column}" if column else ""
    return first[: where.start()] + place + first[where.end() :]


_default: JqRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> JqRunner:
    """The process's runner, started on first use and stopped at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JqRunner()
            atexit.register(_default.close)
        return _default
