"""A sandboxed LuaJIT runtime for Argo CD-style ``health.lua`` scripts.

The contract is Argo CD's: the script sees the object as the global ``obj`` (maps as tables,
lists as 1-based arrays, JSON null as nil) and returns a table ``{status = ..., message = ...}``.

The language is Argo CD's too. Argo CD runs scripts in gopher-lua: Lua 5.1 plus Lua 5.2's
``goto`` and ``::label::`` (its bundled checks skip a condition with ``goto continue`` and a
``::continue::`` label at the end of the loop body). PUC Lua 5.1 cannot parse that ("'=' expected
near 'continue'"). LuaJIT 2.1 is Lua 5.1 with the same addition under Lua 5.2's rules (a label
is visible in its block, a jump may not enter the scope of a local unless the label ends the
block), so scripts run on lupa's ``luajit21``, with the JIT compiler switched off: compiled
traces never call the count hook, and the time limit must hold. Quoted strings are rewritten
to mean what gopher-lua reads in them (:mod:`tether.engine.health.dialect`): LuaJIT alone would
refuse a backslash before a character it has no escape for, which gopher-lua accepts.

Scripts come from users' ConfigMaps and folders, so nothing from the host is reachable: the
environment holds only ``string`` (without ``dump``), ``table``, ``math``, ``os.time``/``os.date``/
``os.clock`` and the pure base functions (``pairs``, ``ipairs``, ``type``, ``tostring``,
``tonumber``, ``next``, ``select``, ``unpack``, ``pcall``, ``error``, ``assert``,
``setmetatable``, ``rawget``, ``rawequal``, and a silent ``print``). No ``io``, ``os.execute``,
``require``, ``load*``/``dofile``, ``debug``, ``package``, ``coroutine``, ``getmetatable``
(which would reach the shared string metatable), ``jit``, ``bit`` or ``ffi``. Every run gets
fresh copies of the library tables, so one script cannot change what the next one sees.

Limits: a run is stopped after ``timeout`` seconds by a count hook installed from the trusted
side before the script starts (the script cannot remove it: ``debug`` is not in its
environment, and its ``pcall`` re-raises the timeout so it cannot be swallowed). What a script
may allocate is capped (lupa's ``max_memory``, set just before each run above what the object
itself takes); a script that hits the cap fails with "not enough memory". Precompiled bytecode
is refused (it is not verified when loaded).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from lupa import luajit21

from tether.engine.health.dialect import gopher_strings
from tether.engine.health.status import STATUS_ORDER, UNKNOWN, HealthStatus
from tether.errors import TetherError

#: Argo CD stops a health script after one second.
DEFAULT_TIMEOUT_SECONDS = 1.0
#: What one run of a script may allocate, on top of the object it is given.
DEFAULT_MAX_MEMORY = 64 * 1024 * 1024
TIMEOUT_MESSAGE = "health check timed out"
INVALID_STATUS_MESSAGE = "Lua returned an invalid health status"

# VM instructions between two clock checks: the hook costs nothing for the short scripts health
# checks are (a few hundred instructions) and a runaway loop is caught within microseconds.
_HOOK_INSTRUCTIONS = 1000

# Runs once per runtime with the full standard library, before any user code. It keeps private
# references to what it needs (sethook, the real pcall, loadstring) in upvalues, which scripts
# cannot reach, and returns the two entry points Python calls.
_BOOTSTRAP = """
local clock, valid_status, timeout_message, invalid_status_message, hook_instructions = ...
local sethook, real_pcall, real_error, setfenv = debug.sethook, pcall, error, setfenv
local loadstring, collectgarbage, pairs, type, rawget = loadstring, collectgarbage, pairs, type, rawget
local tostring = tostring

-- Traces compiled by the JIT never call the count hook, so a hot loop would outlive the time
-- limit: the whole runtime stays in the interpreter.
jit.off()
jit.flush()
assert(not jit.status(), "the JIT compiler must be off")

local deadline, timed_out = 0, false

local function on_count()
  if clock() > deadline then
    timed_out = true
    real_error(timeout_message, 0)
  end
end

-- A script's pcall must not swallow the timeout: once the time is up, re-raise after the call.
local function after_protected(...)
  if timed_out then real_error(timeout_message, 0) end
  return ...
end
local function safe_pcall(f, ...)
  return after_protected(real_pcall(f, ...))
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local safe_string = copy(string)
safe_string.dump = nil
local safe_os = {time = os.time, date = os.date, clock = os.clock}
local base = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = safe_pcall, rawequal = rawequal, rawget = rawget, select = select,
  setmetatable = setmetatable, tonumber = tonumber, tostring = tostring, type = type,
  unpack = unpack, print = function() end,
}

local function new_env(obj)
  local env = copy(base)
  env.string = copy(safe_string)
  env.table = copy(table)
  env.math = copy(math)
  env.os = copy(safe_os)
  env.obj = obj
  env._G = env
  return env
