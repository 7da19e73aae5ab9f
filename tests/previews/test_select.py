"""Which apps a pull request concerns: same repository (any spelling), following its base branch,
Git sources only; and of those, the ones whose rendered files it changes."""

from __future__ import annotations

from typing import Any

import pytest

from tether.controller.previews.select import affected, candidates, follows_branch
from tether.source.errors import PathNotFoundError
from tether.source.pullrequests import PREVIEW, PullRequestEvent

URL = "https://github.com/acme/deploy.git"


def app(name: str, **source: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": URL, "path": f"apps/{name}", **source},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        },
    }


EVENT = PullRequestEvent("github", PREVIEW, 3, (URL,), "main", "bump", "a" * 40, (URL,), "main")


@pytest.mark.parametrize(
    ("target", "base", "default", "follows"),
    [
        ("HEAD", "main", "main", True),
        ("", "main", "main", True),
        ("HEAD", "release", "main", False),
        ("HEAD", "release", "", True),  # default branch unknown: assumed
        ("release", "release", "main", True),
        ("refs/heads/release", "release", "main", True),
        ("v1.0.0", "main", "main", False),
    ],
)
def test_follows_branch(target: str, base: str, default: str, follows: bool) -> None:
    assert follows_branch(target, base, default) is follows


def test_candidates_follow_the_base_branch_of_the_same_repository() -> None:
    apps = {
        "web": app("web"),
        "ssh-spelling": app("ssh-spelling", repoURL="git@github.com:acme/deploy"),
        "pinned": app("pinned", targetRevision="v1.2.0"),
        "elsewhere": app("elsewhere", repoURL="https://github.com/acme/other.git"),
        "chart": app("chart", chart="redis", targetRevision="18.1.0"),
        "broken": {"kind": "Application", "metadata": {"name": "broken"}, "spec": 5},
    }
    assert [c.name for c in candidates(apps, EVENT)] == ["ssh-spelling", "web"]


class Tree:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def kind(self, path: str) -> str | None:
        if path in self.files:
            return "file"
        return "dir" if any(f.startswith(path + "/") for f in self.files) or not path else None

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise PathNotFoundError(path)
        return self.files[path].encode()


def test_affected_follows_kustomize_bases() -> None:
    tree = Tree({
        "apps/web/kustomization.yaml": "resources: [../../base/web]\n",
        "base/web/kustomization.yaml": "resources: [deploy.yaml]\n",
        "base/web/deploy.yaml": "kind: Deployment\n",
        "apps/api/kustomization.yaml": "resources: []\n",
    })  # fmt: skip
    found = {c.name: c for c in candidates({"web": app("web"), "api": app("api")}, EVENT)}
    changed = frozenset({"base/web/deploy.yaml"})
    assert affected(found["web"], changed, (tree,))
    assert not affected(found["api"], changed, (tree,))
    assert not affected(found["web"], frozenset(), (tree,))
