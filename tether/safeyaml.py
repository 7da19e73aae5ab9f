"""The one YAML loader of Tether: bounded in size, depth, node count and aliases.

PyYAML's loaders trust their input: a twenty-line "billion laughs" file (aliases of aliases)
turns into a structure that every later walk expands a billion times, and a document nested
50,000 deep overflows the C composer's stack (a segfault) or the Python constructor's
(``RecursionError``). Here the C parser (libyaml, iterative) produces events and one loop turns
them into Python values directly, counting as it goes: every limit of :class:`YamlLimits` is
checked when the event that would pass it arrives, before anything is built for it, and no step
recurses. Measured on 8 MiB of ``helm template`` output this is faster than ``yaml.load_all``
with the C loader (which composes nodes in C, then constructs them in Python).

What it builds is what PyYAML's safe loader builds (same scalar resolution and constructors,
merge keys, anchors shared as one object), with these differences, each deliberate:

* an alias inside the collection it names (a recursive structure) is refused;
* collections must be plain mappings and sequences (``!!set``, ``!!omap``, ``!!pairs`` and other
  collection tags are refused);
* ``=`` is a plain string wherever it appears.

:class:`KubernetesLoader` reads YAML as Kubernetes does (``sigs.k8s.io/yaml``): timestamps stay
strings, mapping keys that are numbers or booleans become strings and other keys are refused,
``!!binary`` becomes text, integers beyond 64 bits become floats. Its values are always JSON.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

from tether.errors import TetherError

MiB = 1024 * 1024

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# scalar constructors that are plain functions of the text: called directly, without the
# constructor's per-node bookkeeping
_SIMPLE = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
     "tag:yaml.org,2002:null"}
)  # fmt: skip
_INT64_MIN = -(2**63)
_UINT64_END = 2**64


@dataclass(frozen=True)
class YamlLimits:
    """Bounds of one load (a whole stream: every document of it counts).

    ``max_nodes`` counts scalars and collections as a reader of the result sees them, aliases
    expanded; ``max_alias_nodes`` is the part of that count which aliases add, and
    ``max_depth`` counts nested collections, through aliases too.
    """

    max_bytes: int = 32 * MiB
    max_depth: int = 128
    max_nodes: int = 4_000_000
    max_aliases: int = 10_000
    max_alias_nodes: int = 400_000


DEFAULT_YAML_LIMITS = YamlLimits()


class YamlError(TetherError, yaml.YAMLError):
    """The text is not valid YAML, or builds something Tether does not accept.

    ``problem`` says what; ``line`` is 1-based in the text given, when known.
    """

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {problem}" if line is not None else problem)
        self.problem = problem
        self.line = line


class YamlLimitError(YamlError):
    """The text goes past a bound of :class:`YamlLimits`."""


class SafeLoader(yaml.CSafeLoader):
    """PyYAML's safe types (YAML 1.1 resolution: dates, sexagesimal numbers, yes/no)."""

    json_values = False


class KubernetesLoader(yaml.CSafeLoader):
    """YAML as Kubernetes reads it: the values are JSON (see the module's docstring)."""

    json_values = True


KubernetesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}

LoaderClass = type[yaml.CSafeLoader]


_MERGE_KEY = object()  # the value of a "<<" scalar: meaningful only as a mapping key
_IN_SEQUENCE = object()  # the "pending key" of a sequence frame
_NO_KEY = object()  # a mapping frame waiting for its next key
_MERGING = object()  # a mapping frame whose next value is merged into it
_OPEN = object()  # an anchor whose collection has not ended yet


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _too_deep(limits: YamlLimits, line: int | None, kind: str = "YAML ") -> YamlLimitError:
    return YamlLimitError(f"nested deeper than {limits.max_depth} levels ({kind}depth limit)", line)


