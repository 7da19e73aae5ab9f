"""Posting a preview on its pull request: one comment, edited in place on each new push (found by
its marker), and the ``tether/preview`` commit status on the head commit."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tether.controller.previews import report
from tether.controller.previews.models import PullPreview
from tether.controller.previews.settings import PreviewSettings
from tether.githost import GitHost, GitHostError, host_for, repo_path
from tether.githost.errors import GitHostAuthError, GitHostNotFoundError

log = logging.getLogger(__name__)

#: comments carrying the marker tried for an edit at most (someone may quote it)
MAX_EDIT_TRIES = 3

HostFactory = Callable[..., GitHost]


async def upsert_comment(host: GitHost, repo: str, number: int, body: str) -> None:
    """Edit the newest comment carrying the marker, or post one. A comment that is not ours
    (someone quoted the marker) refuses the edit: the next older one is tried, then a new one
    is posted."""
    ours = [c for c in await host.comments(repo, number) if report.MARKER in c.body]
    for comment in reversed(ours[-MAX_EDIT_TRIES:]):
        try:
            await host.edit_comment(repo, number, comment.id, body)
            return
        except (GitHostAuthError, GitHostNotFoundError):
            continue
    await host.comment(repo, number, body)


def open_host(
    preview: PullPreview, settings: PreviewSettings, hosts: HostFactory = host_for
) -> tuple[GitHost, str] | None:
    """The client and repository path to post ``preview`` with; None without a token."""
    token = settings.token(preview.provider)
    if not token:
        return None
    host = hosts(
        preview.repo_url,
        settings.provider(preview.provider),
        token,
        api_url=settings.api_url(preview.provider),
    )
    return host, repo_path(preview.repo_url)


async def set_pending(
    preview: PullPreview, settings: PreviewSettings, hosts: HostFactory = host_for
) -> str | None:
    """The ``pending`` status while the apps are compared; a problem's words, or None."""
    try:
        opened = open_host(preview, settings, hosts)
        if opened is None:
            return None
        host, repo = opened
        try:
            await host.set_commit_status(
                repo, preview.head_sha, "pending", report.STATUS_CONTEXT, "previewing"
            )
        finally:
            await host.aclose()
    except GitHostError as exc:
        return exc.message
    return None


async def post(
    preview: PullPreview, settings: PreviewSettings, hosts: HostFactory = host_for
) -> tuple[str, ...]:
    """Comment and status of ``preview``; the problems met (none: both posted)."""
    try:
        opened = open_host(preview, settings, hosts)
    except GitHostError as exc:
        return (exc.message,)
    if opened is None:
        return (
            f"no token for {settings.provider(preview.provider)}: the preview is not posted "
            "(set preview.<provider>.token in tether-secret)",
        )
    host, repo = opened
    problems: list[str] = []
    target = _target_url(preview, settings)
    try:
        body = report.comment(preview, settings.ui_url, settings.max_comment)
        for step, call in (
            ("comment", lambda: upsert_comment(host, repo, preview.number, body)),
            (
                "status",
                lambda: host.set_commit_status(
                    repo,
                    preview.head_sha,
                    preview.state,
                    report.STATUS_CONTEXT,
                    report.status_description(preview),
                    target,
                ),
            ),
        ):
            try:
                await call()
            except GitHostError as exc:
                log.warning("preview of pull request %s: %s: %s", preview.number, step, exc)
                problems.append(f"{step}: {exc.message}")
    finally:
        await host.aclose()
    return tuple(problems)


def _target_url(preview: PullPreview, settings: PreviewSettings) -> str | None:
    failed = [app for app in preview.apps if app.failed]
    shown = failed or list(preview.apps)
    if not shown:
        return None
    return report.link(settings.ui_url, shown[0].app, preview.number) or None
