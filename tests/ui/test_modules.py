"""The UI's pure modules run in Chromium, served as static files: the YAML printer reads back
with PyYAML as the same value, Secret values stay masked, markup is escaped, and the unified
diff becomes paired side-by-side rows."""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, Page, Route

import tether.server

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

UI_DIR = Path(tether.server.__file__).parent / "ui"

TRICKY: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x", "labels": {}, "annotations": {"a/b": "yes: no", "#c": "- d"}},
    "data": {
        "bools": ["true", "False", "yes", "no", "on", "OFF", "y", "n", "~", "null", "NULL"],
        "numbers": ["1", "-1.5", "1e3", "0x1F", "0o17", ".inf", "-.NaN", "010", "1_000", "+1"],
        "dates": ["2024-01-01", "2024-1-1 10:00"],
        "indicators": ["- x", "? x", ": x", "[x]", "{x}", "#x", "&x", "*x", "!x", "|x", ">x", "@x"],
        "spaces": [" lead", "trail ", "a #b", "a: b", "ends:", "tab\there", ""],
        "quotes": ["it's", 'say "hi"', "'", '"'],
        "control": "bell\x07char",
        "unicode": "café ☕",
        "literal": "line one\nline two\n",
        "no_newline": "a\nb",
        "kept": "a\n\n",
        "indented_first": "  indented\nnext\n",
        "in_a_list": ["x\ny\n", "  z\n", {"k": "v\nw"}],
        "nested": [[1, [2, []]], {}, [{}], {"x": [{"y": None, "z": False}]}],
        "numbers_real": [0, -3, 2.5, True, None],
        "": "empty key",
        "true": "key that looks like a bool",
        "123": "key that looks like a number",
    },
}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(UI_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture(loop_scope="session")
async def blank(browser: Browser, static_url: str) -> AsyncIterator[Page]:
    """An empty page on the static server's origin, so the modules can be imported."""
    context = await browser.new_context()
    page = await context.new_page()

    async def empty(route: Route) -> None:
        await route.fulfill(body="<!doctype html><title>modules</title>", content_type="text/html")

    await page.route(f"{static_url}/blank", empty)
    await page.goto(f"{static_url}/blank")
    try:
        yield page
    finally:
        await context.close()


async def test_yaml_printer_output_reads_back_as_the_same_value(blank: Page) -> None:
    text = await blank.evaluate("async (value) => (await import('/yaml.js')).toYaml(value)", TRICKY)
    assert yaml.safe_load(text) == TRICKY
    # kubectl's layout: sequences under a key are not indented; block literals for text
    assert "\nmetadata:\n  name: x\n" in text
    assert "  bools:\n  - 'true'\n" in text
    assert "  literal: |\n    line one\n    line two\n" in text
    for scalar in ("[]", "{}", "null", 42, "plain words"):
        assert (
            yaml.safe_load(
                await blank.evaluate("async (v) => (await import('/yaml.js')).toYaml(v)", scalar)
            )
            == scalar
        )


async def test_secret_values_are_masked_even_when_the_api_did_not(blank: Page) -> None:
    masked = await blank.evaluate(
        """async () => (await import('/yaml.js')).maskSecret({
            kind: 'Secret', metadata: {name: 's'},
            data: {plain: 'c2VjcmV0', already: '++++++++++', empty: null},
            stringData: {token: 'hunter2'},
        })"""
    )
    assert masked["data"] == {"plain": "++++++++", "already": "++++++++++", "empty": None}
    assert masked["stringData"] == {"token": "++++++++"}
    config_map = await blank.evaluate(
        "async () => (await import('/yaml.js')).maskSecret({kind: 'ConfigMap', data: {a: 'b'}})"
    )
    assert config_map["data"] == {"a": "b"}


async def test_interpolated_text_is_escaped_and_nested_markup_is_not(blank: Page) -> None:
    markup = await blank.evaluate(
        """async () => {
            const {html} = await import('/html.js');
            const inner = html`<i>${'<img src=x onerror=alert(1)>'}</i>`;
            return html`<b title="${'" onmouseover="x'}">${inner}${[1, null, false, '&']}</b>`.value;
        }"""
    )
    assert markup == (
        '<b title="&quot; onmouseover=&quot;x"><i>&lt;img src=x onerror=alert(1)&gt;</i>1&amp;</b>'
    )


async def test_unified_diff_becomes_paired_side_by_side_rows(blank: Page) -> None:
    unified = (
        "--- live\n+++ desired\n@@ -3,4 +3,5 @@\n spec:\n-  replicas: 4\n-  paused: true\n"
        "+  replicas: 2\n   selector: {}\n+  added: x\n"
    )
    rows = await blank.evaluate(
        "async (text) => (await import('/diff.js')).sideBySide(text)", unified
    )

    def side(cell: dict[str, Any] | None) -> tuple[int, str, str] | None:
        return None if cell is None else (cell["no"], cell["text"], cell["change"])

    assert rows[0] == {"hunk": "@@ -3,4 +3,5 @@"}
    assert [(side(r["left"]), side(r["right"])) for r in rows[1:]] == [
        ((3, "spec:", ""), (3, "spec:", "")),
        ((4, "  replicas: 4", "del"), (4, "  replicas: 2", "add")),
        ((5, "  paused: true", "del"), None),
        ((6, "  selector: {}", ""), (5, "  selector: {}", "")),
        (None, (6, "  added: x", "add")),
    ]


async def test_the_images_section_escapes_text_and_links_only_http_addresses(blank: Page) -> None:
    answer = {
        "images": [
            {
                "image": "ghcr.io/acme/<b>web</b>:1.0",
                "repository": "ghcr.io/acme/<b>web</b>",
                "tag": "1.0",
                "latestTag": "1.1",
                "updateAvailable": True,
                "policies": [{"name": "web"}],
                "workloads": [{"kind": "Deployment", "name": "web", "container": "app"}],
                "pullRequests": [
                    {"number": 3, "url": "javascript:alert(1)", "state": "open"},
                    {"number": 4, "url": "https://git.example/pull/4", "state": "open"},
                ],
            },
            {"image": "redis:7", "repository": "docker.io/library/redis", "tag": "7"},
        ],
        "notes": ["Flux's CRDs are <missing>"],
    }
    markup = await blank.evaluate(
        "async (a) => (await import('/images.js')).imagesHtml(a).value", answer
    )
    assert "<b>" not in markup and "&lt;b&gt;web&lt;/b&gt;" in markup
    assert "javascript:" not in markup and 'href="https://git.example/pull/4"' in markup
    assert "Pull request #4" in markup and ">#3</span>" in markup
    assert "update available" in markup and "no policy" in markup
    assert "Flux&#39;s CRDs are &lt;missing&gt;" in markup
    empty = await blank.evaluate(
        "async () => (await import('/images.js')).imagesHtml({images: [], notes: []}).value"
    )
    assert "No container images" in empty
