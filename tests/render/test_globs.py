"""Argo CD include/exclude glob semantics."""

from __future__ import annotations

import pytest

from tether.render import glob_match


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.yaml", "a.yaml", True),
        ("*.yaml", "sub/a.yaml", True),  # no separator: * crosses folders, as in Argo CD
        ("*.yaml", "a.yml", False),
        ("{a,b}.yaml", "b.yaml", True),
        ("{a,b}.yaml", "c.yaml", False),
        ("{config.json,env-usw2/*}", "env-usw2/x.yaml", True),
        ("{x,{y,z}1}.json", "z1.json", True),
        ("?.json", "ab.json", False),
        ("[ab].json", "b.json", True),
        ("[!ab].json", "b.json", False),
        ("a\\*.yaml", "a*.yaml", True),
        ("a\\*.yaml", "ab.yaml", False),
        ("deploy.(x).yaml", "deploy.(x).yaml", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected
