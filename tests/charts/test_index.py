"""Reading index.yaml: what Helm writes, malformed entries skipped, bounds held."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.conftest import PLACEHOLDER_URL
from tether.charts import ChartIndexError, ChartLimitError, ChartLimits, parse_index
from tether.charts.index import normalize_digest

REPO = "https://charts.example.com"


def test_an_index_written_by_helm_is_read_newest_first(packaged: Path) -> None:
    body = (packaged / "index.yaml").read_bytes()  # written by `helm repo index`

    index = parse_index(body, PLACEHOLDER_URL, ChartLimits())

    web = index.charts["web"]
    assert [v.version for v in web] == [
        "2.1.0-beta.1", "2.0.0", "1.3.0-rc.1", "1.2.5", "1.2.0", "1.0.0"
    ]  # fmt: skip
    assert web[1].digest is not None and web[1].digest.startswith("sha256:")
    assert web[1].urls == (f"{PLACEHOLDER_URL}/web-2.0.0.tgz",)
    assert web[1].app_version == "2.0.0" and web[1].created.startswith("20")
    assert index.skipped == 0 and len(index.content_sha256) == 64


def test_malformed_entries_are_skipped_and_counted() -> None:
    body = b"""apiVersion: v1
entries:
  ok:
  - {name: ok, version: 1.0.0, urls: [ok-1.0.0.tgz], dependencies: [{name: lib, version: ^1, repository: "https://x"}]}
  - {name: ok, version: 1.1.0}
  - just text
  - {name: ok, urls: [x.tgz]}
  broken: 7
"""
    index = parse_index(body, REPO, ChartLimits())

    assert [v.version for v in index.charts["ok"]] == ["1.0.0"]
    assert index.charts["ok"][0].dependencies[0].repository == "https://x"
    assert index.skipped == 4 and "broken" not in index.charts


def test_a_number_spelled_version_is_read_as_text() -> None:
    body = b"apiVersion: v1\nentries:\n  c:\n  - {name: c, version: 2, urls: [c.tgz]}\n"

    assert parse_index(body, REPO, ChartLimits()).charts["c"][0].version == "2"


def test_digests_are_normalized_and_odd_ones_kept_for_refusal() -> None:
    hex_digest = "0f" * 32
    assert normalize_digest(hex_digest) == f"sha256:{hex_digest}"
    assert normalize_digest(f"sha256:{hex_digest.upper()}") == f"sha256:{hex_digest}"
    assert normalize_digest("md5:abc") == "md5:abc"
    assert normalize_digest("") is None and normalize_digest(None) is None


@pytest.mark.parametrize("body", [b"<html>Not here</html>", b"- a\n- b\n", b"kind: Foo\n"])
def test_something_that_is_not_an_index_says_so(body: bytes) -> None:
    with pytest.raises(ChartIndexError, match="is repoURL the URL of a Helm repository"):
        parse_index(body, REPO, ChartLimits())


def test_invalid_yaml_is_an_index_error_with_its_line() -> None:
    with pytest.raises(ChartIndexError, match="not valid YAML: line 3"):
        parse_index(b"apiVersion: v1\nentries: {a: [\n", REPO, ChartLimits())


def test_an_index_past_the_size_limit_is_refused() -> None:
    body = b"apiVersion: v1\nentries: {}\n" + b"#" * 2000

    with pytest.raises(ChartLimitError, match="too large"):
        parse_index(body, REPO, ChartLimits(max_index_bytes=1024))
