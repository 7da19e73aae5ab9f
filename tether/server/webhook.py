"""``POST /api/webhook``: a verified push from a Git forge refreshes the applications it touches;
a verified push from a container registry scans the ImageRepositories of its images.

Beside the controller, a Git push polls the repositories at once and renders only the apps whose
commits changed. A server replica (``tether server``) writes the hard refresh annotation on
every app whose repository and target revision the push names, paced (Argo CD's way).

Registry requests (distribution's notifications, Docker Hub, GHCR package events, Harbor; see
:mod:`tether.images.events` for how they are told apart) are checked first; the rest goes to
the Git parser.
"""

from __future__ import annotations

import dataclasses

import orjson
from starlette.responses import Response

from tether.controller.previews import PreviewSettings, read_settings
from tether.images.events import RegistryWebhookSecrets, parse_registry_event
from tether.names import SERVER_SECRET, SETTINGS_CONFIGMAP
from tether.server.http import JSONResponse, error_response, read_body
from tether.server.state import Context
from tether.source.errors import WebhookError, WebhookNotConfiguredError
from tether.source.pullrequests import PullRequestEvent
from tether.source.webhooks import BITBUCKET, WebhookSecrets, parse_webhook

#: keys of the ``tether-secret`` Secret (Argo CD's ``argocd-secret`` names) per provider field
SECRET_KEYS = {
    "github": "webhook.github.secret",
    "gitlab": "webhook.gitlab.secret",
    "bitbucket": "webhook.bitbucket.secret",
    "bitbucket_uuid": "webhook.bitbucket.uuid",
    "bitbucket_server": "webhook.bitbucketserver.secret",
    "gitea": "webhook.gitea.secret",
    "gogs": "webhook.gogs.secret",
    "generic": "webhook.generic.secret",
}


#: keys of ``tether-secret`` for registry webhooks (Tether's own, beside Argo CD's names)
REGISTRY_SECRET_KEYS = {
    "distribution": "webhook.registry.distribution.secret",
    "distribution_registry": "webhook.registry.distribution.host",
    "dockerhub": "webhook.registry.dockerhub.secret",
    "ghcr": "webhook.registry.ghcr.secret",
    "harbor": "webhook.registry.harbor.secret",
}


async def registry_secrets(ctx: Context) -> RegistryWebhookSecrets:
    """Registry webhook secrets from ``tether-secret``; GHCR falls back to the GitHub secret
    (one GitHub webhook may send pushes and package events)."""
    values = await ctx.state.secret_store.values()
    found = {field: values.get(key) or None for field, key in REGISTRY_SECRET_KEYS.items()}
    found["ghcr"] = found["ghcr"] or (await webhook_secrets(ctx)).github
    return RegistryWebhookSecrets(**found)


async def webhook_secrets(ctx: Context) -> WebhookSecrets:
    """Secrets from ``tether-secret``, overridden by those of the server settings."""
    values = await ctx.state.secret_store.values()
    found = {field: values.get(key) or None for field, key in SECRET_KEYS.items()}
    configured = ctx.state.settings.webhook_secrets
    if configured is not None:
        for field in dataclasses.fields(configured):
            value = getattr(configured, field.name)
            if value:
                found[field.name] = value
    return WebhookSecrets(**found)


def not_configured_message(error: WebhookNotConfiguredError, namespace: str) -> str:
    """The refusal of a provider without a secret, saying where the secret goes and how.

    The source stage names the provider; the server alone knows the Secret and its namespace,
    so it writes the way forward.
    """
    provider = error.provider
    field = provider.replace("-", "_")
    key = SECRET_KEYS.get(field) or REGISTRY_SECRET_KEYS.get(field)
    if key is None:
        return error.message
    alternative = (
        f" (or {SECRET_KEYS['bitbucket_uuid']}, the webhook's UUID)"
        if provider == BITBUCKET
        else ""
    )
    patch = orjson.dumps({"stringData": {key: "<secret>"}}).decode()
    return (
        f"{provider} webhook refused: no secret is configured for {provider}. Set the key {key}"
        f"{alternative} of Secret {SERVER_SECRET} in namespace {namespace}, for example "
        f"`kubectl -n {namespace} patch secret {SERVER_SECRET} --type merge -p '{patch}'`, "
        "and give the same secret in the webhook's settings at the forge (or the registry)"
    )


async def preview_settings(ctx: Context) -> PreviewSettings:
    """Previews' settings: ``argocd-cm`` (API URLs, the UI's address) and ``tether-secret``
    (the tokens)."""
    data = ctx.state.configmap_data(SETTINGS_CONFIGMAP)
    found = read_settings(data, await ctx.state.secret_store.values())
    # the server's own --url wins over argocd-cm's, as in /api/v1/settings
    return dataclasses.replace(found, ui_url=ctx.state.settings.url or found.ui_url)


async def _pull_request(ctx: Context, event: PullRequestEvent) -> Response:
    """A pull request opened, pushed to or closed: its preview starts (or is dropped) in the
    background; the answer names the apps that follow its base branch."""
    settings = await preview_settings(ctx)
    previewing = await ctx.state.controller.on_pull_request(event, settings)
    return JSONResponse(
        {
            "provider": event.provider,
            "pullRequest": event.number,
            "action": event.action,
            "previewing": previewing,
            "enabled": settings.enabled,
        }
    )


async def receive_webhook(ctx: Context) -> Response:
    limit = ctx.state.settings.webhook_max_bytes
    try:
        body = await read_body(ctx.request, limit)
        pushed = parse_registry_event(
            dict(ctx.request.headers),
            body,
            await registry_secrets(ctx),
            query=dict(ctx.request.query_params),
            max_body_bytes=limit,
        )
        if pushed is not None:
            scanned = await ctx.state.controller.on_registry_event(pushed)
            return JSONResponse(
                {
                    "scanned": scanned,
                    "provider": pushed.provider,
                    "images": sorted(str(image) for image in pushed.images),
                }
            )
        event = parse_webhook(
            dict(ctx.request.headers), body, await webhook_secrets(ctx), max_body_bytes=limit
        )
    except WebhookNotConfiguredError as exc:
        return error_response(not_configured_message(exc, ctx.state.namespace), exc.status)
    except WebhookError as exc:
        return error_response(exc.message, exc.status)
    if event.pull_request is not None:
        return await _pull_request(ctx, event.pull_request)
    if not event.repo_urls:
        refreshed: list[str] = []
    elif ctx.state.observer is not None:
        # no controller here: the apps the push concerns get the hard refresh annotation
        refreshed = await ctx.state.observer.on_push(event)
    else:
        refreshed = await ctx.state.controller.on_webhook(event.repo_urls)
    return JSONResponse({"refreshed": sorted(refreshed), "provider": event.provider})
