"""Lua health scripts: Argo CD's contract, Lua 5.1 semantics, the sandbox and its limits."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.engine.health.helpers import lua_check as check
from tether.engine.health import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    UNKNOWN,
    HealthCustomizations,
    HealthStatus,
    health_of,
)

WIDGET_HEALTH = """
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Available" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Available" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the widget"
return hs
"""


def widget(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "demo"},
        "status": {"conditions": list(conditions), **extra},
    }


def test_script_reads_obj_and_returns_healthy_or_degraded() -> None:
    up = {"type": "Available", "status": "True", "message": "serving"}
    down = {"type": "Available", "status": "False", "message": "no backend"}
    assert check(WIDGET_HEALTH, widget(up)) == HealthStatus(HEALTHY, "serving")
    assert check(WIDGET_HEALTH, widget(down)) == HealthStatus(DEGRADED, "no backend")
    assert check(WIDGET_HEALTH, widget()) == HealthStatus(PROGRESSING, "Waiting for the widget")


def test_lists_are_one_based_arrays_with_table_getn_and_null_is_nil() -> None:
    script = """
    local first = obj.status.replicas[1]
    return {status = "Healthy",
            message = first .. "/" .. table.getn(obj.status.replicas) .. "/" .. #obj.status.replicas
                      .. "/" .. tostring(obj.status.gone == nil) .. "/" .. tostring(obj.status.flag)}
    """
    result = check(script, widget(replicas=["a", "b", "c"], gone=None, flag=False))
    assert result == HealthStatus(HEALTHY, "a/3/3/true/false")


def test_os_time_and_os_date_are_available_for_age_checks() -> None:
    script = """
    local y, mo, d, h, mi, s = string.match(obj.status.since, "(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z")
    local since = os.time({year=y, month=mo, day=d, hour=h, min=mi, sec=s})
    local age = os.time() - since
    if age > 3600 then
      return {status = "Degraded", message = "stuck since " .. os.date("!%Y-%m-%d", since)}
    end
    return {status = "Progressing", message = "recent"}
    """
    assert check(script, widget(since="2020-03-04T05:06:07Z")) == HealthStatus(
        DEGRADED, "stuck since 2020-03-04"
    )


def test_lua_51_semantics_hold() -> None:
    # unpack is a global and # on strings works as in 5.1; math.pow exists only up to 5.2.
    script = 'local a, b = unpack({"x", "y"}); return {status = "Healthy", message = a .. b .. math.pow(2, 3) .. #"abc"}'
    assert check(script, widget()) == HealthStatus(HEALTHY, "xy83")


def test_script_that_errors_is_unknown_with_the_lua_message_only() -> None:
    result = check("local x = obj.spec.missing.field\nreturn {status='Healthy'}", widget())
    assert result == HealthStatus(
        UNKNOWN,
        "example.com/Widget:1: attempt to index field 'spec' (a nil value)",
    )
    assert check('error("custom failure")', widget()) == HealthStatus(
        UNKNOWN, "example.com/Widget:1: custom failure"
    )
    assert check("error({code = 1})", widget()) == HealthStatus(UNKNOWN, "Lua error of type table")


def test_script_with_a_syntax_error_is_unknown() -> None:
    result = check("return {status = ", widget())
    assert result is not None and result.status == UNKNOWN
    assert result.message.startswith("example.com/Widget:1:")


def test_script_returning_a_bad_value_is_unknown() -> None:
    assert check('return "Healthy"', widget()) == HealthStatus(
        UNKNOWN, "expect table output from Lua script, not string"
    )
    assert check('return {status = "Fine"}', widget()) == HealthStatus(
        UNKNOWN, "Lua returned an invalid health status"
    )
    assert check("return {}", widget()) == HealthStatus(
        UNKNOWN, "Lua returned an invalid health status"
    )
    assert check('return {status = "Healthy", message = 42}', widget()) == HealthStatus(
        HEALTHY, "42"
    )


def test_script_that_loops_forever_is_stopped_by_the_time_limit() -> None:
    result = check("while true do end", widget(), timeout_seconds=0.05)
    assert result == HealthStatus(UNKNOWN, "health check timed out")


def test_script_cannot_swallow_the_timeout_with_pcall() -> None:
    script = "while true do pcall(function() while true do end end) end"
    assert check(script, widget(), timeout_seconds=0.05) == HealthStatus(
        UNKNOWN, "health check timed out"
    )


def test_runaway_allocation_hits_the_memory_cap_and_the_runtime_survives() -> None:
    customizations = HealthCustomizations.from_scripts(
        {
            "example.com/Widget": "local t = {} for i = 1, 1e9 do t[i] = i end",
            "example.com/Gadget": 'return {status = "Healthy", message = string.rep("x", 3)}',
        },
        max_memory=4 * 1024 * 1024,
    )
    assert health_of(widget(), customizations=customizations) == HealthStatus(
        UNKNOWN, "not enough memory"
    )
    assert health_of(widget(), customizations=customizations) == HealthStatus(
        UNKNOWN, "not enough memory"
    )
    gadget = {**widget(), "kind": "Gadget"}
    assert health_of(gadget, customizations=customizations) == HealthStatus(HEALTHY, "xxx")


@pytest.mark.parametrize(
    "script",
    [
        'return io.open("/etc/passwd")',
        'return os.execute("touch /tmp/tether-pwned")',
        'os.remove("/tmp/x")',
        "os.exit(1)",
        'return require("io")',
        'return dofile("/etc/passwd")',
        'return loadfile("/etc/passwd")',
        'return loadstring("return 1")',
        "return load(function() return nil end)",
        "return debug.getinfo(1)",
        "return package.loaded",
        "return python.eval('1')",
        "return coroutine.create(print)",
        'return getmetatable("").__index',
        "return setfenv(1, {})",
        "return string.dump(print)",
        'return os.getenv("HOME")',
        # LuaJIT's own modules: the JIT switch, bit operations and the C foreign interface.
        "return jit.version",
        "return bit.band(1, 1)",
        'return require("ffi")',
        "return newproxy(true)",
    ],
)
def test_host_access_is_not_available(script: str) -> None:
    result = check(script, widget())
    assert result is not None and result.status == UNKNOWN
    assert "nil value" in result.message


def test_one_script_cannot_change_the_libraries_another_sees() -> None:
    customizations = HealthCustomizations.from_scripts(
        {
            "example.com/Widget": 'string.upper = nil; table.getn = nil; x = 1; return {status = "Healthy"}',
            "example.com/Gadget": 'return {status = "Healthy", message = string.upper("ok") .. tostring(x)}',
        }
    )
    assert health_of(widget(), customizations=customizations) == HealthStatus(HEALTHY, "")
    gadget = {**widget(), "kind": "Gadget"}
    assert health_of(gadget, customizations=customizations) == HealthStatus(HEALTHY, "OKnil")


def test_precompiled_bytecode_is_refused() -> None:
    result = check("\x1bLuaQ\x00\x01\x04", widget())
    assert result is not None and result.status == UNKNOWN
    assert "bytecode" in result.message


def test_a_luajit_integer_literal_is_no_health_message() -> None:
    # 1LL is a 64-bit C integer (cdata) in LuaJIT: not a string Argo CD could show.
    assert check('return {status = "Healthy", message = 1LL}', widget()) == HealthStatus(
        UNKNOWN, "Lua returned a health message of type cdata"
    )


def test_print_is_silent() -> None:
    assert check(
        'print("debug", obj.metadata.name); return {status = "Healthy"}', widget()
    ) == HealthStatus(HEALTHY)


HOSTILE_SCRIPTS = {
    'local s = "xy" for i = 1, 40 do s = s .. s end': "not enough memory",
    "local t = {} for i = 1, 1e8 do t[i] = {i} end": "not enough memory",
    "local function f() return f() + 1 end return f()": "stack overflow",
    "local t = setmetatable({}, {__index = function(t, k) return t[k .. 'x'] end}) return t.a": (
        "stack overflow"
    ),
    "return unpack({}, 1, 1e8)": "too many results to unpack",
    'return {status = "Healthy", message = string.format("%099999d", 1)}': "invalid option",
}


def test_hostile_scripts_are_unknown_and_the_process_survives() -> None:
    # Run in a child limited to 2 GiB of address space and two minutes: a runtime whose
    # memory cap failed would be stopped there instead of taking the test machine down.
    code = f"""
import resource
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from tether.engine.health import HealthCustomizations, health_of
obj = {{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {{"name": "w"}}}}
scripts = {list(HOSTILE_SCRIPTS)!r} + ['return {{status = "Healthy", message = "still here"}}']
checks = HealthCustomizations.from_scripts(
    {{f"example.com/K{{i}}": s for i, s in enumerate(scripts)}}, max_memory=64 << 20
)
for i in range(len(scripts)):
    health = health_of({{**obj, "kind": f"K{{i}}"}}, customizations=checks)
    print(health.status, health.message)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stdout.splitlines()
    for line, expected in zip(lines, HOSTILE_SCRIPTS.values(), strict=False):
        assert line.startswith("Unknown ") and expected in line, line
    assert lines[len(HOSTILE_SCRIPTS) :] == ["Healthy still here"]
