"""The simulated kubelet's image manager, on a clock the test moves."""

from __future__ import annotations

from typing import Any

from tether.localcluster.imagepull import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACKOFF,
    INVALID_IMAGE_NAME,
    ImagePuller,
    Waiting,
)
from tether.localcluster.images import ImageCatalog

MISSING = 'rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/example/app:9": failed to resolve reference "ghcr.io/example/app:9": ghcr.io/example/app:9: not found'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def container(image: str, policy: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "app", "image": image}
    if policy:
        c["imagePullPolicy"] = policy
    return c


def puller(patterns: list[str] | None, scale: float = 1.0) -> tuple[ImagePuller, Clock]:
    clock = Clock()
    catalog = None if patterns is None else ImageCatalog.from_patterns(patterns)
    return ImagePuller(catalog, scale, clock), clock


def test_without_a_catalog_every_image_exists_but_pullbackoff_tags() -> None:
    kubelet, _ = puller(None)
    assert kubelet.ensure("pod", container("anything.example/at/all:0")) is None
    assert kubelet.ensure("pod", container("Not A Reference")) is None
    waiting = kubelet.ensure("pod", container("registry.example/app:9-pullbackoff"))
    assert waiting is not None and waiting.reason == ERR_IMAGE_PULL


def test_an_existing_image_is_pulled() -> None:
    kubelet, _ = puller(["ghcr.io/example/app:1.*"])
    assert kubelet.ensure("pod", container("ghcr.io/example/app:1.4.0")) is None


def test_a_missing_image_fails_then_backs_off_then_retries_with_doubling_delays() -> None:
    kubelet, clock = puller(["ghcr.io/example/app:1.*"])
    image = container("ghcr.io/example/app:9")
    seen: list[tuple[str, float]] = []
    start = clock.now
    # follow the kubelet through each recheck it asks for, as the simulator does
    for _ in range(20):
        waiting = kubelet.ensure("pod", image)
        assert waiting is not None and waiting.recheck_in is not None
        seen.append((waiting.reason, clock.now - start))
        clock.now += waiting.recheck_in
    pulls = [at for reason, at in seen if reason == ERR_IMAGE_PULL]
    reasons = [reason for reason, _ in seen]
    assert reasons[:4] == [ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF]
    # pulls at 0, 10, 30, 70, 150, 310, then every 300 s (the ceiling)
    assert pulls[:8] == [0, 10, 30, 70, 150, 310, 610, 910]


def test_messages_are_kubelets() -> None:
    kubelet, clock = puller([])
    image = container("ghcr.io/example/app:9")
    first = kubelet.ensure("pod", image)
    assert first == Waiting(ERR_IMAGE_PULL, MISSING, 1.0)
    clock.now += 1.0
    backoff = kubelet.ensure("pod", image)
    assert backoff == Waiting(
        IMAGE_PULL_BACKOFF,
        f'Back-off pulling image "ghcr.io/example/app:9": ErrImagePull: {MISSING}',
        9.0,
    )
    assert backoff.state() == {
        "waiting": {"reason": IMAGE_PULL_BACKOFF, "message": backoff.message}
    }


def test_time_scale_shortens_the_back_off() -> None:
    kubelet, clock = puller([], scale=0.01)
    image = container("nginx:nope")
    first = kubelet.ensure("pod", image)
    assert first is not None and first.recheck_in is not None
    assert abs(first.recheck_in - 0.01) < 1e-9
    clock.now += 0.01
    backoff = kubelet.ensure("pod", image)
    assert backoff is not None and backoff.recheck_in is not None
    assert abs(backoff.recheck_in - 0.09) < 1e-9


def test_a_pushed_image_is_found_at_the_next_retry_not_before(tmp_path: Any) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("nginx:1.27\n")
    clock = Clock()
    catalog = ImageCatalog.from_file(listing, clock=clock)
    kubelet = ImagePuller(catalog, 1.0, clock)
    image = container("ghcr.io/example/app:9")
    assert kubelet.ensure("pod", image) is not None
    listing.write_text("nginx:1.27\nghcr.io/example/app:9\n")
    clock.now += 5
    waiting = kubelet.ensure("pod", image)
    assert waiting is not None and waiting.reason == IMAGE_PULL_BACKOFF
    clock.now += 5
    assert kubelet.ensure("pod", image) is None


def test_back_off_is_per_pod_and_forgotten_with_the_pod() -> None:
    kubelet, clock = puller([])
    image = container("nginx:nope")
    kubelet.ensure("a", image)
    clock.now += 5
    a = kubelet.ensure("a", image)
    b = kubelet.ensure("b", image)
    assert a is not None and a.reason == IMAGE_PULL_BACKOFF
    assert b is not None and b.reason == ERR_IMAGE_PULL
    kubelet.forget("a")
    again = kubelet.ensure("a", image)
    assert again is not None and again.reason == ERR_IMAGE_PULL


def test_invalid_names_wait_with_invalid_image_name() -> None:
    kubelet, _ = puller(["**:*"])
    waiting = kubelet.ensure("pod", container("Nginx:1"))
    assert waiting == Waiting(
        INVALID_IMAGE_NAME,
        'Failed to apply default image tag "Nginx:1": couldn\'t parse image name "Nginx:1": '
        "invalid reference format: repository name (library/Nginx) must be lowercase",
    )


def test_pull_policy_never_and_if_not_present_use_the_images_on_the_node() -> None:
    kubelet, _ = puller(["nginx:1.27"])
    never = kubelet.ensure("a", container("nginx:1.27", "Never"))
    assert never is not None and never.reason == ERR_IMAGE_NEVER_PULL
    assert never.message == 'Container image "nginx:1.27" is not present with pull policy of Never'
    assert kubelet.ensure("a", container("nginx:1.27", "IfNotPresent")) is None
    # on the node now: Never starts it, and so does IfNotPresent after the registry lost it
    assert kubelet.ensure("b", container("nginx:1.27", "Never")) is None
    kubelet.catalog = ImageCatalog.from_patterns([])
    assert kubelet.ensure("c", container("docker.io/library/nginx:1.27")) is None
    pulled = kubelet.ensure("d", container("nginx:1.27", "Always"))
    assert pulled is not None and pulled.reason == ERR_IMAGE_PULL