def _too_many(limits: YamlLimits, line: int | None, kind: str = "YAML ") -> YamlLimitError:
    return YamlLimitError(f"more than {limits.max_nodes} values ({kind}node limit)", line)


def _misplaced_merge(event: Any) -> YamlError:
    return YamlError("'<<' (merge key) is only allowed as a mapping key", _line(event))


def _from_pyyaml(exc: yaml.YAMLError) -> YamlError:
    if isinstance(exc, YamlError):
        return exc
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return YamlError(problem, mark.line + 1 if mark is not None else None)


def _float32_text(value: float) -> str:
    """Go's ``FormatFloat(v, 'g', -1, 32)``, which Kubernetes uses for a number as a key."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    text = f"{single:.8e}"
    for digits in range(1, 10):
        # the fewest digits that still read back as the same 32-bit float
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    exponent = int(text.split("e")[1])
    if exponent < -4 or exponent >= 6:
        return text
    return f"{single:.{max(digits - 1 - exponent, 0)}f}"


def _json_key(key: Any, line: int) -> str:
    if type(key) is bool:
        return "true" if key else "false"
    if type(key) is int:
        return str(key)
    if type(key) is float:
        return _float32_text(key)
    raise YamlError(f"mapping key {describe_value(key)} is not a string, number or boolean", line)


def describe_value(value: Any) -> str:
    """A short description of ``value`` for error messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({str(value)[:40]!r})"


def _json_scalar(value: Any, text: str) -> Any:
    """A constructed scalar as Kubernetes' JSON has it (``text`` is what the file says)."""
    kind = type(value)
    if kind is int and not _INT64_MIN <= value < _UINT64_END:
        try:
            return float(value)
        except OverflowError:
            return text
    if kind is bytes:
        return value.decode(errors="replace")
    if kind in (str, int, float, bool) or value is None:
        return value
    # dates from an explicit !!timestamp tag: Kubernetes keeps the text
    return text


