"""Which Applications a pull request concerns: those with a Git source in its repository that
follows its base branch (the candidates), and of those, the ones whose rendered files it changes
(the affected), with the change detection the poller uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.controller import models, multisource
from tether.controller.desired import value_files
from tether.errors import TetherError
from tether.source.changes import TreeReader, read_paths, touches
from tether.source.pullrequests import PullRequestEvent
from tether.source.urls import normalize_repo_url


@dataclass(frozen=True)
class Candidate:
    """An app that follows the pull request's base branch, and which of its sources do."""

    name: str
    obj: dict[str, Any]
    app: models.Application
    #: indexes into ``app.spec.all_sources`` of the sources in the pull request's repository
    sources: tuple[int, ...]

    def revision(self, head_sha: str) -> str:
        """The revision to compare at: the head for the following sources, the others at their
        targets (an empty part of a joined revision)."""
        if not self.app.spec.sources:
            return head_sha
        parts = [head_sha if i in self.sources else "" for i in range(len(self.app.spec.sources))]
        return multisource.join_revisions(parts)


def follows_branch(target_revision: str, base: str, default_branch: str) -> bool:
    """Whether an app's ``targetRevision`` follows branch ``base``: its name (or full ref), or
    ``HEAD`` when ``base`` is the repository's default branch (unknown: assumed to be)."""
    target = (target_revision or "HEAD").strip()
    if target == "HEAD":
        return not default_branch or base == default_branch
    return target in (base, f"refs/heads/{base}")


def candidates(
    applications: Mapping[str, dict[str, Any]], event: PullRequestEvent
) -> list[Candidate]:
    """The apps with a Git source in the event's repository following its base branch, by
    name. Apps whose spec does not parse are left out (their status says why)."""
    repositories = {normalize_repo_url(url) for url in event.repo_urls}
    found = []
    for name in sorted(applications):
        obj = applications[name]
        try:
            app = models.parse_application(obj)
        except TetherError:
            continue
        indexes = tuple(
            index
            for index, source in enumerate(app.spec.all_sources)
            if not source.chart
            and not source.repo_url.lower().startswith("oci://")
            and normalize_repo_url(source.repo_url) in repositories
            and follows_branch(source.target_revision, event.base_branch, event.default_branch)
        )
        if indexes:
            found.append(Candidate(name, obj, app, indexes))
    return found


def affected(
    candidate: Candidate,
    changed: frozenset[str],
    trees: tuple[TreeReader, ...],
) -> bool:
    """Whether ``changed`` paths touch what one of the candidate's following sources reads at
    any of ``trees`` (the merge base and the head: a file the head stopped using counts)."""
    if not changed:
        return False
    sources = candidate.app.spec.all_sources
    for index in candidate.sources:
        source = sources[index]
        read: set[str] = set()
        for tree in trees:
            try:
                read |= read_paths(tree, source.path or "", value_files(source))
            except TetherError:
                return True  # the render will meet the problem and say it
        if touches(changed, read):
            return True
    return False


def split(
    found: list[Candidate],
    changed: frozenset[str],
    trees: tuple[TreeReader, ...],
    check: Callable[[Candidate, frozenset[str], tuple[TreeReader, ...]], bool] = affected,
) -> tuple[list[Candidate], list[str]]:
    """(affected candidates, names of the others)."""
    hit: list[Candidate] = []
    missed: list[Candidate] = []
    for candidate in found:
        (hit if check(candidate, changed, trees) else missed).append(candidate)
    return hit, [c.name for c in missed]
