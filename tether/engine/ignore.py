"""`ignoreDifferences`: which parts of an object a comparison leaves out, with Argo CD's semantics.

Rules come from an Application's `spec.ignoreDifferences` and from the system-wide keys of the
Tether ConfigMap (`resource.customizations.ignoreDifferences.<group>_<kind>`, `...all`, and the
older `resource.customizations` block). A rule selects objects by group and kind (globs; an empty
group is the core group), and optionally by exact name and namespace, and names places by
JSON pointer, jq path expression, or the field managers that own them in the live object.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tether import safeyaml
from tether.durations import InvalidDurationError, parse_duration
from tether.engine.errors import IgnoreRuleError, JqEvaluationError, JqLimitError
from tether.engine.jqrunner import (
    MEMORY_KEY,
    TIMEOUT_KEY,
    JqLimits,
    MiB,
    default_runner,
)
from tether.engine.normalize import (
    FieldPath,
    Path,
    delete_paths,
    get_path,
    managed_field_paths,
    manager_entries,
    resolve_field_path,
    set_path,
)

__all__ = [
    "IgnoreRule",
    "IgnoreRuleError",
    "IgnoredPlaces",
    "JqEvaluationError",
    "JqLimitError",
    "evaluate_ahead",
    "ignored_places",
    "jq_limits",
    "matching_rules",
    "parse_ignore_differences",
    "parse_pointer",
    "parse_system_rules",
]

SYSTEM_KEY_PREFIX: Final = "resource.customizations.ignoreDifferences."
LEGACY_KEY: Final = "resource.customizations"
# Bounds of the settings themselves: an operator may loosen the limits, not remove them.
MAX_JQ_TIMEOUT: Final = 60.0
MIN_JQ_MEMORY: Final = 64 * MiB
MAX_JQ_MEMORY: Final = 16 * 1024 * MiB
_BINARY_SUFFIXES: Final = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One `ignoreDifferences` entry.

    A rule from the Tether ConfigMap that could not be read keeps its group and kind and says
    why in `error`: the objects it would apply to are then reported as not comparable, with that
    message, and the rest compares as usual (rather than one bad key failing every comparison).
    """

    kind: str
    group: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()
    error: str = ""

    def matches(self, group: str, kind: str, namespace: str, name: str) -> bool:
        """Whether the rule applies to an object with this identity."""
        return (
            fnmatch.fnmatchcase(group, self.group)
            and fnmatch.fnmatchcase(kind, self.kind)
            and (not self.name or self.name == name)
            and (not self.namespace or self.namespace == namespace)
        )

    @classmethod
    def from_spec(cls, entry: Mapping[str, Any], *, where: str = "ignoreDifferences") -> IgnoreRule:
        """Build a rule from an Application `spec.ignoreDifferences` item, validating it.

        Every jq expression is compiled (in a jq worker, see `jqrunner`); an invalid entry
        raises `IgnoreRuleError` naming the field, e.g. `<where>.jqPathExpressions[1]`.
        """
        if not isinstance(entry, Mapping):
            raise IgnoreRuleError(
                f"{where}: an entry must be a mapping, got {type(entry).__name__}"
            )
        kind = entry.get("kind")
        if not isinstance(kind, str) or not kind:
            raise IgnoreRuleError(f"{where}: 'kind' is required (use '*' for every kind)")
        rule = cls(
            kind=kind,
            group=str(entry.get("group") or ""),
            name=str(entry.get("name") or ""),
            namespace=str(entry.get("namespace") or ""),
            json_pointers=_strings(entry, "jsonPointers", where),
            jq_path_expressions=_strings(entry, "jqPathExpressions", where),
            managed_fields_managers=_strings(entry, "managedFieldsManagers", where),
        )
        for i, pointer in enumerate(rule.json_pointers):
            parse_pointer(pointer, where=f"{where}.jsonPointers[{i}]")
        for i, expression in enumerate(rule.jq_path_expressions):
            _check_expression(expression, f"{where}.jqPathExpressions[{i}]")
        return rule


