"""Render: turn a path of a repository tree into the Kubernetes objects it describes.

Directory (YAML, JSON, Jsonnet), Kustomize and Helm applications, rendered as Argo CD does, on a
sealed export read in place (tools see it read-only) or a private read-only copy of the tree,
bounded in time and size, and cached by commit.
"""

from tether.render.api import detect_tool, render, render_key, tool_versions
from tether.render.cache import RenderCache, RenderKey
from tether.render.errors import (
    RenderError,
    RenderLimitError,
    RenderTimeoutError,
    ToolFailedError,
    UnsafeRepositoryError,
)
from tether.render.globs import glob_match
from tether.render.models import (
    DEFAULT_LIMITS,
    DIRECTORY,
    HELM,
    JSONNET,
    KUSTOMIZE,
    RenderContext,
    RenderLimits,
    RenderResult,
)
from tether.render.sealed import SealedTree, seal_tree

__all__ = [
    "DEFAULT_LIMITS",
    "DIRECTORY",
    "HELM",
    "JSONNET",
    "KUSTOMIZE",
    "RenderCache",
    "RenderContext",
    "RenderError",
    "RenderKey",
    "RenderLimitError",
    "RenderLimits",
    "RenderResult",
    "RenderTimeoutError",
    "SealedTree",
    "ToolFailedError",
    "UnsafeRepositoryError",
    "detect_tool",
    "glob_match",
    "render",
    "render_key",
    "seal_tree",
    "tool_versions",
]
