"""Lua health checks configured the way Argo CD users already write them.

Two sources, same key format as Argo CD (``group/Kind``; ``Kind`` alone for the core group):

* a ConfigMap's ``data``: ``resource.customizations.health.<group>_<kind>`` keys (e.g.
  ``resource.customizations.health.argoproj.io_Rollout``, ``resource.customizations.health.Pod``
  for the core group, ``resource.customizations.health.*.example.com_*`` with wildcards), and the
  older single ``resource.customizations`` key holding YAML (``group/Kind: {health.lua: ...}``);
* a folder laid out as Argo CD's ``resource_customizations/<group>/<kind>/health.lua`` (core kinds
  directly under the folder; ``_`` in a folder name stands for ``*``, as in Argo CD's
  ``_.crossplane.io/_``).

Lookup order for a group/kind, first hit wins: exact key, then the most specific matching
wildcard, in the first source given to :meth:`HealthCustomizations.combine`, then the same in the
next. Scripts are compiled once per group/kind, on first use.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import safeyaml
from tether.engine.health.lua import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_TIMEOUT_SECONDS,
    CompiledScript,
    LuaSandbox,
    LuaScriptError,
)
from tether.engine.health.status import UNKNOWN, HealthStatus
from tether.errors import TetherError

HEALTH_KEY_PREFIX = "resource.customizations.health."
LEGACY_KEY = "resource.customizations"
SCRIPT_FILE = "health.lua"
_WILDCARD_CHARS = frozenset("*?[")


class HealthCustomizationError(TetherError):
    """Health customizations that cannot be read (bad key, unreadable file, invalid YAML)."""


@dataclass(frozen=True, slots=True)
class HealthScript:
    """One configured ``health.lua``: which kinds it covers, its text and where it came from."""

    pattern: str
    """Argo CD override key: ``group/Kind``, ``Kind`` for the core group, may hold wildcards."""
    source: str
    origin: str
    """Where it was configured (ConfigMap key or file path); names the script in Lua errors."""

    @property
    def is_wildcard(self) -> bool:
        """Whether the pattern matches more than one group/kind."""
        return any(char in _WILDCARD_CHARS for char in self.pattern)


def override_key(group: str, kind: str) -> str:
    """Argo CD's key for a group/kind: ``group/Kind``, or ``Kind`` for the core group."""
    return f"{group}/{kind}" if group else kind


def _key_from_configmap(group_kind: str, data_key: str) -> str:
    group, sep, kind = group_kind.partition("_")
    if not sep:
        group, kind = "", group
    if not kind or "_" in kind:
        raise HealthCustomizationError(
            f"ConfigMap key {data_key!r}: expected resource.customizations.health.<group>_<kind> "
            "or resource.customizations.health.<kind>"
        )
    return override_key(group, kind)


def _specificity(script: HealthScript) -> tuple[int, str]:
    # The pattern with the most literal characters says the most about what it covers.
    literal = sum(1 for char in script.pattern if char not in _WILDCARD_CHARS)
    return (-literal, script.pattern)


class _Layer:
    """Scripts of one source, indexed for lookup."""

    def __init__(self, scripts: Iterable[HealthScript]) -> None:
        self.exact: dict[str, HealthScript] = {}
        wildcards: dict[str, HealthScript] = {}
        for script in scripts:
            (wildcards if script.is_wildcard else self.exact)[script.pattern] = script
        self.wildcards = [
            (re.compile(fnmatch.translate(script.pattern)), script)
            for script in sorted(wildcards.values(), key=_specificity)
        ]
        self.scripts = [*self.exact.values(), *(script for _, script in self.wildcards)]

    def find(self, key: str) -> HealthScript | None:
        script = self.exact.get(key)
        if script is not None:
            return script
        for regex, candidate in self.wildcards:
            if regex.match(key):
                return candidate
        return None


class _Broken:
    """A script that does not compile: every object it covers is Unknown with the reason."""

    __slots__ = ("health",)

    def __init__(self, message: str) -> None:
        self.health = HealthStatus(UNKNOWN, message)

    def evaluate(self, obj: dict[str, Any]) -> HealthStatus:
        return self.health


