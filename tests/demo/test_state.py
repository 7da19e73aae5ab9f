"""The demo's state folder, its remembered Git port and its choice of ports (no servers started)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tether.demo.errors import DemoPortError, DemoStateError
from tether.demo.state import (
    DemoState,
    PortChoice,
    choose_port,
    default_state_dir,
    load_state,
    parse_listen,
    save_state,
)


def test_state_goes_under_xdg_data_home_else_the_home_data_folder() -> None:
    assert default_state_dir({"XDG_DATA_HOME": "/data", "HOME": "/home/u"}) == Path(
        "/data/tether/demo"
    )
    assert default_state_dir({"HOME": "/home/u"}) == Path("/home/u/.local/share/tether/demo")
    # the XDG base directory rules: a relative path is ignored
    relative = {"XDG_DATA_HOME": "data", "HOME": "/home/u"}
    assert default_state_dir(relative) == Path("/home/u/.local/share/tether/demo")


def test_the_git_port_is_remembered(tmp_path: Path) -> None:
    assert load_state(tmp_path) == DemoState()
    state = DemoState(git_port=41234, repo_url="http://127.0.0.1:41234/k8s-manifests.git")
    save_state(tmp_path, state)
    assert load_state(tmp_path) == state


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"gitPort": "80"}', b'{"gitPort": 70000, "repoURL": "u"}', b"{" * 70000],
)
def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "demo.json").write_bytes(content)
    with pytest.raises(DemoStateError, match=r"demo\.json is not the demo's state .*delete it"):
        load_state(tmp_path)


def test_a_free_default_port_is_kept_and_a_taken_one_gives_way() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        taken = held.getsockname()[1]
        assert choose_port("127.0.0.1", taken, chosen=False, option="--port") == PortChoice(
            "127.0.0.1", 0, taken=taken
        )
        with pytest.raises(DemoPortError, match=rf"127\.0\.0\.1:{taken} \(--port\) is in use"):
            choose_port("127.0.0.1", taken, chosen=True, option="--port")
    free = choose_port("127.0.0.1", taken, chosen=True, option="--port")
    assert free == PortChoice("127.0.0.1", taken) and free.note("x", taken) is None
    moved = PortChoice("127.0.0.1", 0, taken=6443)
    assert moved.note("the local cluster", 40000) == (
        "port 6443 is in use: the local cluster listens on 127.0.0.1:40000 instead"
    )


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert PortChoice("::1", 0).listen == "[::1]:0"
    for bad in ("8080", "host:", "host:http", "host:70000"):
        with pytest.raises(DemoPortError, match="--listen must be HOST:PORT"):
            parse_listen(bad)
