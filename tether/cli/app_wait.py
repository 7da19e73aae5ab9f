"""Following an Application: ``tether app wait``, and the end of a ``sync`` or ``rollback``.

The Application is polled through the API and each change of its operation, sync and health
status is printed as it happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from tether.cli.api import ApiClient, CliError, OutcomeError, print_data
from tether.cli.app_view import (
    app_source,
    compared_source,
    operation_done,
    print_operation,
    print_sync_result,
)
from tether.controller.status import SYNCED, TERMINAL_PHASES, read_status
from tether.engine.health.status import HEALTHY
from tether.engine.syncstate import PHASE_SUCCEEDED

# how often sync, rollback and wait look at the Application again
POLL_INTERVAL = 0.25


def progress_printer(output: str) -> Callable[[str], None]:
    """Progress lines go to stdout for tables, to stderr when stdout carries JSON or YAML."""

    def emit(line: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')}  {line}", err=output != "table")

    return emit


def _state_line(app: dict[str, Any]) -> str:
    status = read_status(app)
    state = status.operation
    line = f"sync {status.sync}, health {status.health}"
    if app.get("operation") and not (state is not None and state.running):
        line += ", operation requested"
    elif state is not None and state.phase:
        line += f", operation {state.phase}"
        if state.message:
            line += f": {state.message}"
    return line


def _compared_to_spec(app: dict[str, Any]) -> bool:
    """The sync status was computed for the current source (not one from before ``app set``)."""
    compared = compared_source(app)
    if not compared:
        return True
    source = app_source(app)
    return all(
        (compared.get(k) or "") == (source.get(k) or "")
        for k in ("repoURL", "path", "targetRevision", "chart")
    )


@dataclass(frozen=True)
class WaitFor:
    """What ``tether app wait`` waits for; the defaults of argocd when no flag is given."""

    sync: bool = True
    health: bool = True
    operation: bool = True

    def unmet(self, app: dict[str, Any]) -> list[str]:
        """The conditions ``app`` does not meet yet, in words."""
        status = read_status(app)
        missing = []
        if self.operation and not operation_done(app):
            missing.append("its operation to finish")
        if self.sync and (status.sync != SYNCED or not _compared_to_spec(app)):
            missing.append(f"Synced (is {status.sync})")
        if self.health and status.health != HEALTHY:
            missing.append(f"Healthy (is {status.health})")
        return missing


def wait_until(
    api: ApiClient,
    name: str,
    done: Callable[[dict[str, Any]], list[str]],
    timeout: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Poll the Application until ``done`` lists nothing left; prints every change of state.

    ``timeout`` 0 waits without limit. Raises CliError (exit 1) naming what was still missing.
    """
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last_line = ""
    while True:
        app = api.application(name)
        line = _state_line(app)
        if line != last_line:
            progress(line)
            last_line = line
        missing = done(app)
        if not missing:
            return app
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OutcomeError(
                    f"timed out after {timeout:g}s waiting for application '{name}': "
                    f"still waiting for {', '.join(missing)}"
                )
            time.sleep(min(POLL_INTERVAL, remaining))
        else:
            time.sleep(POLL_INTERVAL)


def _operation_finished(app: dict[str, Any]) -> list[str]:
    state = read_status(app).operation
    if operation_done(app) and state is not None and state.phase in TERMINAL_PHASES:
        return []
    return ["the operation to finish"]


def follow_operation(
    api: ApiClient, name: str, started: dict[str, Any], timeout: float, output: str
) -> None:
    """Follow the operation just requested to its end; print its result; exit 1 unless it
    Succeeded."""
    progress = progress_printer(output)
    if not started.get("operation"):
        progress("operation requested")
    try:
        app = wait_until(api, name, _operation_finished, timeout, progress)
    except KeyboardInterrupt:
        # only the watching stops: the server goes on with the operation
        raise CliError(
            f"stopped following; the operation goes on: tether app wait {name} --operation"
        ) from None
    if output == "table":
        print_sync_result(app)
        print_operation(app)
    else:
        print_data(app, output)
    state = read_status(app).operation
    phase, message = (state.phase, state.message) if state is not None else ("", "")
    if phase != PHASE_SUCCEEDED:
        raise OutcomeError(f"operation {phase}: {message or 'no message'}")