class HealthCustomizations:
    """Lua health checks by group/kind; they override Tether's built-in check for that kind."""

    def __init__(
        self,
        scripts: Iterable[HealthScript] = (),
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        self._layers = [_Layer(scripts)]
        self.timeout_seconds = timeout_seconds
        self.max_memory = max_memory
        self._sandbox: LuaSandbox | None = None
        self._compiled: dict[tuple[str, str], CompiledScript | _Broken | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_scripts(cls, scripts: Mapping[str, str], **limits: Any) -> HealthCustomizations:
        """From ``{override key: Lua source}``, e.g. ``{"example.com/Widget": "return ..."}``."""
        return cls((HealthScript(key, source, key) for key, source in scripts.items()), **limits)

    @classmethod
    def from_configmap(cls, configmap: Mapping[str, Any], **limits: Any) -> HealthCustomizations:
        """From a ConfigMap (or its ``data``) in Argo CD's ``argocd-cm`` format."""
        data = configmap.get("data")
        if not isinstance(data, Mapping):
            data = configmap
        scripts: dict[str, HealthScript] = {}
        legacy = data.get(LEGACY_KEY)
        if legacy is not None:
            scripts.update(_legacy_scripts(legacy))
        for data_key, value in data.items():
            if not isinstance(data_key, str) or not data_key.startswith(HEALTH_KEY_PREFIX):
                continue
            key = _key_from_configmap(data_key[len(HEALTH_KEY_PREFIX) :], data_key)
            if not isinstance(value, str):
                raise HealthCustomizationError(f"ConfigMap key {data_key!r}: expected Lua text")
            scripts[key] = HealthScript(key, value, data_key)
        return cls(scripts.values(), **limits)

    @classmethod
    def from_directory(cls, path: str | Path, **limits: Any) -> HealthCustomizations:
        """From a folder laid out as Argo CD's ``resource_customizations/<group>/<kind>/health.lua``.

        ``path`` may also be the folder that contains ``resource_customizations/``.
        """
        root = Path(path)
        if not root.is_dir():
            raise HealthCustomizationError(f"{root}: not a directory")
        if (root / "resource_customizations").is_dir():
            root = root / "resource_customizations"
        scripts = []
        for file in sorted(root.rglob(SCRIPT_FILE)):
            parts = file.relative_to(root).parts[:-1]
            if len(parts) == 1:
                key = parts[0]
            elif len(parts) == 2:
                key = f"{parts[0]}/{parts[1]}"
            else:
                continue  # deeper health.lua files are not part of the layout (e.g. test data)
            try:
                source = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise HealthCustomizationError(f"{file}: cannot read: {exc}") from None
            # Group and kind names never contain "_": Argo CD uses it for "*" in folder names.
            # Lua keeps ~60 characters of a chunk name: the path inside the layout says enough.
            origin = str(file.relative_to(root))
            scripts.append(HealthScript(key.replace("_", "*"), source, origin))
        return cls(scripts, **limits)

    @classmethod
    def combine(cls, *sources: HealthCustomizations, **limits: Any) -> HealthCustomizations:
        """Several sources in precedence order: a script found in an earlier one wins."""
        combined = cls(**limits)
        combined._layers = [layer for source in sources for layer in source._layers]
        return combined

    @property
    def scripts(self) -> list[HealthScript]:
        """Every configured script, in lookup order."""
        return [script for layer in self._layers for script in layer.scripts]

    def __bool__(self) -> bool:
        return any(layer.scripts for layer in self._layers)

    def script_for(self, group: str, kind: str) -> HealthScript | None:
        """The script that covers a group/kind, if any."""
        key = override_key(group, kind)
        for layer in self._layers:
            script = layer.find(key)
            if script is not None:
                return script
        return None

    def evaluate(self, obj: dict[str, Any], group: str, kind: str) -> HealthStatus | None:
        """Run the script that covers ``group``/``kind`` on ``obj``; ``None`` when none does."""
        try:
            compiled = self._compiled[(group, kind)]
        except KeyError:
            compiled = self._compile_for(group, kind)
        if compiled is None:
            return None
        return compiled.evaluate(obj)

    def _compile_for(self, group: str, kind: str) -> CompiledScript | _Broken | None:
        with self._lock:
            if (group, kind) in self._compiled:
                return self._compiled[(group, kind)]
            script = self.script_for(group, kind)
            compiled: CompiledScript | _Broken | None = None
            if script is not None:
                if self._sandbox is None:
                    self._sandbox = LuaSandbox(
                        timeout_seconds=self.timeout_seconds, max_memory=self.max_memory
                    )
                try:
                    compiled = self._sandbox.compile(script.source, script.origin)
                except LuaScriptError as exc:
                    compiled = _Broken(str(exc))
            self._compiled[(group, kind)] = compiled
            return compiled


def _legacy_scripts(value: Any) -> dict[str, HealthScript]:
    """Scripts from the older ``resource.customizations`` key (YAML keyed by ``group/Kind``)."""
    if not isinstance(value, str):
        raise HealthCustomizationError(f"ConfigMap key {LEGACY_KEY!r}: expected YAML text")
    try:
        overrides = safeyaml.load(value, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlError as exc:
        raise HealthCustomizationError(
            f"ConfigMap key {LEGACY_KEY!r}: invalid YAML: {exc}"
        ) from None
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise HealthCustomizationError(
            f"ConfigMap key {LEGACY_KEY!r}: expected a mapping of group/Kind to overrides"
        )
    scripts = {}
    for key, override in overrides.items():
        if isinstance(override, dict) and isinstance(override.get(SCRIPT_FILE), str):
            scripts[str(key)] = HealthScript(
                str(key), override[SCRIPT_FILE], f"{LEGACY_KEY}[{key}]"
            )
    return scripts
