"""The images the demo's cluster can pull: a list in the state folder, as a registry would answer.

Without it the simulated kubelet runs any image, so a mistyped tag would deploy "Healthy". With
it, a tag not listed fails as on a real node (``ErrImagePull``, then ``ImagePullBackOff``) and the
app turns Degraded once the rollout's progress deadline passes. The file is written on the first
start only (your lines stay) and read again within a second of a change, so adding a line is
how an image is "pushed".
"""

from __future__ import annotations

from pathlib import Path

from tether.demo.errors import DemoStateError
from tether.demo.repo import SERVICE_IMAGES

IMAGES_FILE = "images.txt"
#: newer tags of the demo's services that "exist", to deploy by changing newTag
NEWER_TAGS = {"payment-service": ("1.4.1", "1.5.0"), "catalog-service": ("2.2.0",)}
#: the demo's clock runs ten times faster: a rollout that cannot finish is Degraded after 60 s
#: (progressDeadlineSeconds 600) and image pull back-offs are ten times shorter
TIME_SCALE = 0.1

_HEADER = """\
# The images the demo's cluster can pull: one pattern per line, globs allowed (see
# docs/localcluster.md). An image not listed fails as a mistyped tag does on a real node:
# ErrImagePull, then ImagePullBackOff, and the app is Degraded once the rollout's deadline
# passes. Add a line to "push" an image; it is read again within a second.
"""


def image_list() -> str:
    """The first content of ``images.txt``: the services' tags, and Docker's official images."""
    lines = [_HEADER]
    for service, image in SERVICE_IMAGES.items():
        repository, _, tag = image.rpartition(":")
        lines += [f"{repository}:{t}" for t in (tag, *NEWER_TAGS.get(service, ()))]
    lines.append("# any tag of Docker Hub's official images (nginx, redis, ...)")
    lines.append("docker.io/library/*:*")
    return "\n".join(lines) + "\n"


def ensure_image_list(state_dir: Path) -> Path:
    """``<state>/images.txt``, written when missing; never overwritten."""
    path = state_dir / IMAGES_FILE
    if path.exists():
        return path  # the user's list, as they left it
    try:
        path.write_text(image_list())
    except OSError as exc:
        raise DemoStateError(f"cannot write {path}: {exc.strerror}") from exc
    return path
