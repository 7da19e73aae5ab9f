"""The simulated kubelet's image manager: pulls that fail as the real kubelet's do.

Given an :class:`~tether.localcluster.images.ImageCatalog`, a container whose image the catalog
does not have waits as on a real node (``pkg/kubelet/images/image_manager.go``):

1. the pull fails: reason ``ErrImagePull``, message containerd's ``rpc error: code = NotFound
   desc = failed to pull and unpack image "docker.io/library/x:1": ... not found``;
2. until the back-off of that pod and image ends: ``ImagePullBackOff``, message
   ``Back-off pulling image "x:1": ErrImagePull: <the last pull error>``;
3. then a new pull: found now (the catalog changed), the container starts; else 1 again.

The back-off is kubelet's: 10 s, doubled at each failure up to 300 s, reset after a quiet
600 s, all multiplied by ``time_scale``; ``ErrImagePull`` shows for the first second of each
back-off (also scaled). An image that does not parse waits with ``InvalidImageName``; one with
``imagePullPolicy: Never`` that no pod of the node pulled earlier with ``ErrImageNeverPull``.
Without a catalog every image exists, except that a tag ending in ``-pullbackoff`` never does
(a failure on demand).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.localcluster.defaults import image_pull_policy_for
from tether.localcluster.errors import InvalidImageReferenceError
from tether.localcluster.images import ImageCatalog, ImageReference, parse_reference, tag_of

#: kubelet's image back-off: first delay, ceiling (MaxContainerBackOff), in seconds
INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0
#: seconds ErrImagePull shows before the back-off is reported as ImagePullBackOff
ERROR_SHOWN = 1.0
#: images the node keeps once pulled (the oldest are forgotten first, as image GC would)
NODE_IMAGES = 4096
#: a tag with this ending never exists, with or without a catalog
MISSING_TAG_SUFFIX = "-pullbackoff"

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
INVALID_IMAGE_NAME = "InvalidImageName"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"


@dataclass(frozen=True)
class Waiting:
    """Why a container waits for its image, and when the kubelet looks again (None: only when
    the pod changes)."""

    reason: str
    message: str
    recheck_in: float | None = None

    def state(self) -> dict[str, Any]:
        """The container's ``state`` as the kubelet reports it."""
        return {"waiting": {"reason": self.reason, "message": self.message}}


@dataclass
class _Backoff:
    """Failed pulls of one image for one pod."""

    failures: int
    failed_at: float
    until: float
    error: str


def not_found_error(ref: ImageReference) -> str:
    """containerd's answer for an image the registry does not have."""
    full = str(ref)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": '
        f'failed to resolve reference "{full}": {full}: not found'
    )


def image_id(image: str) -> str:
    """The ``imageID`` a running container reports: the repository and a digest (the one the
    reference names, else one derived from it)."""
    try:
        ref = parse_reference(image)
    except InvalidImageReferenceError:
        return f"docker.io/library/{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
    digest = ref.digest or f"sha256:{hashlib.sha256(str(ref).encode()).hexdigest()}"
    return f"{ref.name}@{digest}"


class ImagePuller:
    """Pulls images for one node: back-off per pod and image, and the images the node has."""

    def __init__(
        self,
        catalog: ImageCatalog | None,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.time_scale = time_scale
        self.clock = clock
        self._backoffs: dict[tuple[str, str], _Backoff] = {}
        self._node_images: OrderedDict[str, None] = OrderedDict()

    def ensure(self, pod_uid: str, container: dict[str, Any]) -> Waiting | None:
        """Pull the container's image unless the node has it; None once it is there."""
        image = str(container.get("image") or "")
        if self.catalog is None and not tag_of(image).endswith(MISSING_TAG_SUFFIX):
            return None
        try:
            ref = parse_reference(image)
        except InvalidImageReferenceError as exc:
            return Waiting(
                INVALID_IMAGE_NAME,
                f'Failed to apply default image tag "{image}": '
                f'couldn\'t parse image name "{image}": {exc.message}',
            )
        policy = str(container.get("imagePullPolicy") or image_pull_policy_for(image))
        if policy != "Always" and str(ref) in self._node_images:
            return None
        if policy == "Never":
            return Waiting(
                ERR_IMAGE_NEVER_PULL,
                f'Container image "{image}" is not present with pull policy of Never',
            )
        return self._pull(pod_uid, image, ref)

    def forget(self, pod_uid: str) -> None:
        """Drop the back-offs of a pod that is gone."""
        for key in [k for k in self._backoffs if k[0] == pod_uid]:
            del self._backoffs[key]

    def _pull(self, pod_uid: str, image: str, ref: ImageReference) -> Waiting | None:
        key = (pod_uid, image)
        now = self.clock()
        backoff = self._backoffs.get(key)
        if backoff is not None and now < backoff.until:
            shown_until = backoff.failed_at + self._error_shown(backoff)
            if now < shown_until:
                return Waiting(ERR_IMAGE_PULL, backoff.error, shown_until - now)
            return Waiting(
                IMAGE_PULL_BACKOFF,
                f'Back-off pulling image "{image}": {ERR_IMAGE_PULL}: {backoff.error}',
                backoff.until - now,
            )
        if self._exists(ref):
            self._backoffs.pop(key, None)
            self._remember(str(ref))
            return None
        backoff = self._next_backoff(backoff, now, not_found_error(ref))
        self._backoffs[key] = backoff
        return Waiting(ERR_IMAGE_PULL, backoff.error, self._error_shown(backoff))

    def _exists(self, ref: ImageReference) -> bool:
        if (ref.tag or "").endswith(MISSING_TAG_SUFFIX):
            return False
        return self.catalog is None or self.catalog.exists(ref)

    def _next_backoff(self, previous: _Backoff | None, now: float, error: str) -> _Backoff:
        """flowcontrol.Backoff.Next: the first delay, or twice the last up to the ceiling; a
        back-off quiet for twice the ceiling starts over."""
        ceiling = MAX_BACKOFF * self.time_scale
        failures = 1
        if previous is not None and now - previous.failed_at <= 2 * ceiling:
            failures = previous.failures + 1
        delay = min(INITIAL_BACKOFF * 2 ** min(failures - 1, 32), MAX_BACKOFF) * self.time_scale
        return _Backoff(failures, now, now + delay, error)

    def _error_shown(self, backoff: _Backoff) -> float:
        return min(ERROR_SHOWN * self.time_scale, (backoff.until - backoff.failed_at) / 2)

    def _remember(self, image: str) -> None:
        self._node_images[image] = None
        self._node_images.move_to_end(image)
        while len(self._node_images) > NODE_IMAGES:
            self._node_images.popitem(last=False)