def _strings(entry: Mapping[str, Any], field: str, where: str) -> tuple[str, ...]:
    value = entry.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IgnoreRuleError(f"{where}: '{field}' must be a list of strings")
    return tuple(value)


def _check_expression(expression: str, where: str) -> None:
    try:
        problem = default_runner().compile_error(expression)
    except JqEvaluationError as error:  # compiling broke a limit, or no worker could start
        raise IgnoreRuleError(f"{where}: {error.message}") from None
    if problem is not None:
        shown = expression if len(expression) <= 80 else expression[:77] + "..."
        raise IgnoreRuleError(f"{where}: invalid jq expression {json.dumps(shown)}: {problem}")


def parse_ignore_differences(entries: Iterable[Mapping[str, Any]] | None) -> list[IgnoreRule]:
    """Rules from an Application's `spec.ignoreDifferences` list."""
    return [
        IgnoreRule.from_spec(entry, where=f"spec.ignoreDifferences[{i}]")
        for i, entry in enumerate(entries or [])
    ]


def parse_system_rules(config: Mapping[str, str]) -> list[IgnoreRule]:
    """System-wide rules from the data of the Tether (or Argo CD) ConfigMap.

    `resource.customizations.ignoreDifferences.all` applies to every object;
    `resource.customizations.ignoreDifferences.<group>_<kind>` to one kind (`_Service` for the
    core group); the older `resource.customizations` key holds `<group>/<kind>: {ignoreDifferences: |...}`.
    A key that cannot be read gives a rule carrying the error (see `IgnoreRule`), never an
    exception. The same data sets the limits of jq expressions (`jq_limits`) for the process.
    """
    limits, problem = jq_limits(config)
    default_runner().configure(limits, problem)
    rules: list[IgnoreRule] = []
    for key, value in sorted(config.items()):
        if key.startswith(SYSTEM_KEY_PREFIX):
            rules.append(_system_rule(key, value))
        elif key == LEGACY_KEY:
            rules.extend(_legacy_rules(value))
    return rules


def _system_rule(key: str, value: Any) -> IgnoreRule:
    suffix = key[len(SYSTEM_KEY_PREFIX) :]
    if suffix == "all":
        group, kind = "*", "*"
    elif "_" in suffix:
        group, kind = suffix.rsplit("_", 1)
    else:
        return IgnoreRule(
            kind="*",
            group="*",
            error=f"argocd-cm {key}: expected '<group>_<kind>' or 'all' after '{SYSTEM_KEY_PREFIX}'",
        )
    return _rule_from_block(value, group, kind, key)


def _rule_from_block(block: Any, group: str, kind: str, where: str) -> IgnoreRule:
    try:
        parsed = (
            safeyaml.load(block, loader=safeyaml.KubernetesLoader)
            if isinstance(block, str)
            else block
        )
        if parsed is None:
            parsed = {}
        if not isinstance(parsed, dict):
            raise IgnoreRuleError(f"{where}: expected a YAML mapping")
        return IgnoreRule.from_spec({**parsed, "group": group, "kind": kind}, where=where)
    except safeyaml.YamlError as error:
        return IgnoreRule(kind=kind or "*", group=group, error=f"argocd-cm {where}: {error}")
    except IgnoreRuleError as error:
        return IgnoreRule(kind=kind or "*", group=group, error=f"argocd-cm {error.message}")