class _Builder:
    """Turns the events of one stream into values, one document at a time, within limits."""

    def __init__(self, loader: yaml.CSafeLoader, limits: YamlLimits) -> None:
        self.loader = loader
        self.limits = limits
        self.json_values = bool(getattr(loader, "json_values", False))
        wildcard: list[tuple[str, Any]] = loader.yaml_implicit_resolvers.get(None) or []
        self.resolvers: dict[str, list[tuple[str, Any]]] = {
            first: resolvers + wildcard
            for first, resolvers in loader.yaml_implicit_resolvers.items()
            if first is not None
        }
        self.wildcard = wildcard
        self.nodes = 0
        self.aliases = 0
        self.alias_nodes = 0
        # the state of the document being built: open collections, each one's pending key,
        # anchors (value, size, height), anchored collections still open, "<<" values
        self.containers: list[Any] = []
        self.keys: list[Any] = []
        self.anchors: dict[str, Any] = {}
        self.open_anchors: list[tuple[int, str, int, int]] = []
        self.merges: dict[int, list[tuple[Any, int]]] = {}
        self.peak = 0
        self.root: Any = None

    def documents(self) -> Iterator[tuple[Any, int]]:
        """Each document's value and the line its content starts on."""
        get = self.loader.get_event
        while True:
            event = get()
            if event is None or type(event) is StreamEndEvent:
                return
            if type(event) is DocumentStartEvent:
                yield self._document()

    def _document(self) -> tuple[Any, int]:
        self.containers.clear()
        self.keys.clear()
        self.anchors = {}
        self.open_anchors.clear()
        self.merges.clear()
        self.peak = 0
        self.root = None
        first = self.loader.peek_event()
        line = _line(first) if type(first) is not DocumentEndEvent else 0
        self._events()
        return self.root, line

    def _events(self) -> None:
        """The hot loop: untagged, unanchored scalars and collections in the usual places are
        handled inline (most of any real file); everything else goes through the helpers."""
        get: Callable[[], Any] = self.loader.get_event
        containers, keys = self.containers, self.keys
        max_depth, max_nodes = self.limits.max_depth, self.limits.max_nodes
        resolvers: Any = self.resolvers.get
        wildcard = self.wildcard
        while True:
            event = get()
            kind = type(event)
            if kind is ScalarEvent:
                self.nodes += 1
                value = event.value
                if event.tag is not None or event.anchor is not None:
                    value = self._scalar(event)
                elif event.implicit[0]:
                    for tag, regexp in resolvers(value[:1], wildcard):
                        if regexp.match(value):
                            value = self._typed_scalar(tag, event)
                            break
                pending = keys[-1] if containers else None
                if pending is _NO_KEY and type(value) is str:
                    keys[-1] = value
                elif pending is _IN_SEQUENCE and value is not _MERGE_KEY:
                    containers[-1].append(value)
                else:
                    self._attach(value, event)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                if len(containers) in self.merges or self.open_anchors:
                    self._close()
                else:
                    containers.pop()
                    keys.pop()
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self.nodes += 1
                if event.tag is not None or event.anchor is not None or not containers:
                    self._open(event)
                    continue
                value = {} if kind is MappingStartEvent else []
                pending = keys[-1]
                if pending is _IN_SEQUENCE:
                    containers[-1].append(value)
                elif pending is _NO_KEY or pending is _MERGING:
                    self._attach(value, event)
                else:
                    containers[-1][pending] = value
                    keys[-1] = _NO_KEY
                containers.append(value)
                keys.append(_NO_KEY if kind is MappingStartEvent else _IN_SEQUENCE)
                if len(containers) > max_depth:
                    raise _too_deep(self.limits, _line(event))
                if len(containers) > self.peak:
                    self.peak = len(containers)
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentEndEvent:
                return
            if self.nodes > max_nodes:
                raise _too_many(self.limits, _line(event))

    def _scalar(self, event: ScalarEvent) -> Any:
        """A tagged or anchored scalar (anchors are defined here)."""
        tag = event.tag
        text = event.value
        if tag is None:
            tag = _STR
            if event.implicit[0]:
                for candidate, regexp in self.resolvers.get(text[:1], self.wildcard):
                    if regexp.match(text):
                        tag = candidate
                        break
        elif tag == "!":
            tag = self.loader.resolve(ScalarNode, text, event.implicit)
        value = text if tag == _STR else self._typed_scalar(tag, event)
        if event.anchor is not None:
            self._check_new_anchor(event)
            self.anchors[event.anchor] = (value, 1, 0)
        return value

    def _typed_scalar(self, tag: str, event: ScalarEvent) -> Any:
        if tag in (_STR, _VALUE):
            return event.value
        if tag == _MERGE:
            return _MERGE_KEY
        return self._construct_scalar(tag, event)

    def _construct_scalar(self, tag: str, event: ScalarEvent) -> Any:
        loader = self.loader
        start: Any = event.start_mark
        end: Any = event.end_mark
        node = ScalarNode(tag, event.value, start, end, event.style)
        try:
            if tag in _SIMPLE:
                value = loader.yaml_constructors[tag](loader, node)
            else:
                value = loader.construct_object(node, deep=True)
                loader.constructed_objects.pop(node, None)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise YamlError(problem, _line(event)) from None
        except (ValueError, OverflowError, TypeError) as exc:
            # int("9" * 5000) and datetime(2001, 13, 1) raise plain Python errors
            raise YamlError(f"invalid {tag.rsplit(':', 1)[-1]} {event.value[:40]!r}: {exc}",
                            _line(event)) from None  # fmt: skip
        if isinstance(value, (dict, list, set, tuple)):
            raise YamlError(f"tag {tag} is not supported on a scalar", _line(event))
        return _json_scalar(value, event.value) if self.json_values else value

    def _open(self, event: MappingStartEvent | SequenceStartEvent) -> None:
        """A collection that is tagged, anchored or the document's root."""
        is_map = type(event) is MappingStartEvent
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
            raise YamlError(
                f"tag {tag} is not supported (only plain mappings and sequences)", _line(event)
            )
        value: Any = {} if is_map else []
        self._attach(value, event)
        self.containers.append(value)
        self.keys.append(_NO_KEY if is_map else _IN_SEQUENCE)
        depth = len(self.containers)
        if depth > self.limits.max_depth:
            raise _too_deep(self.limits, _line(event))
        if event.anchor is not None:
            self._check_new_anchor(event)
            self.anchors[event.anchor] = _OPEN
            self.open_anchors.append((depth, event.anchor, self.nodes - 1, self.peak))
            self.peak = depth
        elif depth > self.peak:
            self.peak = depth

    def _close(self) -> None:
        depth = len(self.containers)
        value = self.containers.pop()
        self.keys.pop()
        merges = self.merges.pop(depth, None)
        if merges is not None:
            explicit = dict(value)
            value.clear()
            for merged, line in merges:
                sources = merged if isinstance(merged, list) else [merged]
                if not all(isinstance(source, dict) for source in sources):
                    raise YamlError(
                        "'<<' (merge key) needs a mapping or a sequence of mappings", line
                    )
                # earlier sources of one "<<: [a, b]" win, as in PyYAML
                for source in reversed(sources):
                    value.update(source)
            value.update(explicit)
        if self.open_anchors and self.open_anchors[-1][0] == depth:
            _, name, nodes_before, outer_peak = self.open_anchors.pop()
            height = self.peak - depth + 1
            self.anchors[name] = (value, self.nodes - nodes_before, height)
            self.peak = max(outer_peak, self.peak)

    def _check_new_anchor(self, event: Any) -> None:
        if event.anchor in self.anchors:
            raise YamlError(f"found duplicate anchor &{event.anchor}", _line(event))

    def _alias(self, event: Any) -> None:
        limits = self.limits
        entry = self.anchors.get(event.anchor)
        if entry is None:
            raise YamlError(f"found undefined alias *{event.anchor}", _line(event))
        if entry is _OPEN:
            raise YamlError(
                f"alias *{event.anchor} is inside the collection it names "
                "(recursive structures are not allowed)",
                _line(event),
            )
        value, size, height = entry
        self.aliases += 1
        if self.aliases > limits.max_aliases:
            raise YamlLimitError(
                f"more than {limits.max_aliases} aliases (YAML alias limit)", _line(event)
            )
        self.alias_nodes += size
        if self.alias_nodes > limits.max_alias_nodes:
            raise YamlLimitError(
                f"aliases expand to more than {limits.max_alias_nodes} values "
                "(YAML alias expansion limit)",
                _line(event),
            )
        self.nodes += size
        depth = len(self.containers) + height
        if depth > limits.max_depth:
            raise YamlLimitError(
                f"alias *{event.anchor} nests deeper than {limits.max_depth} levels "
                "(YAML depth limit)",
                _line(event),
            )
        self.peak = max(self.peak, depth)
        self._attach(value, event)

    def _attach(self, value: Any, event: Event) -> None:
        if not self.containers:
            if value is _MERGE_KEY:
                raise _misplaced_merge(event)
            self.root = value
            return
        pending = self.keys[-1]
        if pending is _IN_SEQUENCE:
            if value is _MERGE_KEY:
                raise _misplaced_merge(event)
            self.containers[-1].append(value)
        elif pending is _NO_KEY:
            self.keys[-1] = self._key(value, event)
        elif pending is _MERGING:
            self._merge(value, event)
            self.keys[-1] = _NO_KEY
        else:
            if value is _MERGE_KEY:
                raise _misplaced_merge(event)
            self.containers[-1][pending] = value
            self.keys[-1] = _NO_KEY

    def _key(self, key: Any, event: Event) -> Any:
        if key is _MERGE_KEY:
            return _MERGING
        if type(key) is str:
            return key
        if isinstance(key, (dict, list)):
            raise YamlError("found unhashable key (a mapping or sequence as a key)", _line(event))
        if self.json_values:
            return _json_key(key, _line(event))
        return key

    def _merge(self, value: Any, event: Event) -> None:
        # a collection given here is still empty: it is checked when its mapping ends
        self.merges.setdefault(len(self.containers), []).append((value, _line(event)))