end

local function compile(source, chunkname)
  local fn, err = loadstring(source, "=" .. chunkname)
  return fn, err
end

local empty_env = {}

-- Returns ok, status, message: ok is false when the script failed (message says why).
local function run(fn, obj, timeout)
  setfenv(fn, new_env(obj))
  timed_out = false
  deadline = clock() + timeout
  sethook(on_count, "", hook_instructions)
  local ok, result = real_pcall(fn)
  sethook()
  -- Drop the environment so whatever the script built can be collected.
  setfenv(fn, empty_env)
  if timed_out then
    collectgarbage("collect")
    return false, nil, timeout_message
  end
  if not ok then
    collectgarbage("collect")
    if type(result) == "string" or type(result) == "number" then
      return false, nil, tostring(result)
    end
    return false, nil, "Lua error of type " .. type(result)
  end
  if type(result) ~= "table" then
    return false, nil, "expect table output from Lua script, not " .. type(result)
  end
  -- rawget: a metatable on the result must not run script code after the hook is gone.
  local status, message = rawget(result, "status"), rawget(result, "message")
  if type(status) ~= "string" or not valid_status[status] then
    return false, nil, invalid_status_message
  end
  if message == nil then
    message = ""
  elseif type(message) == "number" or type(message) == "boolean" then
    message = tostring(message)
  elseif type(message) ~= "string" then
    return false, nil, "Lua returned a health message of type " .. type(message)
  end
  return true, status, message
end

local function collect()
  collectgarbage("collect")
end

return compile, run, collect
"""


class LuaScriptError(TetherError):
    """A health script that cannot be compiled."""


class CompiledScript:
    """A compiled ``health.lua``, bound to the sandbox that compiled it."""

    __slots__ = ("_function", "_sandbox", "name")

    def __init__(self, sandbox: LuaSandbox, function: Any, name: str) -> None:
        self._sandbox = sandbox
        self._function = function
        self.name = name

    def evaluate(self, obj: dict[str, Any]) -> HealthStatus:
        """Run the script on ``obj``; a failing script gives Unknown with the Lua error."""
        return self._sandbox.run(self._function, obj)


class LuaSandbox:
    """One LuaJIT runtime (JIT off) running health scripts one at a time under time and memory
    limits."""

    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_memory = max_memory
        self._lock = threading.Lock()
        self._runtime = luajit21.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=max_memory,
        )
        valid = self._runtime.table_from({status: True for status in STATUS_ORDER})
        self._compile, self._run, self._collect = self._runtime.execute(
            _BOOTSTRAP,
            time.monotonic,
            valid,
            TIMEOUT_MESSAGE,
            INVALID_STATUS_MESSAGE,
            _HOOK_INSTRUCTIONS,
        )

    def compile(self, source: str, name: str) -> CompiledScript:
        """Compile a script; ``name`` appears in its error messages (``name:3: ...``).

        Raises :class:`LuaScriptError` for a syntax error or precompiled bytecode.
        """
        if source.startswith("\x1b"):
            raise LuaScriptError(f"{name}: precompiled Lua bytecode is not accepted")
        source = gopher_strings(source)
        runtime = self._runtime
        with self._lock:
            runtime.set_max_memory(runtime.get_memory_used() + self.max_memory, total=True)
            try:
                function, error = self._compile(source, name)
            except luajit21.LuaError as exc:
                raise LuaScriptError(f"{name}: {exc or 'not enough memory'}") from None
            finally:
                runtime.set_max_memory(0)
        if function is None:
            raise LuaScriptError(str(error))
        return CompiledScript(self, function, name)

    def run(self, function: Any, obj: dict[str, Any]) -> HealthStatus:
        """Run a compiled script on ``obj`` and read its ``{status, message}`` answer."""
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and "managedFields" in metadata:
            # Field-manager bookkeeping is the bulk of a live object and no health check reads
            # it; leaving it out halves the cost of handing the object to Lua.
            obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
        runtime = self._runtime
        with self._lock:
            # Handing the object over happens outside Lua's error handling: hitting the cap
            # there would abort the process, so the cap is lifted for this trusted step and
            # set again, above what the object takes, for the script.
            runtime.set_max_memory(0)
            table = runtime.table_from(obj, recursive=True)
            runtime.set_max_memory(runtime.get_memory_used() + self.max_memory, total=True)
            try:
                ok, status, message = self._run(function, table, self.timeout_seconds)
            except luajit21.LuaError as exc:
                # Building the script's environment itself ran out of memory.
                ok, message = False, str(exc) or "not enough memory"
            finally:
                del table
                runtime.set_max_memory(0)
                if runtime.get_memory_used() > self.max_memory:
                    self._collect()
        if not ok:
            return HealthStatus(UNKNOWN, str(message))
        return HealthStatus(str(status), str(message))
