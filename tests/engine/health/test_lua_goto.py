"""Argo CD's Lua dialect: gopher-lua's ``goto``/``::label::`` (a loop's ``continue``) loads and
answers, with Lua 5.2's scoping rules and the right line numbers in errors.

Every script here is written for these tests; none is copied from Argo CD.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.engine.health.helpers import lua_check as check
from tether.engine.health import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, HealthStatus


def widget(status: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "demo", **metadata},
        "status": status or {},
    }


def answer(script: str, obj: dict[str, Any] | None = None) -> str:
    """The message of a script that must succeed (Healthy)."""
    result = check(script, obj or widget())
    assert result is not None and result.status == HEALTHY, result
    return result.message


# Shaped like the gateway checks Argo CD bundles: walk the conditions, skip the ones of another
# type or of an older generation with `goto continue`, decide on the first that matters.
ROUTER_CLASS_HEALTH = """
local hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type ~= "Admitted" then
      goto continue
    end
    if c.observedGeneration ~= nil and c.observedGeneration ~= obj.metadata.generation then
      goto continue
    end
    if c.status == "True" then
      return {status = "Healthy", message = c.message or "admitted"}
    end
    if c.status == "False" then
      return {status = "Degraded", message = c.message or "refused"}
    end
    ::continue::
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the router to admit the class"
return hs
"""


def _condition(kind: str, status: str, generation: int, message: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "observedGeneration": generation, "message": message}


def test_gateway_shaped_check_skips_other_types_and_stale_generations() -> None:
    noise = _condition("Scheduled", "False", 3, "not a deciding condition")
    stale = _condition("Admitted", "False", 2, "refused for the old spec")
    current = _condition("Admitted", "True", 3, "serving class v3")
    refused = _condition("Admitted", "False", 3, "no controller for this class")

    fresh = widget({"conditions": [noise, stale, current]}, generation=3)
    assert check(ROUTER_CLASS_HEALTH, fresh) == HealthStatus(HEALTHY, "serving class v3")
    failing = widget({"conditions": [noise, refused]}, generation=3)
    assert check(ROUTER_CLASS_HEALTH, failing) == HealthStatus(
        DEGRADED, "no controller for this class"
    )
    only_stale = widget({"conditions": [noise, stale]}, generation=3)
    assert check(ROUTER_CLASS_HEALTH, only_stale) == HealthStatus(
        PROGRESSING, "Waiting for the router to admit the class"
    )


def test_continue_in_numeric_for_while_and_repeat_loops() -> None:
    script = """
    local odd_for, odd_while, odd_repeat = {}, {}, {}
    for i = 1, 7 do
      if i % 2 == 0 then goto continue end
      odd_for[#odd_for + 1] = i
      ::continue::
    end
    local i = 0
    while i < 7 do
      i = i + 1
      if i % 2 == 0 then goto continue end
      odd_while[#odd_while + 1] = i
      ::continue::
    end
    local j = 0
    repeat
      j = j + 1
      local last = j >= 7  -- declared before the jump: `until` may read it
      if j % 2 == 0 then goto continue end
      odd_repeat[#odd_repeat + 1] = j
      ::continue::
    until last
    return {status = "Healthy", message = table.concat(odd_for, ",") .. "|"
      .. table.concat(odd_while, ",") .. "|" .. table.concat(odd_repeat, ",")}
    """
    assert answer(script) == "1,3,5,7|1,3,5,7|1,3,5,7"


def test_nested_loops_each_with_their_own_continue_label_and_break() -> None:
    # Inner and outer loop both declare ::continue::; each goto reaches the nearest one. A
    # `break` leaves only the inner loop; `goto next_row` continues the outer loop from inside.
    script = """
    local seen = {}
    for r, row in ipairs(obj.status.grid) do
      if row[1] == "skip" then goto continue end
      for _, cell in ipairs(row) do
        if cell == "-" then goto continue end
        if cell == "stop" then break end
        if cell == "next" then goto next_row end
        seen[#seen + 1] = r .. cell
        ::continue::
      end
      seen[#seen + 1] = "/"
      ::next_row::
      ::continue::
    end
    return {status = "Healthy", message = table.concat(seen, " ")}
    """
    grid = [["a", "-", "b"], ["skip", "x"], ["c", "stop", "d"], ["e", "next", "f"], ["g"]]
    assert answer(script, widget({"grid": grid})) == "1a 1b / 3c / 4e 5g /"


def test_continue_inside_a_function_defined_in_a_loop() -> None:
    script = """
    local counters = {}
    for _, word in ipairs({"alpha", "beta"}) do
      counters[word] = function(letters)
        local n = 0
        for _, ch in ipairs(letters) do
          if ch ~= string.sub(word, 1, 1) then goto continue end
          n = n + 1
          ::continue::
        end
        return n
      end
      ::continue::
    end
    local letters = {"a", "b", "a", "c", "b"}
    return {status = "Healthy", message = counters.alpha(letters) .. "/" .. counters.beta(letters)}
    """
    assert answer(script) == "2/2"


def test_the_word_continue_in_strings_comments_and_names_is_just_text() -> None:
    script = """
    -- goto continue   (a comment, not a jump)
    --[[ ::continue:: is a label; goto continue is a jump ]]
    --[==[ goto continue ]] still a comment ]==]
    local continued = "goto continue"
    local long = [[::continue::]]
    local level = [==[ goto continue ]] ]==]
    local discontinue, continue_count = "dis", 0
    for _, v in ipairs({1, 2, 3}) do
      if v == 2 then goto continue end
      continue_count = continue_count + 1
      ::continue::
    end
    return {status = "Healthy",
            message = continued .. "|" .. long .. "|" .. level .. "|" .. discontinue .. continue_count}
    """
    assert answer(script) == "goto continue|::continue::| goto continue ]] |dis2"


def test_runtime_errors_name_the_line_after_jumps() -> None:
    script = textwrap.dedent(
        """\
        for _, c in ipairs(obj.status.conditions) do
          if c.type ~= "Ready" then
            goto continue
          end
          local broken = c.detail.reason
          ::continue::
        end
        return {status = "Healthy"}
        """
    )
    status = {"conditions": [{"type": "Other"}, {"type": "Ready"}]}
    assert check(script, widget(status)) == HealthStatus(
        UNKNOWN, "example.com/Widget:5: attempt to index field 'detail' (a nil value)"
    )


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "for i = 1, 2 do\n  if i then\n    goto nowhere\n  end\nend\nreturn {status = 'Healthy'}",
            "example.com/Widget:3: undefined label 'nowhere'",
        ),
        (
            # The label does not end the loop body, so the jump would skip `local x`'s
            # initialisation while `x` is still in scope: refused, as gopher-lua refuses it.
            "for i = 1, 2 do\n  if i == 1 then goto skip end\n  local x = i\n  ::skip::\n"
            "  print(x)\nend\nreturn {status = 'Healthy'}",
            "example.com/Widget:2: <goto skip> jumps into the scope of local 'x'",
        ),
        (
            "::again::\n::again::\nreturn {status = 'Healthy'}",
            "example.com/Widget:2: duplicate label 'again'",
        ),
        (
            # A label is not visible inside a function defined in its block.
            "::top::\nlocal retry = function()\n  goto top\nend\nreturn {status = 'Healthy'}",
            "example.com/Widget:3: undefined label 'top'",
        ),
    ],
)
def test_misused_goto_is_unknown_with_the_line(script: str, message: str) -> None:
    assert check(script, widget()) == HealthStatus(UNKNOWN, message)


def test_backward_goto_retries_as_gopher_lua_runs_it() -> None:
    script = """
    local tries = 0
    ::again::
    tries = tries + 1
    if tries < 3 then goto again end
    return {status = "Healthy", message = tostring(tries)}
    """
    assert answer(script) == "3"


def test_a_loop_hot_enough_for_a_jit_is_still_stopped_by_the_time_limit() -> None:
    # With LuaJIT's compiler on, a hot loop runs as machine code that never calls the count
    # hook and would never stop: run it in a child process so that this test fails, not hangs.
    code = """
from tether.engine.health import HealthCustomizations, health_of
script = "local n = 0 while true do n = n + 1 end"
checks = HealthCustomizations.from_scripts({"example.com/Widget": script}, timeout_seconds=0.05)
obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
print(health_of(obj, customizations=checks).message)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "health check timed out"
