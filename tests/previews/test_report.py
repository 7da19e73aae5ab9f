"""The preview's words: object changes from a real diff, the comment's escaping and bounds, the
status description."""

from __future__ import annotations

import copy
from typing import Any

from tether.controller.previews import AppPreview, ObjectChange, PullPreview
from tether.controller.previews.models import ImageChange
from tether.controller.previews.report import (
    MARKER,
    code,
    comment,
    fenced,
    image_changes,
    object_change,
    status_description,
)
from tether.engine.diff import diff_resource


def deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "initContainers": [{"name": "migrate", "image": "tools:1"}],
                    "containers": [{"name": "web", "image": image}],
                }
            },
        },
    }


def test_an_image_bump_is_one_changed_field_and_one_image() -> None:
    live, desired = deployment("shop/web:1.0"), deployment("shop/web:1.1")
    change = object_change(diff_resource(desired, live))
    assert change is not None
    assert (change.action, change.title) == ("changed", "apps/Deployment shop/web")
    assert change.fields == ("/spec/template/spec/containers/0/image",)
    assert change.images == (ImageChange("web", "shop/web:1.0", "shop/web:1.1"),)
    assert "-        image: shop/web:1.0" in change.diff.replace("  - ", "")


def test_a_synced_object_is_no_change_and_an_added_one_shows_its_images() -> None:
    same = deployment("shop/web:1.0")
    assert object_change(diff_resource(same, copy.deepcopy(same))) is None
    added = object_change(diff_resource(deployment("shop/web:2"), None))
    assert added is not None and added.action == "added"
    assert {i.container: (i.old, i.new) for i in added.images} == {
        "migrate": ("", "tools:1"),
        "web": ("", "shop/web:2"),
    }


def test_cronjob_images_are_found() -> None:
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "job", "image": "a:1"}]}}}}}}  # fmt: skip
    bumped = copy.deepcopy(cron)
    bumped["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = "a:2"
    assert image_changes(cron, bumped) == (ImageChange("job", "a:1", "a:2"),)


def test_secret_values_never_reach_the_change() -> None:
    def secret(value: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "s"},
                "data": {"password": value}}  # fmt: skip

    change = object_change(diff_resource(secret("bmV3LXNlY3JldA=="), secret("b2xkLXNlY3JldA==")))
    assert change is not None and change.fields == ("/data/password",)
    assert "bmV3LXNlY3JldA==" not in change.diff and "b2xkLXNlY3JldA==" not in change.diff


def test_hostile_names_cannot_break_out_of_code() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("line\nbreak <img src=x>") == "`line break <img src=x>`"
    text = "```\n# not a heading\n````"
    block = fenced(text)
    assert block.startswith("`````text\n") and block.endswith("\n`````")


def pull(apps: tuple[AppPreview, ...], **changes: Any) -> PullPreview:
    base = PullPreview("github", "https://h/acme/deploy.git", 5, "a" * 40, "main", apps=apps)
    return PullPreview(**{**base.__dict__, **changes})


def test_the_comment_is_marked_linked_and_bounded() -> None:
    change = ObjectChange("changed", "apps", "Deployment", "shop", "web", ("/spec/x",), (), "")
    apps = tuple(AppPreview(f"app-{i:03}", "default", "a" * 40, (change,)) for i in range(300))
    text = comment(pull(apps), "https://cd.example.com", 4_000)
    assert text.startswith(MARKER) and len(text) <= 4_000
    assert "(https://cd.example.com/applications/app-000/preview/5)" in text
    assert "more applications." in text and "do not fit here" in text
    rows = text.count("| [`app-")
    assert 0 < rows < 50 and f"and {300 - rows} more applications." in text  # bounded too
    assert comment(pull(apps), "https://cd.example.com", 60_000).count("| [`app-") == 50


def test_failures_fail_the_status_and_name_the_app() -> None:
    broken = AppPreview("prod", "default", "a" * 40, failure="render",
                        error="apps/prod/kustomization.yaml:3: invalid YAML")  # fmt: skip
    preview = pull((broken, AppPreview("staging", "default", "a" * 40)))
    assert preview.state == "failure"
    assert status_description(preview) == "prod: apps/prod/kustomization.yaml:3: invalid YAML"
    text = comment(preview, "", 60_000)
    assert "render failed" in text and "apps/prod/kustomization.yaml:3" in text
    assert "](" not in text  # no UI address: no links
    assert status_description(pull(())) == "no application affected"
    assert comment(pull((), error="could not fetch"), "", 60_000).count("could not fetch") == 1
