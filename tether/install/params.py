"""``argocd-cmd-params-cm``: the command-line parameters Argo CD users keep in a ConfigMap.

Argo CD's components read the keys of this ConfigMap (in the control namespace) at start as the
defaults of their flags; Tether's controller does the same for the keys it has a setting for, and
logs every other key as ignored. A flag given on the command line wins over the ConfigMap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.install.names import CMD_PARAMS_CONFIGMAP

log = logging.getLogger(__name__)

_LOG_LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
}


#: bounds of what a ConfigMap may ask for: each processor is a task, a delay a sleep
MAX_PROCESSORS = 1000
MAX_SECONDS = 86400.0


def _processors(text: str) -> int:
    value = int(text.strip())
    if not 1 <= value <= MAX_PROCESSORS:
        raise ValueError(f"must be a whole number from 1 to {MAX_PROCESSORS}")
    return value


def _seconds(text: str) -> float:
    value = float(text.strip())
    # "nan" is a float too: only a comparison that holds lets it through
    if not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"must be a number of seconds from 0 to {MAX_SECONDS:g}")
    return value


def _log_level(text: str) -> str:
    level = _LOG_LEVELS.get(text.strip().lower())
    if level is None:
        raise ValueError(f"must be one of {', '.join(sorted(set(_LOG_LEVELS) - {'warning'}))}")
    return level


@dataclass(frozen=True)
class Param:
    """One key Tether reads: the controller option it sets and how its value is read."""

    key: str
    option: str
    parse: Callable[[str], Any]


#: Argo CD's key -> the ``tether controller`` option it is the default of
PARAMS: tuple[Param, ...] = (
    Param("controller.status.processors", "workers", _processors),
    Param("controller.operation.processors", "sync_workers", _processors),
    Param("controller.self.heal.timeout.seconds", "self_heal_delay", _seconds),
    Param("controller.self.heal.backoff.cap.seconds", "self_heal_max_delay", _seconds),
    Param("controller.log.level", "log_level", _log_level),
)
_BY_KEY = {p.key: p for p in PARAMS}


@dataclass
class CmdParams:
    """What the ConfigMap sets (option -> value), and the keys not used, with the reason."""

    values: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)


def read_cmd_params(data: Mapping[str, Any]) -> CmdParams:
    """Read the ConfigMap's ``data``; a key Tether lacks or a bad value is ignored with why."""
    params = CmdParams()
    for key in sorted(data):
        param = _BY_KEY.get(key)
        if param is None:
            params.ignored[key] = "Tether has no such setting"
            continue
        try:
            params.values[param.option] = param.parse(str(data[key]))
        except ValueError as exc:
            params.ignored[key] = f"{str(data[key])[:80]!r} {exc}"
    return params


def log_ignored(params: CmdParams, configmap: str) -> None:
    """One log line per key that was not used, so a typo or an Argo CD-only key is visible."""
    for key, reason in params.ignored.items():
        log.info("%s: %s ignored (%s)", configmap, key, reason)


async def fetch_cmd_params(client: ClusterClient, namespace: str) -> CmdParams:
    """The ConfigMap of ``namespace`` read (nothing when it is missing or cannot be read)."""
    try:
        info = await client.resource_for("v1", "ConfigMap")
        configmap = await client.get(info, CMD_PARAMS_CONFIGMAP, namespace)
    except NotFound:
        return CmdParams()
    except ClusterError as exc:
        # the controller still starts with its flags; the reason is in the log
        log.warning("%s in %s not read: %s", CMD_PARAMS_CONFIGMAP, namespace, exc)
        return CmdParams()
    params = read_cmd_params(configmap.get("data") or {})
    log_ignored(params, CMD_PARAMS_CONFIGMAP)
    return params
