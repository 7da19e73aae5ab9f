"""What a pull-request preview found: plain, frozen data shared by the runner, the comment, the
commit status and the API (``GET /api/v1/applications/{name}/previews/{number}``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: what the sync of the head commit would do to one object
Action = Literal["added", "changed", "removed"]
#: why an app's preview has no objects: its render failed, its project refuses what it
#: renders, or something else (the source, the cluster) stood in the way
Failure = Literal["render", "project", "error"]


@dataclass(frozen=True)
class ImageChange:
    """One container's image, before (live) and after (the head commit)."""

    container: str
    old: str
    new: str


@dataclass(frozen=True)
class ObjectChange:
    """One object the sync of the head commit would add, change or remove (prune)."""

    action: Action
    group: str
    kind: str
    namespace: str
    name: str
    #: JSON pointers of the fields that change (bounded; Secret values are never shown)
    fields: tuple[str, ...] = ()
    images: tuple[ImageChange, ...] = ()
    #: the unified diff of the live and the desired object (masked, bounded)
    diff: str = ""

    @property
    def title(self) -> str:
        group = f"{self.group}/" if self.group else ""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{group}{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class AppPreview:
    """One application at the pull request's head."""

    app: str
    project: str
    #: the commit(s) rendered (``|``-joined for several sources)
    revision: str
    objects: tuple[ObjectChange, ...] = ()
    #: True when the app's automated sync prunes: removed objects would be deleted
    prunes: bool = False
    failure: Failure | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def count(self, action: Action) -> int:
        return sum(1 for change in self.objects if change.action == action)


@dataclass(frozen=True)
class PullPreview:
    """The preview of one pull request at one head commit."""

    provider: str
    repo_url: str
    number: int
    head_sha: str
    base_branch: str
    title: str = ""
    url: str = ""
    apps: tuple[AppPreview, ...] = ()
    #: apps following the base branch whose files the pull request does not touch
    unaffected: tuple[str, ...] = ()
    #: unix time the preview was finished
    at: float = 0.0
    #: what went wrong before any app could be previewed (the head could not be fetched)
    error: str = ""
    #: what went wrong posting the comment or the status (the preview itself stands)
    delivery: tuple[str, ...] = field(default_factory=tuple)

    @property
    def state(self) -> Literal["success", "failure"]:
        if self.error or any(app.failed for app in self.apps):
            return "failure"
        return "success"

    def app(self, name: str) -> AppPreview | None:
        for app in self.apps:
            if app.app == name:
                return app
        return None


def as_json(preview: PullPreview, app: AppPreview) -> dict[str, Any]:
    """The API's document of one app's preview."""
    return {
        "application": app.app,
        "project": app.project,
        "pullRequest": {
            "number": preview.number,
            "title": preview.title,
            "url": preview.url,
            "repoURL": preview.repo_url,
            "headSHA": preview.head_sha,
            "baseBranch": preview.base_branch,
        },
        "revision": app.revision,
        "state": "failure" if app.failed else "success",
        "failure": app.failure,
        "error": app.error,
        "prunes": app.prunes,
        "finishedAt": preview.at,
        #: why the comment or the status could not be posted (empty: both were)
        "delivery": list(preview.delivery),
        "objects": [
            {
                "action": change.action,
                "group": change.group,
                "kind": change.kind,
                "namespace": change.namespace,
                "name": change.name,
                "fields": list(change.fields),
                "images": [
                    {"container": i.container, "old": i.old, "new": i.new} for i in change.images
                ],
                "diff": change.diff,
            }
            for change in app.objects
        ],
    }
