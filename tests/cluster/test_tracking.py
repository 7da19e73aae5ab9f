"""Resource tracking ids, stamping and the foreign-copy rule, as Argo CD 3 applies them."""

from __future__ import annotations

import pytest

from tether.cluster import (
    INSTANCE_LABEL,
    TRACKING_ANNOTATION,
    Tracking,
    TrackingId,
    TrackingMethod,
    is_managed_by,
    owning_app,
    stamp,
)

from .conftest import config_map, deployment


def test_tracking_id_of_core_object_has_empty_group() -> None:
    stamped = stamp(config_map("cm", "default"), "myapp")
    assert stamped["metadata"]["annotations"][TRACKING_ANNOTATION] == "myapp:/ConfigMap:default/cm"


def test_tracking_id_of_grouped_and_cluster_scoped_objects() -> None:
    stamped = stamp(deployment("web", "prod"), "shop")
    assert (
        stamped["metadata"]["annotations"][TRACKING_ANNOTATION] == "shop:apps/Deployment:prod/web"
    )
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    assert (
        stamp(ns, "shop")["metadata"]["annotations"][TRACKING_ANNOTATION] == "shop:/Namespace:/prod"
    )


def test_stamp_leaves_the_input_untouched_and_keeps_other_annotations() -> None:
    original = config_map("cm", "default", annotations={"keep": "me"})
    stamped = stamp(original, "a")
    assert original["metadata"]["annotations"] == {"keep": "me"}
    assert stamped["metadata"]["annotations"]["keep"] == "me"


def test_parse_round_trips_and_rejects_malformed_values() -> None:
    parsed = TrackingId.parse("shop:apps/Deployment:prod/web")
    assert parsed == TrackingId("shop", "apps", "Deployment", "prod", "web")
    assert str(parsed) == "shop:apps/Deployment:prod/web"
    for bad in (
        "shop",
        "shop:Deployment:prod/web",
        "shop:apps/Deployment:web",
        ":/ConfigMap:a/b",
        "a:b:c:d",
    ):
        assert TrackingId.parse(bad) is None, bad


def test_live_object_with_its_own_tracking_id_belongs_to_the_app() -> None:
    live = stamp(config_map("cm", "default"), "myapp")
    assert owning_app(live) == "myapp"
    assert is_managed_by(live, "myapp") and not is_managed_by(live, "other")


def test_copied_object_with_a_foreign_tracking_id_is_not_managed() -> None:
    original = stamp(config_map("cm", "default"), "myapp")
    copy_elsewhere = {**original, "metadata": {**original["metadata"], "namespace": "other-ns"}}
    renamed = {**original, "metadata": {**original["metadata"], "name": "cm-copy"}}
    other_kind = {**original, "kind": "Secret"}
    for copied in (copy_elsewhere, renamed, other_kind):
        assert owning_app(copied) is None


def test_label_tracking_uses_the_instance_label_only() -> None:
    stamped = stamp(config_map("cm", "default"), "myapp", TrackingMethod.LABEL)
    assert stamped["metadata"]["labels"] == {INSTANCE_LABEL: "myapp"}
    assert "annotations" not in stamped["metadata"]
    assert owning_app(stamped, TrackingMethod.LABEL) == "myapp"
    # Label tracking cannot tell a copy from the original: the copy counts, as in Argo CD.
    moved = {**stamped, "metadata": {**stamped["metadata"], "namespace": "x"}}
    assert owning_app(moved, TrackingMethod.LABEL) == "myapp"
    assert owning_app(stamped) is None  # annotation tracking ignores the label
    with pytest.raises(ValueError, match="longer than 63"):
        stamp(config_map("cm", "default"), "a" * 64, TrackingMethod.LABEL)


def test_annotation_and_label_tracks_by_annotation_and_truncates_the_label() -> None:
    tracking = Tracking(TrackingMethod.ANNOTATION_AND_LABEL, label_key="team/instance")
    name = "x" * 70
    stamped = tracking.stamp(config_map("cm", "default"), name)
    assert stamped["metadata"]["labels"]["team/instance"] == "x" * 63
    assert stamped["metadata"]["annotations"][TRACKING_ANNOTATION].startswith(name + ":")
    assert tracking.owning_app(stamped) == name
    unlabelled_copy = {**stamped, "metadata": {**stamped["metadata"], "name": "other"}}
    assert tracking.owning_app(unlabelled_copy) is None
