"""The fleet bench/controller.py deploys: N apps of 10 resources over 10 repositories.

The same objects serve both sides of the comparison: Tether renders them from Git, and the
baseline writes them with ``kubectl apply --server-side`` (:func:`write_manifests`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tether.cluster.client import ClusterClient
from tether.demo.repo import commit_and_push, create_repository
from tether.source.gitserver import GitHTTPServer

REPOS = 10
NAMESPACES = 20
CONTROL_NAMESPACE = "argocd"
#: the C dumper: the pure-Python one takes ~30 ms an app, minutes at 10,000 apps
DUMPER = yaml.CSafeDumper


def app_name(index: int) -> str:
    return f"app-{index:05d}"


def app_objects(index: int, marker: str = "") -> list[dict[str, Any]]:
    """Ten resources: a Deployment (1 replica), a Service, seven ConfigMaps and a Secret.

    ``marker`` changes the data of the first ConfigMap (the monorepo figure's one-app commit)."""
    name = app_name(index)
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-secret"},
            "stringData": {"token": f"t-{index}"},
        },
    ]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-cm{i}"},
            "data": {"key": f"value-{i}{marker if i == 0 else ''}"},
        }
        for i in range(7)
    ]
    return docs


def app_path(index: int) -> str:
    return f"apps/{app_name(index)}/manifests.yaml"


def app_namespace(index: int) -> str:
    return f"fleet-{index % NAMESPACES}"


def application(name: str, repo_url: str, path: str, namespace: str) -> dict[str, Any]:
    """An automated Application (prune, selfHeal, CreateNamespace) of one directory."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": CONTROL_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


@dataclass
class Fleet:
    """``per_repo`` apps in each of ``REPOS`` repositories served by ``server``."""

    root: Path
    server: GitHTTPServer
    per_repo: int
    #: the commit each repository is at
    heads: list[str] = field(default_factory=list)
    #: a folder the repositories sit in on the git server (``acme``: a Git host's owner)
    owner: str = ""
    #: annotations every Application gets (a notification subscription)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.per_repo * REPOS

    def repo_of(self, index: int) -> int:
        return index // self.per_repo

    def repo_path(self, repo: int) -> str:
        """The repository's path on the git server (``owner/fleet-N`` with an owner)."""
        return f"{self.owner}/fleet-{repo}" if self.owner else f"fleet-{repo}"

    def url(self, repo: int) -> str:
        return self.server.url(f"{self.repo_path(repo)}.git")

    def names(self) -> set[str]:
        return {app_name(i) for i in range(self.size)}

    def create(self) -> None:
        """One commit per repository holding its apps' folders."""
        for repo in range(REPOS):
            files = {
                app_path(i): yaml.dump_all(app_objects(i), Dumper=DUMPER)
                for i in range(repo * self.per_repo, (repo + 1) * self.per_repo)
            }
            self.heads.append(
                create_repository(
                    self.root / "git" / f"{self.repo_path(repo)}.git",
                    self.root / f"fleet-{repo}",
                    files,
                )
            )

    def change_one(self, index: int, marker: str) -> tuple[str, str, str]:
        """Commit a change to one app's files; returns (repository URL, before, after)."""
        repo = self.repo_of(index)
        before = self.heads[repo]
        content = yaml.dump_all(app_objects(index, marker), Dumper=DUMPER)
        after = commit_and_push(
            self.root / f"fleet-{repo}", f"change {app_name(index)}", {app_path(index): content}
        )
        self.heads[repo] = after
        return self.url(repo), before, after

    async def apply_applications(self, client: ClusterClient, concurrency: int = 16) -> None:
        """Write every Application (the controller is not running yet)."""
        info = await client.resource_for("argoproj.io/v1alpha1", "Application")
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            doc = application(
                app_name(index),
                self.url(self.repo_of(index)),
                str(Path(app_path(index)).parent),
                app_namespace(index),
            )
            if self.annotations:
                doc["metadata"]["annotations"] = dict(self.annotations)
            async with gate:
                await client.apply(info, doc, field_manager="bench", force=True)

        await asyncio.gather(*(one(i) for i in range(self.size)))

    def write_manifests(self, folder: Path) -> int:
        """The same objects for ``kubectl apply -f folder``: the namespaces first (files are read
        in name order), then one file per app; returns how many objects."""
        folder.mkdir(parents=True, exist_ok=True)
        namespaces = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"fleet-{n}"}}
            for n in range(min(NAMESPACES, self.size))
        ]
        (folder / "0-namespaces.yaml").write_text(yaml.dump_all(namespaces, Dumper=DUMPER))
        for i in range(self.size):
            docs = app_objects(i)
            for doc in docs:
                doc["metadata"]["namespace"] = app_namespace(i)
            (folder / f"{app_name(i)}.yaml").write_text(yaml.dump_all(docs, Dumper=DUMPER))
        return len(namespaces) + 10 * self.size