def _legacy_rules(value: str) -> list[IgnoreRule]:
    try:
        parsed = safeyaml.load(value, loader=safeyaml.KubernetesLoader) or {}
    except safeyaml.YamlError as error:
        parsed = f"not YAML: {error}"
    if not isinstance(parsed, dict):
        message = f"argocd-cm {LEGACY_KEY}: expected a YAML mapping of '<group>/<kind>' entries"
        return [IgnoreRule(kind="*", group="*", error=message)]
    rules = []
    for group_kind, custom in parsed.items():
        if not isinstance(custom, dict) or "ignoreDifferences" not in custom:
            continue
        group, _, kind = str(group_kind).rpartition("/")
        rules.append(
            _rule_from_block(custom["ignoreDifferences"], group, kind, f"{LEGACY_KEY}.{group_kind}")
        )
    return rules


def jq_limits(config: Mapping[str, Any]) -> tuple[JqLimits, str | None]:
    """The limits of jq expressions set in the ConfigMap data, and what is wrong with them.

    `ignore.normalizer.jq.timeout` (Argo CD's key; a Go duration, default 1s) bounds one
    evaluation's wall-clock time, `tether.ignore.normalizer.jq.memoryLimit` (bytes, or a
    quantity such as `256Mi`) its worker's address space. A bad value keeps the default and is
    reported as the problem.
    """
    limits = JqLimits()
    timeout_text = config.get(TIMEOUT_KEY)
    memory_text = config.get(MEMORY_KEY)
    try:
        timeout = parse_duration(str(timeout_text)) if timeout_text else limits.timeout
    except InvalidDurationError:
        timeout = 0.0
    if not 0 < timeout <= MAX_JQ_TIMEOUT:
        return limits, (
            f"argocd-cm {TIMEOUT_KEY}: {timeout_text!r} is not a duration between 1ms and "
            f"{MAX_JQ_TIMEOUT:g}s, such as 1s"
        )
    memory = _bytes(str(memory_text)) if memory_text else limits.memory
    if memory is None or not MIN_JQ_MEMORY <= memory <= MAX_JQ_MEMORY:
        return limits, (
            f"argocd-cm {MEMORY_KEY}: {memory_text!r} is not an amount of memory between "
            f"{MIN_JQ_MEMORY // MiB}Mi and {MAX_JQ_MEMORY // MiB}Mi, such as 256Mi"
        )
    return JqLimits(timeout=timeout, memory=memory, max_output=limits.max_output), None


def _bytes(text: str) -> int | None:
    """Bytes in `268435456` or a binary quantity (`256Mi`, `1Gi`); None if neither."""
    text = text.strip()
    number = text.rstrip("KMGi")
    suffix = text[len(number) :]
    if not number.isdigit() or suffix not in _BINARY_SUFFIXES:
        return None
    return int(number) * _BINARY_SUFFIXES[suffix]


def matching_rules(
    rules: Iterable[IgnoreRule], group: str, kind: str, namespace: str, name: str
) -> list[IgnoreRule]:
    """The rules that apply to one object."""
    return [rule for rule in rules if rule.matches(group, kind, namespace, name)]


# --- paths ---------------------------------------------------------------------------------------


