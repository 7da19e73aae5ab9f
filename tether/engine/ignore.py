"""`ignoreDifferences`: which parts of an object a comparison leaves out, with Argo CD's semantics.

Rules come from an Application's `spec.ignoreDifferences` and from the system-wide keys of the
Tether ConfigMap (`resource.customizations.ignoreDifferences.<group>_<kind>`, `...all`, and the
older `resource.customizations` block). A rule selects objects by group and kind (globs; an empty
group is the core group), and optionally by exact name and namespace, and names places by
JSON pointer, jq path expression, or the field managers that own them in the live object.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import jq
import yaml

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
from tether.errors import TetherError

SYSTEM_KEY_PREFIX: Final = "resource.customizations.ignoreDifferences."
LEGACY_KEY: Final = "resource.customizations"


class IgnoreRuleError(TetherError):
    """An ignoreDifferences entry that cannot be used (no kind, bad pointer, bad jq)."""


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One `ignoreDifferences` entry."""

    kind: str
    group: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

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
        """Build a rule from an Application `spec.ignoreDifferences` item, validating it."""
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
        for pointer in rule.json_pointers:
            parse_pointer(pointer, where=where)
        for expression in rule.jq_path_expressions:
            _jq_paths_program(expression, where)
        return rule


def _strings(entry: Mapping[str, Any], field: str, where: str) -> tuple[str, ...]:
    value = entry.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IgnoreRuleError(f"{where}: '{field}' must be a list of strings")
    return tuple(value)


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
    """
    rules: list[IgnoreRule] = []
    for key, value in sorted(config.items()):
        if key.startswith(SYSTEM_KEY_PREFIX):
            suffix = key[len(SYSTEM_KEY_PREFIX) :]
            if suffix == "all":
                group, kind = "*", "*"
            elif "_" in suffix:
                group, kind = suffix.rsplit("_", 1)
            else:
                raise IgnoreRuleError(
                    f"{key}: expected '<group>_<kind>' or 'all' after '{SYSTEM_KEY_PREFIX}'"
                )
            rules.append(_rule_from_block(value, group, kind, key))
        elif key == LEGACY_KEY:
            rules.extend(_legacy_rules(value))
    return rules


def _rule_from_block(block: Any, group: str, kind: str, where: str) -> IgnoreRule:
    parsed = yaml.safe_load(block) if isinstance(block, str) else block
    if parsed is None:
        parsed = {}
    if not isinstance(parsed, dict):
        raise IgnoreRuleError(f"{where}: expected a YAML mapping")
    return IgnoreRule.from_spec({**parsed, "group": group, "kind": kind}, where=where)


def _legacy_rules(value: str) -> list[IgnoreRule]:
    parsed = yaml.safe_load(value) or {}
    if not isinstance(parsed, dict):
        raise IgnoreRuleError(f"{LEGACY_KEY}: expected a YAML mapping of '<group>/<kind>' entries")
    rules = []
    for group_kind, custom in parsed.items():
        if not isinstance(custom, dict) or "ignoreDifferences" not in custom:
            continue
        group, _, kind = str(group_kind).rpartition("/")
        rules.append(
            _rule_from_block(custom["ignoreDifferences"], group, kind, f"{LEGACY_KEY}.{group_kind}")
        )
    return rules


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


@lru_cache(maxsize=512)
def _jq_paths_program(expression: str, where: str = "jqPathExpressions") -> Any:
    try:
        return jq.compile(f"[path({expression})]")
    except ValueError as error:
        raise IgnoreRuleError(
            f"{where}: invalid jq path expression {expression!r}: {error}"
        ) from error


def _jq_paths(obj: Any, expression: str) -> list[Path]:
    try:
        found = _jq_paths_program(expression).input_value(obj).first()
    except ValueError:
        # Argo CD skips an expression that fails on an object (e.g. iterating a missing list).
        return []
    return [tuple(p) for p in found or [] if p]


@dataclass(frozen=True, slots=True)
class IgnoredPlaces:
    """What the matching rules ignore for one object, ready to be made concrete on either side."""

    pointers: tuple[tuple[str, ...], ...]
    expressions: tuple[str, ...]
    managed: tuple[FieldPath, ...]

    def __bool__(self) -> bool:
        return bool(self.pointers or self.expressions or self.managed)

    def paths_in(self, obj: Any) -> list[Path]:
        """The concrete places of `obj` these rules ignore."""
        paths: list[Path] = []
        for tokens in self.pointers:
            path = _pointer_path(obj, tokens)
            if path:
                paths.append(path)
        for expression in self.expressions:
            paths.extend(_jq_paths(obj, expression))
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
        result = target
        for tokens in self.pointers:
            result = _overlay(
                result, source, _pointer_path(source, tokens), _pointer_path(result, tokens)
            )
        for expression in self.expressions:
            in_source = _jq_paths(source, expression)
            in_target = set(_jq_paths(result, expression)) - set(in_source)
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
    for rule in rules:
        pointers.extend(parse_pointer(p) for p in rule.json_pointers)
        expressions.extend(rule.jq_path_expressions)
        managers.update(rule.managed_fields_managers)
    managed: list[FieldPath] = []
    if managers and live is not None:
        for entry in manager_entries(live, managers):
            managed.extend(managed_field_paths(entry.get("fieldsV1") or {}))
    return IgnoredPlaces(
        tuple(pointers), tuple(dict.fromkeys(expressions)), tuple(dict.fromkeys(managed))
    )
