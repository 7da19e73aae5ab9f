"""The demo's list of images that exist: the services' tags, Docker's official images, no typo."""

from __future__ import annotations

from pathlib import Path

from tether.demo.images import ensure_image_list
from tether.localcluster.images import ImageCatalog


def test_the_first_list_has_the_demos_tags_and_not_a_typo(tmp_path: Path) -> None:
    catalog = ImageCatalog.from_file(ensure_image_list(tmp_path))
    for image in (
        "ghcr.io/example/payment-service:1.4.0",
        "ghcr.io/example/payment-service:1.5.0",
        "ghcr.io/example/catalog-service:2.1.3",
        "nginx:1.27",
    ):
        assert catalog.exists(image), image
    for image in ("ghcr.io/example/payment-service:1.5.O", "ghcr.io/example/catalog-service:2.1"):
        assert not catalog.exists(image), image


def test_the_users_list_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "images.txt"
    path.write_text("registry.example.com/mine:1.0\n")
    assert ensure_image_list(tmp_path) == path
    assert path.read_text() == "registry.example.com/mine:1.0\n"