def _loader(text: str | bytes, loader: LoaderClass, limits: YamlLimits) -> yaml.CSafeLoader:
    if len(text) > limits.max_bytes:
        raise YamlLimitError(f"text is larger than {limits.max_bytes} bytes (YAML size limit)")
    try:
        return loader(text)
    except UnicodeError:
        # a str with lone surrogates cannot be handed to libyaml as UTF-8
        raise YamlError("text is not valid Unicode") from None


def iter_documents(
    text: str | bytes,
    *,
    limits: YamlLimits = DEFAULT_YAML_LIMITS,
    loader: LoaderClass = SafeLoader,
) -> Generator[tuple[Any, int], None, None]:
    """Each document of a YAML stream with the 1-based line its content starts on.

    ``loader`` is :class:`SafeLoader`, :class:`KubernetesLoader` or a subclass of either
    (its implicit resolvers and scalar constructors are used). Raises :class:`YamlError`
    (:class:`YamlLimitError` past a bound) and never anything else for any input.
    """
    instance = _loader(text, loader, limits)
    try:
        yield from _Builder(instance, limits).documents()
    except yaml.YAMLError as exc:
        raise _from_pyyaml(exc) from None
    finally:
        instance.dispose()


def load_all(
    text: str | bytes,
    *,
    limits: YamlLimits = DEFAULT_YAML_LIMITS,
    loader: LoaderClass = SafeLoader,
) -> list[Any]:
    """Every document of a YAML stream (an empty document is ``None``)."""
    return [value for value, _ in iter_documents(text, limits=limits, loader=loader)]


