"""jq path expressions run under a time and a memory bound, and a breach is a clear message.

Every hostile case runs in a child Python process with an address-space limit and a timeout,
so that a regression (jq running inside the comparing process again) fails the test instead of
eating the machine: the child dies on its limit or the timeout and the test reports it.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import textwrap
from typing import Any

CHILD_MEMORY = 2 << 30  # the comparing process; its jq workers set a lower limit of their own
CHILD_TIMEOUT = 120

PRELUDE = """
import asyncio, json, re
from tether.engine.diff import SyncStatus, compare, diff_resource, respect_ignore_differences
from tether.engine.ignore import IgnoreRuleError, parse_ignore_differences, parse_system_rules
from tether.resources import ResourceKey


def configmap(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "team"}, "data": data}


def live_of(obj):
    live = json.loads(json.dumps(obj))
    live["metadata"].update(uid="u-" + obj["metadata"]["name"], resourceVersion="7")
    return live


def rules_for(expression, name=""):
    entry = {"kind": "ConfigMap", "jqPathExpressions": [expression]}
    if name:
        entry["name"] = name
    return parse_ignore_differences([entry])


def rss():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\\s+(\\d+)", status.read()).group(1)) * 1024


def outcome(result):
    return {"status": str(result.status), "error": result.error}
"""


def run_bounded(body: str) -> Any:
    """Run PRELUDE + `body` in a child process bounded in memory and time; its printed JSON."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))

    code = PRELUDE + textwrap.dedent(body)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"the comparison did not end within {CHILD_TIMEOUT}s") from expired
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


HOSTILE = [
    "repeat(.)",
    "def f: f; f",
    "[range(1e9)]",
    "until(false; .)",
    'reduce range(40) as $i ("a"; . + .)',
    ".data.a | . as $x | [limit(1e9; repeat($x))]",
]


def test_looping_and_growing_expressions_end_with_a_clear_error_in_bounded_memory() -> None:
    found = run_bounded(
        f"""
        parse_system_rules({{"ignore.normalizer.jq.timeout": "500ms"}})
        desired = configmap("app", a="1", b="2")
        live = live_of(desired)
        before = rss()
        results = {{}}
        for expression in {HOSTILE!r}:
            results[expression] = outcome(diff_resource(desired, live, rules_for(expression)))
        # after the breaches a worker still answers ordinary expressions
        live["data"]["b"] = "drifted"
        after_breaches = outcome(diff_resource(desired, live, rules_for(".data.b")))
        print(json.dumps({{"results": results, "after": after_breaches,
                           "growth": rss() - before}}))
        """
    )
    for expression in HOSTILE:
        result = found["results"][expression]
        assert result["status"] == "Unknown", (expression, result)
        assert result["error"].startswith(
            f"ignoreDifferences: jq expression {json.dumps(expression)} "
        ), result
        assert re.search(
            r"ran longer than 0\.5s \(ignore\.normalizer\.jq\.timeout in argocd-cm\)"
            r"|needed more than 256 MiB of memory",
            result["error"],
        ), result
    assert found["after"] == {"status": "Synced", "error": None}
    # The comparing process did not hold what the expressions built.
    assert found["growth"] < 64 << 20, found["growth"]


def test_compare_marks_only_the_matched_resource_and_leaves_the_event_loop_free() -> None:
    found = run_bounded(
        """
        async def main():
            hostile, plain = configmap("hostile", a="1"), configmap("plain", a="1")
            live = {ResourceKey.of(o): live_of(o) for o in (hostile, plain)}
            ticks = 0
            async def tick():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)
            ticker = asyncio.create_task(tick())
            await asyncio.sleep(0)
            result = await compare([hostile, plain], live, rules=rules_for("repeat(.)", "hostile"))
            ticker.cancel()
            return {"resources": [outcome(r) for r in result.resources],
                    "app": str(result.status), "ticks": ticks}
        print(json.dumps(asyncio.run(main())))
        """
    )
    hostile, plain = found["resources"]
    assert hostile["status"] == "Unknown" and "repeat(.)" in hostile["error"]
    assert "ran longer than 1s" in hostile["error"]  # Argo CD's default timeout
    assert plain == {"status": "Synced", "error": None}
    assert found["app"] == "Unknown"
    # The expression ran for a whole timeout: the loop kept running other tasks meanwhile.
    assert found["ticks"] > 1


def test_an_expression_that_broke_a_limit_is_not_run_again_on_other_objects() -> None:
    found = run_bounded(
        """
        parse_system_rules({"ignore.normalizer.jq.timeout": "300ms"})
        expression = 'if .data.loop == "yes" then repeat(.) else .data.b end'
        rules = rules_for(expression)
        looping = configmap("one", loop="yes", b="1")
        benign = configmap("two", loop="no", b="1")
        first = outcome(diff_resource(looping, live_of(looping), rules))
        second = outcome(diff_resource(benign, live_of(benign), rules))
        # a larger limit lifts the quarantine
        parse_system_rules({"ignore.normalizer.jq.timeout": "2s"})
        drifted = live_of(benign)
        drifted["data"]["b"] = "changed"
        third = outcome(diff_resource(benign, drifted, rules))
        print(json.dumps([first, second, third]))
        """
    )
    first, second, third = found
    assert first["status"] == second["status"] == "Unknown"
    assert "ran longer than 0.3s" in first["error"] and "not run again" in first["error"]
    assert second["error"] == first["error"]  # refused at once, on an object it would pass
    assert third == {"status": "Synced", "error": None}


def test_limits_and_their_errors_come_from_the_argocd_cm_keys() -> None:
    found = run_bounded(
        """
        desired = configmap("app", a="1")
        live = live_of(desired)
        hog = rules_for('reduce range(40) as $i ("a"; . + .)')
        parse_system_rules({"tether.ignore.normalizer.jq.memoryLimit": "64Mi"})
        memory = outcome(diff_resource(desired, live, hog))
        bad = {"ignore.normalizer.jq.timeout": "soon"}
        rules = parse_system_rules(bad) + rules_for(".data.a")
        with_jq = outcome(diff_resource(desired, live, rules))
        without_jq = outcome(diff_resource(desired, live, parse_system_rules(bad)))
        print(json.dumps([memory, with_jq, without_jq]))
        """
    )
    memory, with_jq, without_jq = found
    assert "needed more than 64 MiB of memory" in memory["error"]
    assert with_jq["status"] == "Unknown"
    assert with_jq["error"] == (
        "ignoreDifferences: argocd-cm ignore.normalizer.jq.timeout: 'soon' is not a duration "
        "between 1ms and 60s, such as 1s"
    )
    assert without_jq == {"status": "Synced", "error": None}


def test_sync_with_respect_ignore_differences_refuses_an_expression_past_its_limit() -> None:
    found = run_bounded(
        """
        parse_system_rules({"ignore.normalizer.jq.timeout": "300ms"})
        desired = configmap("app", a="1")
        try:
            respect_ignore_differences(desired, live_of(desired), rules_for("until(false; .)"))
            print(json.dumps(None))
        except IgnoreRuleError as error:
            print(json.dumps(error.message))
        """
    )
    assert found is not None and "ran longer than 0.3s" in found