def parse_pointer(pointer: str, *, where: str = "jsonPointers") -> tuple[str, ...]:
    """The unescaped tokens of an RFC 6901 JSON pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise IgnoreRuleError(f"{where}: JSON pointer {pointer!r} must start with '/'")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def _pointer_path(obj: Any, tokens: tuple[str, ...]) -> Path | None:
    """Tokens made concrete against `obj` (list indexes become ints), or None if absent."""
    path: list[str | int] = []
    node = obj
    for token in tokens:
        if isinstance(node, dict) and token in node:
            path.append(token)
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            path.append(int(token))
            node = node[int(token)]
        else:
            return None
    return tuple(path)


def _jq_paths(obj: Any, expressions: Iterable[str]) -> list[Path]:
    """The places the expressions name in `obj`, in one request to a jq worker.

    An expression that fails on the object (iterating a missing list...) names nothing, as in
    Argo CD; one that broke its time or memory limit raises `JqLimitError`.
    """
    paths: list[Path] = []
    for outcome in default_runner().paths([(e, obj) for e in expressions]):
        if isinstance(outcome, JqEvaluationError):
            raise outcome
        paths.extend(outcome)
    return paths


async def evaluate_ahead(requests: Iterable[tuple[IgnoredPlaces, Any]]) -> None:
    """Evaluate the jq expressions of each (places, object) pair in one request, off the event
    loop, so that the `strip` and `take_from` calls that follow find the answers cached.

    Failures are not raised here: the calls that need the answer report them.
    """
    batch = [(e, obj) for places, obj in requests if not places.errors for e in places.expressions]
    if batch:
        try:
            await default_runner().apaths(batch)
        except JqEvaluationError:
            pass  # e.g. no worker could start: the synchronous calls say so per resource


@dataclass(frozen=True, slots=True)
class IgnoredPlaces:
    """What the matching rules ignore for one object, ready to be made concrete on either side.

    `errors` are the messages of matching rules that could not be read; while there are any,
    `strip` and `take_from` raise `IgnoreRuleError` with the first.
    """

    pointers: tuple[tuple[str, ...], ...]
    expressions: tuple[str, ...]
    managed: tuple[FieldPath, ...]
    errors: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pointers or self.expressions or self.managed or self.errors)

    def paths_in(self, obj: Any) -> list[Path]:
        """The concrete places of `obj` these rules ignore."""
        self._check()
        paths: list[Path] = []
        for tokens in self.pointers:
            path = _pointer_path(obj, tokens)
            if path:
                paths.append(path)
        paths.extend(_jq_paths(obj, self.expressions))
        for field_path in self.managed:
            concrete = resolve_field_path(obj, field_path)
            if concrete:
                paths.append(concrete)
        return paths

    def strip(self, obj: Any) -> Any:
        """`obj` without the ignored places."""
        return delete_paths(obj, self.paths_in(obj))

    def take_from(self, target: Any, source: Any) -> Any:
        """`target` with every ignored place holding `source`'s value (absent where source has none)."""
        self._check()
        result = target
        for tokens in self.pointers:
            result = _overlay(
                result, source, _pointer_path(source, tokens), _pointer_path(result, tokens)
            )
        for expression in self.expressions:
            in_source = _jq_paths(source, [expression])
            in_target = set(_jq_paths(result, [expression])) - set(in_source)
            for path in in_source:
                result = _overlay(result, source, path, None)
            result = delete_paths(result, list(in_target))
        for field_path in self.managed:
            result = _overlay(
                result,
                source,
                resolve_field_path(source, field_path),
                resolve_field_path(result, field_path),
            )
        return result

    def _check(self) -> None:
        if self.errors:
            raise IgnoreRuleError(self.errors[0])


def _overlay(target: Any, source: Any, source_path: Path | None, target_path: Path | None) -> Any:
    if source_path:
        found, value = get_path(source, source_path)
        if found:
            return set_path(target, target_path or source_path, value)
    if target_path:
        return delete_paths(target, [target_path])
    return target


def ignored_places(rules: Iterable[IgnoreRule], live: dict[str, Any] | None) -> IgnoredPlaces:
    """Combine the rules that matched one object; manager rules read the live managedFields."""
    pointers: list[tuple[str, ...]] = []
    expressions: list[str] = []
    managers: set[str] = set()
    errors: list[str] = []
    for rule in rules:
        if rule.error:
            errors.append(rule.error)
            continue
        pointers.extend(parse_pointer(p) for p in rule.json_pointers)
        expressions.extend(rule.jq_path_expressions)
        managers.update(rule.managed_fields_managers)
    managed: list[FieldPath] = []
    if managers and live is not None:
        for entry in manager_entries(live, managers):
            managed.extend(managed_field_paths(entry.get("fieldsV1") or {}))
    return IgnoredPlaces(
        tuple(pointers),
        tuple(dict.fromkeys(expressions)),
        tuple(dict.fromkeys(managed)),
        tuple(dict.fromkeys(errors)),
    )
