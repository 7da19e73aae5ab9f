"""A faithful, bounded subset of Go's ``text/template`` with the Sprig functions Argo CD uses.

Argo CD renders notification templates and ApplicationSet templates (``goTemplate: true``)
with Go's ``text/template`` and Sprig; Tether renders the same text the same way, in Python,
and refuses what could read the environment or run away with time or memory.
"""

from tether.gotemplate.errors import TemplateError, TemplateLimitError
from tether.gotemplate.options import MissingKey, TemplateLimits, TemplateOptions
from tether.gotemplate.template import Template, parse

__all__ = [
    "MissingKey",
    "Template",
    "TemplateError",
    "TemplateLimitError",
    "TemplateLimits",
    "TemplateOptions",
    "parse",
]
