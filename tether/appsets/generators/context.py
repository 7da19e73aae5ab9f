"""What generators read besides the set's spec, handed in as plain data by the controller."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tether.githost.models import PullRequest

if TYPE_CHECKING:
    from tether.appsets.generators.scm import ScmCandidate


class GitTree(Protocol):
    """A commit's files, as `tether.source.tree.CommitTree` gives them."""

    def walk(self, path: str = "") -> Iterator[object]: ...

    def read_file(self, path: str) -> bytes: ...


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster apps may go to: in-cluster, or a cluster Secret (its labels and annotations)."""

    name: str
    server: str
    project: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: True for the local cluster when no Secret declares it
    local: bool = False


@dataclass(frozen=True)
class Context:
    #: the tree of a repository at a revision (resolved by the caller); raises AppSetError
    tree: Callable[[str, str], GitTree]
    clusters: tuple[ClusterInfo, ...] = ()
    #: the open pull requests of each pullRequest generator's source, read beforehand
    pull_requests: Mapping[str, tuple[PullRequest, ...]] = field(default_factory=dict)
    #: each clusterDecisionResource source's match key and status entries, read beforehand
    decisions: Mapping[str, tuple[str, tuple[Mapping[str, object], ...]]] = field(
        default_factory=dict
    )
    #: each scmProvider source's repositories at their branches, read beforehand
    scm: Mapping[str, tuple[ScmCandidate, ...]] = field(default_factory=dict)
