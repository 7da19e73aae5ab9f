"""The fake Git host's fixtures (GitHub's REST API over real bare repositories), for the commit
status notifications."""

from tests.githost.conftest import fake, fake_server, git_server, pushes, repo  # noqa: F401
