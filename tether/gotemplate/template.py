"""The public face of the package: :func:`parse` a template once, execute it many times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tether.gotemplate import nodes as n
from tether.gotemplate.builtins import BUILTINS
from tether.gotemplate.errors import TemplateError, TemplateLimitError
from tether.gotemplate.executor import Executor
from tether.gotemplate.functions import Func, refusal
from tether.gotemplate.options import TemplateOptions
from tether.gotemplate.parser import parse_trees
from tether.gotemplate.sprig import SPRIG
from tether.gotemplate.sprig_more import MORE_FUNCTIONS

FUNCTIONS: Mapping[str, Func] = MappingProxyType({**SPRIG, **MORE_FUNCTIONS, **BUILTINS})


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: its text, its trees (the main one and each ``define``), its options."""

    name: str
    text: str
    trees: Mapping[str, tuple[n.Node, ...]] = field(repr=False)
    options: TemplateOptions = field(repr=False)

    def execute(self, data: Any) -> str:
        """Render the template over ``data`` (JSON-like values); a :class:`TemplateError` when
        Go's template would fail or a limit is passed."""
        executor = Executor(self.text, self.name, self.trees, FUNCTIONS, self.options)
        try:
            return executor.run(data)
        except RecursionError:
            # templates calling templates inside deep actions, or printing a value the
            # template nested (or looped into itself) too deeply
            raise TemplateLimitError(
                f"template: {self.name}: executing {self.name!r}: templates, actions or values "
                "nested too deeply",
                name=self.name,
            ) from None

    def defined(self) -> frozenset[str]:
        """The names of the templates defined in the text (the main one included)."""
        return frozenset(self.trees)


def parse(text: str, name: str = "template", *, options: TemplateOptions | None = None) -> Template:
    """Parse Go template ``text``; a :class:`TemplateError` names the line of the first error."""
    options = options or TemplateOptions()
    limit = options.limits.max_template_size
    if len(text) > limit:
        raise TemplateLimitError(
            f"template: {name}: the template is {len(text)} characters, more than {limit}",
            name=name,
        )

    def check(function: str) -> str | None:
        return refusal(function, FUNCTIONS, options.functions)

    try:
        trees = parse_trees(text, name, check, options.limits.max_nesting)
    except RecursionError:
        raise TemplateLimitError(f"template: {name}: nested too deeply", name=name) from None
    return Template(name, text, MappingProxyType(trees), options)


__all__ = ["Template", "TemplateError", "parse"]
