"""A HelmRelease's ``postRenderers`` (kustomize ``patches`` and ``images``), run by helm as a
post-renderer plugin: ``python -m tether.flux.postrender SPEC`` reads the rendered manifests on
standard input and writes them back changed, each post-renderer in turn building
``resources: [all.yaml]`` plus its patches and images with the real kustomize, under Tether's
render limits (no plugins, no remote bases, nothing outside its own folder). An error is one line
on standard error and exit code 1 (helm then names it).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tether.errors import TetherError
from tether.render.kustomize import check_kustomization_tree, render_kustomize
from tether.render.models import DEFAULT_LIMITS
from tether.render.tree import Workspace

#: the manifests helm hands over, at most
MAX_INPUT = 64 * 1024 * 1024
PLUGIN = "tether-postrender"


def render(manifests: str, renderers: Sequence[Mapping[str, Any]]) -> str:
    """``manifests`` after each post-renderer in turn."""
    for renderer in renderers:
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["all.yaml"],
        }
        for key in ("patches", "images"):
            if renderer.get(key):
                kustomization[key] = list(renderer[key])
        with tempfile.TemporaryDirectory(prefix="tether-postrender-") as tmp:
            folder = Path(tmp)
            (folder / "all.yaml").write_text(manifests)
            (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
            with Workspace(folder, DEFAULT_LIMITS) as ws:
                check_kustomization_tree(ws, ws.repo)
                ws.seal()
                objects = render_kustomize(ws, ws.repo).objects
        manifests = yaml.safe_dump_all(objects, sort_keys=False)
    return manifests


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tether.flux.postrender SPEC", file=sys.stderr)
        return 2
    try:
        renderers = json.loads(Path(argv[0]).read_text())
        data = sys.stdin.buffer.read(MAX_INPUT + 1)
        if len(data) > MAX_INPUT:
            print(f"post-render: the manifests are larger than {MAX_INPUT} bytes", file=sys.stderr)
            return 1
        sys.stdout.write(render(data.decode(), renderers))
    except TetherError as exc:
        print(f"post-render: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"post-render: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
