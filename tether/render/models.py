"""The plain data a render takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tether.safeyaml import YamlLimits

KUSTOMIZE = "Kustomize"
HELM = "Helm"
JSONNET = "Jsonnet"
DIRECTORY = "Directory"

MiB = 1024 * 1024


@dataclass(frozen=True)
class RenderLimits:
    """Every bound a render respects, in one place; part of the cache key.

    Sizes: ``max_file_bytes`` for any one file of the repository (checked with ``stat`` before
    it is copied or read), ``max_tree_bytes`` for the whole copy, ``max_read_bytes`` for what
    one render reads into memory from it (manifests, kustomizations, ``Chart.yaml``, value
    schemas), ``max_output_bytes`` for what a tool prints (and for a directory's manifests).

    YAML and JSON (see :class:`tether.safeyaml.YamlLimits`): ``max_yaml_depth`` nested
    collections, ``max_yaml_nodes`` values per file or tool output, ``max_yaml_aliases`` aliases
    and ``max_yaml_alias_nodes`` values they may add.

    Tools (helm, kustomize, the Jsonnet worker): ``timeout_seconds`` of wall time,
    ``tool_cpu_seconds`` of CPU time (RLIMIT_CPU) and ``tool_memory_bytes`` of heap (RLIMIT_DATA;
    the address space, RLIMIT_AS, gets 1 GiB more for the Go runtime's reservations). They run
    in a network namespace of their own; ``require_network_isolation`` refuses to render where
    none can be made (otherwise they run with HTTP routed nowhere and a warning is logged).

    ``allow_remote_bases`` lets kustomize fetch remote bases and resources (off: a remote URL in a
    kustomization is an error and the tool runs with network access to Git and HTTP blocked).
    """

    timeout_seconds: float = 90.0
    max_output_bytes: int = 32 * MiB
    max_file_bytes: int = 10 * MiB
    max_tree_bytes: int = 512 * MiB
    max_read_bytes: int = 64 * MiB
    max_yaml_depth: int = 128
    max_yaml_nodes: int = 4_000_000
    max_yaml_aliases: int = 10_000
    max_yaml_alias_nodes: int = 400_000
    tool_cpu_seconds: int = 60
    tool_memory_bytes: int = 1024 * MiB
    require_network_isolation: bool = False
    allow_remote_bases: bool = False

    def yaml(self, max_bytes: int) -> YamlLimits:
        """The YAML bounds of one file or tool output of at most ``max_bytes``."""
        return YamlLimits(
            max_bytes=max_bytes,
            max_depth=self.max_yaml_depth,
            max_nodes=self.max_yaml_nodes,
            max_aliases=self.max_yaml_aliases,
            max_alias_nodes=self.max_yaml_alias_nodes,
        )


DEFAULT_LIMITS = RenderLimits()


@dataclass(frozen=True)
class RenderContext:
    """What the Application around a source contributes to its render.

    ``app_name`` is Helm's default release name; ``namespace`` the destination namespace Helm gets
    as ``--namespace``; ``kube_version`` and ``api_versions`` describe the target cluster when the
    source does not set them. ``repo_url`` and ``revision`` feed the Argo CD build environment
    (``$ARGOCD_APP_REVISION`` ...).
    """

    app_name: str = ""
    namespace: str = ""
    kube_version: str = ""
    api_versions: tuple[str, ...] = ()
    repo_url: str = ""
    revision: str = ""
    path: str = "."
    project: str = "default"
    #: multi-source apps: each ``ref`` source's name and the root of its tree, for Helm value
    #: files written ``$name/path``
    value_refs: tuple[tuple[str, str], ...] = ()

    def build_env(self) -> dict[str, str]:
        """The variables Argo CD substitutes into parameters (``$ARGOCD_APP_NAME`` ...)."""
        return {
            "ARGOCD_APP_NAME": self.app_name,
            "ARGOCD_APP_NAMESPACE": self.namespace,
            "ARGOCD_APP_PROJECT_NAME": self.project,
            "ARGOCD_APP_REVISION": self.revision,
            "ARGOCD_APP_REVISION_SHORT": self.revision[:7],
            "ARGOCD_APP_REVISION_SHORT_8": self.revision[:8],
            "ARGOCD_APP_SOURCE_REPO_URL": self.repo_url,
            "ARGOCD_APP_SOURCE_PATH": self.path,
            "ARGOCD_APP_SOURCE_TARGET_REVISION": self.revision,
            "KUBE_VERSION": self.kube_version,
            "KUBE_API_VERSIONS": ",".join(self.api_versions),
        }


@dataclass(frozen=True)
class RenderResult:
    """The objects a path describes, in the tool's order.

    Results may come from a cache and be shared between callers: treat ``objects`` as read-only
    and call :meth:`copy_objects` before changing anything.
    """

    objects: list[dict[str, Any]]
    tool: str
    warnings: list[str] = field(default_factory=list)

    def copy_objects(self) -> list[dict[str, Any]]:
        """A deep copy of the objects that the caller may change freely."""
        copied: list[dict[str, Any]] = orjson.loads(orjson.dumps(self.objects))
        return copied


def envsubst(text: str, env: dict[str, str]) -> str:
    """Argo CD's substitution: ``$VAR`` and ``${VAR}`` from ``env``, unknown names become empty,
    ``$$`` is a literal dollar."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = text.find("}", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            out.append(env.get(text[i + 2 : end], ""))
            i = end + 1
        elif nxt == "_" or nxt.isalnum():
            j = i + 1
            while j < n and (text[j] == "_" or text[j].isalnum()):
                j += 1
            out.append(env.get(text[i + 1 : j], ""))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)
