"""The demo repository, laid out like a platform team's ``k8s-manifests``.

```
apps/payment-service/{base,staging,production}   Kustomize base + overlays
apps/catalog-service/{base,staging,production}
platform/namespaces                              plain YAML (<service>-<environment>)
```

`create_repository` and `commit_and_push` serve the tests too: their clone pushes to the bare
folder. ``tether up`` then points its working copy at the served URL (`prepare_working_copy`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

#: each service and the image its overlays deploy in the first commit
SERVICE_IMAGES = {
    "payment-service": "ghcr.io/example/payment-service:1.4.0",
    "catalog-service": "ghcr.io/example/catalog-service:2.1.3",
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tether Demo",
    "GIT_AUTHOR_EMAIL": "demo@tether.invalid",
    "GIT_COMMITTER_NAME": "Tether Demo",
    "GIT_COMMITTER_EMAIL": "demo@tether.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}


def _service(name: str, image: str, port: int) -> dict[str, str]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"containerPort": port, "name": "http"}],
                            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config"},
        "data": {"LOG_LEVEL": "info"},
    }
    base_kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["deployment.yaml", "service.yaml", "configmap.yaml"],
        "labels": [{"pairs": {"app.kubernetes.io/part-of": "shop"}}],
    }
    files = {
        f"apps/{name}/base/deployment.yaml": yaml.safe_dump(deployment, sort_keys=False),
        f"apps/{name}/base/service.yaml": yaml.safe_dump(service, sort_keys=False),
        f"apps/{name}/base/configmap.yaml": yaml.safe_dump(config, sort_keys=False),
        f"apps/{name}/base/kustomization.yaml": yaml.safe_dump(base_kustomization, sort_keys=False),
    }
    repo, _, tag = image.rpartition(":")
    for env, replicas in (("staging", 1), ("production", 2)):
        overlay = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../base"],
            "replicas": [{"name": name, "count": replicas}],
            "images": [{"name": repo, "newTag": tag}],
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": f"{name}-config"},
                    "patch": yaml.safe_dump(
                        [
                            {
                                "op": "replace",
                                "path": "/data/LOG_LEVEL",
                                "value": "debug" if env == "staging" else "warn",
                            }
                        ]
                    ),
                }
            ],
        }
        files[f"apps/{name}/{env}/kustomization.yaml"] = yaml.safe_dump(overlay, sort_keys=False)
    return files


def demo_files() -> dict[str, str]:
    """Path → content of every file in the demo repository."""
    files: dict[str, str] = {
        "README.md": "# k8s-manifests\n\nDeployed by Tether. Change an image tag in an overlay and push.\n",
    }
    for service, image in SERVICE_IMAGES.items():
        files.update(_service(service, image, 8080))
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": f"{service}-{env}", "labels": {"team": "shop"}},
        }
        for service in ("payment-service", "catalog-service")
        for env in ("staging", "production")
    ]
    files["platform/namespaces/namespaces.yaml"] = yaml.safe_dump_all(namespaces, sort_keys=False)
    return files


def git(args: list[str], cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def create_repository(bare: Path, work: Path, files: dict[str, str] | None = None) -> str:
    """Create the bare repository ``bare`` (served by the Git server) with one commit pushed from
    the working clone ``work``; returns the commit SHA."""
    bare.parent.mkdir(parents=True, exist_ok=True)
    git(["init", "--bare", "--initial-branch=main", str(bare)], bare.parent)
    git(["config", "http.receivepack", "true"], bare)
    work.mkdir(parents=True, exist_ok=True)
    git(["init", "--initial-branch=main"], work)
    for path, content in (files or demo_files()).items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(["add", "-A"], work)
    git(["commit", "-q", "-m", "Initial manifests"], work)
    git(["remote", "add", "origin", str(bare)], work)
    git(["push", "-q", "origin", "main"], work)
    return git(["rev-parse", "HEAD"], work)


def commit_and_push(work: Path, message: str, changes: dict[str, str | None]) -> str:
    """Write (or delete, for None) files in ``work``, commit and push; returns the new SHA."""
    for path, content in changes.items():
        target = work / path
        if content is None:
            if target.exists():
                target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    git(["add", "-A"], work)
    git(["commit", "-q", "-m", message], work)
    git(["push", "-q", "origin", "HEAD:main"], work)
    return git(["rev-parse", "HEAD"], work)


def push_branch(work: Path, branch: str, changes: dict[str, str], base: str = "main") -> str:
    """Commit ``changes`` on ``branch`` (made again from ``base``) and push it (forced, as a
    pull request's head moves); ``base`` stays checked out. Returns the branch's commit."""
    git(["checkout", "-q", "-B", branch, base], work)
    for path, content in changes.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(["add", "-A"], work)
    git(["commit", "-q", "-m", f"change on {branch}"], work)
    git(["push", "-q", "-f", "origin", f"{branch}:{branch}"], work)
    sha = git(["rev-parse", "HEAD"], work)
    git(["checkout", "-q", base], work)
    return sha


def _configured(work: Path, key: str) -> bool:
    """True when the user's own git configuration (global or the clone's) sets ``key``."""
    found = subprocess.run(
        ["git", "config", "--get", key], cwd=work, capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


def prepare_working_copy(work: Path, url: str) -> None:
    """Make ``work`` a clone whose ``git push`` goes to the served ``url``.

    The origin is the URL (not the bare folder), so a push passes through the Git server and
    is heard at once; ``main`` tracks ``origin/main`` so a plain ``git push`` works; a user
    without a git identity gets the demo's in this clone only, so ``git commit`` works too.
    A working copy that was deleted is cloned again.
    """
    if not (work / ".git").exists():
        work.parent.mkdir(parents=True, exist_ok=True)
        git(["clone", "-q", url, str(work)], work.parent)
    git(["remote", "set-url", "origin", url], work)
    git(["config", "branch.main.remote", "origin"], work)
    git(["config", "branch.main.merge", "refs/heads/main"], work)
    for key, variable in (("user.name", "GIT_AUTHOR_NAME"), ("user.email", "GIT_AUTHOR_EMAIL")):
        if not _configured(work, key):
            git(["config", key, GIT_ENV[variable]], work)