def load(
    text: str | bytes,
    *,
    limits: YamlLimits = DEFAULT_YAML_LIMITS,
    loader: LoaderClass = SafeLoader,
) -> Any:
    """The single document of a YAML text (``None`` when empty); a second one is an error,
    as in ``yaml.safe_load``."""
    documents = iter_documents(text, limits=limits, loader=loader)
    try:
        first = next(documents, (None, 0))[0]
        second = next(documents, None)
    finally:
        documents.close()
    if second is not None:
        raise YamlError("expected a single document, but found another document", second[1])
    return first


def check_nesting(value: Any, limits: YamlLimits = DEFAULT_YAML_LIMITS) -> None:
    """Apply ``max_depth`` and ``max_nodes`` to data parsed some other way (JSON), without
    recursing; raises :class:`YamlLimitError` naming the bound."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _too_many(limits, None, kind="")
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limits.max_depth:
            raise _too_deep(limits, None, kind="")
        stack.extend((child, depth + 1) for child in children)


def bounded_events(text: str | bytes, *, limits: YamlLimits = DEFAULT_YAML_LIMITS) -> Iterator[Any]:
    """The parser's events, for callers that need positions rather than values; the size,
    depth and node limits hold (aliases are not expanded here, so they cost nothing)."""
    instance = _loader(text, SafeLoader, limits)
    depth = nodes = 0
    try:
        while instance.check_event():
            event: Any = instance.get_event()
            kind = type(event)
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                depth += 1
                if depth > limits.max_depth:
                    raise _too_deep(limits, _line(event))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                depth -= 1
            nodes += 1
            if nodes > limits.max_nodes:
                raise _too_many(limits, _line(event))
            yield event
    except yaml.YAMLError as exc:
        raise _from_pyyaml(exc) from None
    finally:
        instance.dispose()
