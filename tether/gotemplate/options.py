"""How a template is parsed and executed: Go's ``missingkey`` option, the functions allowed,
and the bounds that keep a hostile template cheap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MissingKey = Literal["default", "zero", "error"]


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Bounds on one template and one execution; passing one is a :class:`TemplateLimitError`.

    ``max_steps`` counts nodes walked, commands run and loop iterations together.
    ``max_call_depth`` bounds ``{{template}}`` recursion (Go allows 100,000).
    ``max_regex_input`` bounds the text a regular expression function searches.
    """

    max_template_size: int = 1 << 20
    max_nesting: int = 100
    max_output: int = 4 << 20
    max_steps: int = 1_000_000
    max_call_depth: int = 100
    max_regex_input: int = 64 << 10
    max_regex_size: int = 1000


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """Options of :func:`parse`.

    ``missing_key`` is Go's ``missingkey=`` option (``default`` and ``invalid`` are one);
    ``functions``, when set, is the only functions a template may call (of those Tether has).
    """

    missing_key: MissingKey = "default"
    functions: frozenset[str] | None = None
    limits: TemplateLimits = field(default_factory=TemplateLimits)
