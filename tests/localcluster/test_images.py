"""Image references as the kubelet reads them, and the catalog of images that exist."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.localcluster import images
from tether.localcluster.errors import ImageCatalogError, InvalidImageReferenceError
from tether.localcluster.images import ImageCatalog, parse_reference

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32


@pytest.mark.parametrize(
    ("image", "full", "familiar"),
    [
        ("nginx", "docker.io/library/nginx:latest", "nginx"),
        ("nginx:1.27", "docker.io/library/nginx:1.27", "nginx"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1", "nginx"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7", "bitnami/redis"),
        ("ghcr.io/example/payment-service:1.4.0", "ghcr.io/example/payment-service:1.4.0", None),
        ("localhost:5000/app", "localhost:5000/app:latest", None),
        ("localhost/app:2", "localhost/app:2", None),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}", "nginx"),
        (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}", "nginx"),
    ],
)
def test_references_are_normalised_as_docker_does(
    image: str, full: str, familiar: str | None
) -> None:
    ref = parse_reference(image)
    assert str(ref) == full
    assert ref.familiar_name == (familiar or ref.name)


@pytest.mark.parametrize(
    ("image", "error"),
    [
        ("", "invalid reference format"),
        ("Nginx:1", "invalid reference format: repository name (library/Nginx) must be lowercase"),
        ("example.com/App:1", "repository name (App) must be lowercase"),
        ("nginx:-1", "invalid reference format"),
        ("nginx:" + "x" * 129, "invalid reference format"),
        ("nginx@sha256:abc", "invalid reference format"),
        ("nginx@sha256:" + "a" * 40, "invalid checksum digest length"),
        ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("a" * 256, "repository name must not be more than 255 characters"),
        ("ab" * 32, "cannot specify 64-byte hexadecimal strings"),
        ("my app:1", "invalid reference format"),
        ("x" * 5000, "invalid reference format"),
    ],
)
def test_references_that_do_not_parse_say_why(image: str, error: str) -> None:
    with pytest.raises(InvalidImageReferenceError) as caught:
        parse_reference(image)
    assert error in caught.value.message


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=300) | st.text(alphabet="abAB09./:@-_sha256", max_size=80))
def test_any_text_parses_or_is_refused_with_the_one_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidImageReferenceError:
        return
    # what parses is stable: its full form reads back as the same reference
    expected = ref if ref.tag or ref.digest else replace(ref, tag="latest")
    assert parse_reference(str(ref)) == expected


CATALOG = [
    "ghcr.io/example/payment-service:1.*",
    "nginx:*",
    "busybox",
    f"redis@{DIGEST}",
    "ghcr.io/team/*:stable",
    "quay.io/**:v{1,2}",
    "ghcr.io/pinned/app:2.0@*",
]


@pytest.mark.parametrize(
    ("image", "exists"),
    [
        ("ghcr.io/example/payment-service:1.4.0", True),
        ("ghcr.io/example/payment-service:1.4.O", True),  # a glob accepts what it accepts
        ("ghcr.io/example/payment-service:14.0", False),
        ("ghcr.io/example/payment-service:2.0.0", False),
        ("ghcr.io/example/catalog-service:1.0", False),
        ("nginx:1.27", True),
        ("docker.io/library/nginx:1.27", True),
        ("nginx", True),  # nginx:latest, accepted by nginx:*
        (f"nginx@{DIGEST}", False),  # by digest: only digest patterns count
        ("busybox", True),
        ("busybox:latest", True),
        ("busybox:1.36", False),  # a pattern without tag means :latest only
        (f"redis@{DIGEST}", True),
        (f"redis:7@{DIGEST}", True),  # pulled by its digest
        (f"redis@{OTHER_DIGEST}", False),
        ("redis:7", False),
        ("ghcr.io/team/api:stable", True),
        ("ghcr.io/team/sub/api:stable", False),  # * stops at /
        ("quay.io/a/b/c:v2", True),  # ** does not
        ("quay.io/a:v3", False),
        ("ghcr.io/pinned/app:2.0", True),
        (f"ghcr.io/pinned/app@{OTHER_DIGEST}", True),
        ("Nginx:1", False),  # does not parse: never exists
    ],
)
def test_catalog_answers_per_reference(image: str, exists: bool) -> None:
    assert ImageCatalog.from_patterns(CATALOG).exists(image) is exists


def test_a_globbed_repository_matches_the_short_and_the_full_name() -> None:
    catalog = ImageCatalog.from_patterns(["*:1", "docker.io/bitnami/*:2"])
    assert catalog.exists("nginx:1")
    assert catalog.exists("docker.io/library/nginx:1")
    assert not catalog.exists("ghcr.io/x/y:1")
    assert catalog.exists("bitnami/redis:2")


def test_an_empty_catalog_has_no_image() -> None:
    assert not ImageCatalog.from_patterns([]).exists("nginx:1.27")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "ghcr.io/", "localhost:5000/", "quay.io/org/"]),
    st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_a_listed_reference_exists_and_its_neighbour_does_not(
    prefix: str, name: str, tag: str
) -> None:
    image = f"{prefix}{name}:{tag}"
    catalog = ImageCatalog.from_patterns([image])
    assert catalog.exists(image)
    assert catalog.exists(str(parse_reference(image)))
    assert not catalog.exists(f"{prefix}{name}:{tag}x")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("nginx:[1", "unclosed '['"),
        ("Nginx:1", "is no repository"),
        ("nginx:-x", "is no tag"),
        ("nginx@sha256:12", "is no digest"),
        (":1", "no repository"),
        ("ghcr.io/x:{a,b", "unclosed '{'"),
        ("a" * 1100 + "*:1", "longer than 1024"),
    ],
)
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, line: str, error: str) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text(f"# the demo's images\nnginx:*\n\n{line}\n")
    with pytest.raises(ImageCatalogError) as caught:
        ImageCatalog.from_file(listing)
    assert caught.value.message.startswith(f"{listing}:4: ")
    assert error in caught.value.message


def test_a_file_has_comments_blank_lines_and_trailing_comments(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("# registry of the demo\n\n  nginx:1.*   # web\nbusybox\n")
    catalog = ImageCatalog.from_file(listing)
    assert catalog.patterns == ["nginx:1.*", "busybox"]
    assert catalog.exists("nginx:1.27")


def test_files_that_cannot_serve_are_refused_with_a_reason(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.txt": "cannot read",
        tmp_path: "not a regular file",
    }
    big = tmp_path / "big.txt"
    big.write_bytes(b"#" * (images.MAX_CATALOG_BYTES + 1))
    cases[big] = "larger than"
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"nginx:1\n\xff\xfe\n")
    cases[binary] = "not UTF-8"
    many = tmp_path / "many.txt"
    many.write_text("".join(f"app{i}:1\n" for i in range(images.MAX_PATTERNS + 1)))
    cases[many] = f"more than {images.MAX_PATTERNS} patterns"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases[fifo] = "not a regular file"
    for path, error in cases.items():
        with pytest.raises(ImageCatalogError) as caught:
            ImageCatalog.from_file(path)
        assert error in caught.value.message, path
        assert str(path) in caught.value.message


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _following(path: Path) -> tuple[ImageCatalog, _Clock]:
    clock = _Clock()
    return ImageCatalog.from_file(path, clock=clock), clock


def test_a_file_catalog_follows_edits_at_most_once_a_second(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("nginx:1.27\n")
    catalog, clock = _following(listing)
    assert not catalog.exists("ghcr.io/example/app:2")
    listing.write_text("nginx:1.27\nghcr.io/example/app:2\n")
    assert not catalog.exists("ghcr.io/example/app:2")  # not looked at again yet
    clock.now += images.RELOAD_INTERVAL
    assert catalog.exists("ghcr.io/example/app:2")  # the image was "pushed"
    listing.write_text("ghcr.io/example/app:2\n")
    clock.now += images.RELOAD_INTERVAL
    assert not catalog.exists("nginx:1.27")  # and removed


def test_a_file_that_breaks_keeps_the_previous_list(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("nginx:1.27\n")
    catalog, clock = _following(listing)
    listing.write_text("nginx:[\n")
    clock.now += images.RELOAD_INTERVAL
    assert catalog.exists("nginx:1.27")
    assert catalog.reload_error is not None and f"{listing}:1:" in catalog.reload_error
    listing.unlink()
    clock.now += images.RELOAD_INTERVAL
    assert catalog.exists("nginx:1.27")
    assert "cannot read" in (catalog.reload_error or "")
    listing.write_text("redis:7\n")
    clock.now += images.RELOAD_INTERVAL
    assert catalog.exists("redis:7") and not catalog.exists("nginx:1.27")
    assert catalog.reload_error is None


HOSTILE = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from tether.localcluster.images import ImageCatalog, parse_reference
from tether.localcluster.errors import InvalidImageReferenceError
references = [
    "a" * 255 + "!", "a-" * 127 + "!", "a." * 2000, "a/" * 2000, "a" * 250 + ":" + "b" * 4000,
    "a@" + "sha256:" * 500, "a:" * 2000, "[" * 4000, "x/" * 100 + "y@sha256:" + "f" * 3900,
]
patterns = ["*a" * 300 + "*b:*", "**/" * 300 + "x:{" + "a," * 300 + "b}", "{" * 200 + "a" + "}" * 200 + ":1"]
catalog = ImageCatalog.from_patterns(patterns)
refused = 0
for text in references:
    try:
        parse_reference(text)
    except InvalidImageReferenceError:
        refused += 1
    catalog.exists(text)
catalog.exists("a" * 250 + ":" + "a" * 100)
print(refused)
"""


def test_hostile_references_and_patterns_are_answered_in_bounded_time_and_memory() -> None:
    # a child with 1 GiB of address space and a deadline: a regression hangs or dies there
    result = subprocess.run(
        [sys.executable, "-c", HOSTILE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "9"
