"""Sign-in and sign-out, the current user, API tokens and passwords of local accounts."""

from __future__ import annotations

import time

from starlette.responses import Response

from tether.server.errors import BadRequest, NotFoundError, PermissionDenied, TooManyRequests
from tether.server.http import JSONResponse, check_fields, error_response, read_json, typed
from tether.server.state import COOKIE, Context

MAX_CREDENTIAL_LENGTH = 1024
_TOKEN_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


async def sign_in(ctx: Context) -> Response:
    body = await read_json(ctx.request, 16 * 1024)
    check_fields(body, ("username", "password"), "the sign-in request")
    username = typed(body, "username", str) or ""
    password = typed(body, "password", str) or ""
    if not username or not password:
        raise BadRequest("username and password are required")
    if len(username) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        raise BadRequest("username or password is too long")
    metrics = ctx.extra.get("metrics")
    try:
        token = await ctx.state.auth.sign_in(
            username, password, ctx.state.client_address(ctx.request)
        )
    except TooManyRequests as exc:
        if metrics is not None:
            metrics.login("throttled")
        return error_response(
            exc.message, exc.status, headers={"Retry-After": str(int(exc.retry_after) + 1)}
        )
    except Exception:
        if metrics is not None:
            metrics.login("failure")
        raise
    if metrics is not None:
        metrics.login("success")
    response = JSONResponse({"token": token})
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(ctx.state.settings.session_seconds),
        httponly=True,
        secure=ctx.state.settings.secure_cookie,
        samesite="strict",
        path="/",
    )
    return response


async def sign_out(ctx: Context) -> Response:
    ctx.state.auth.sign_out(ctx.caller, float(ctx.extra.get("expires_at") or time.time()))
    response = JSONResponse({})
    response.delete_cookie(COOKIE, path="/", samesite="strict", httponly=True)
    return response


async def user_info(ctx: Context) -> JSONResponse:
    user = ctx.caller
    return JSONResponse(
        {"loggedIn": True, "username": user.username, "groups": list(user.groups), "iss": "tether"}
    )


def _account_name(ctx: Context) -> str:
    """The account a token request is about: the caller's own, or another with permission."""
    name = ctx.request.query_params.get("account") or ctx.caller.username
    if name != ctx.caller.username:
        ctx.state.enforce(ctx.caller, "accounts", "update", name)
    if ctx.state.auth.account(name) is None:
        raise NotFoundError(f"account {name} does not exist")
    return name


async def create_token(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, 16 * 1024, allow_empty=True)
    check_fields(body, ("expiresIn", "id"), "the token request")
    name = _account_name(ctx)
    expires_in = typed(body, "expiresIn", int)
    if expires_in is not None and expires_in <= 0:
        raise BadRequest("expiresIn must be a positive number of seconds (omit it: no expiry)")
    token_id = typed(body, "id", str)
    if token_id is not None and (
        not token_id or len(token_id) > 64 or not set(token_id) <= _TOKEN_ID_CHARS
    ):
        raise BadRequest("id may use letters, digits, '-', '_' and '.', at most 64 characters")
    token, entry = await ctx.state.auth.create_token(name, expires_in, token_id)
    return JSONResponse({"token": token, **entry}, status_code=201)


async def list_tokens(ctx: Context) -> JSONResponse:
    name = ctx.request.query_params.get("account") or ctx.caller.username
    if name != ctx.caller.username:
        ctx.state.enforce(ctx.caller, "accounts", "get", name)
    return JSONResponse({"items": await ctx.state.auth.tokens(name)})


async def delete_token(ctx: Context) -> JSONResponse:
    name = _account_name(ctx)
    token_id = ctx.request.path_params["id"]
    if not await ctx.state.auth.delete_token(name, token_id):
        raise NotFoundError(f"account {name} has no token with id {token_id}")
    return JSONResponse({})


async def list_accounts(ctx: Context) -> JSONResponse:
    items = []
    for account in ctx.state.auth.accounts():
        if not ctx.state.can(ctx.caller, "accounts", "get", account.name):
            continue
        capabilities = [
            c for c, on in (("login", account.login), ("apiKey", account.api_key)) if on
        ]
        items.append(
            {"name": account.name, "enabled": account.enabled, "capabilities": capabilities}
        )
    return JSONResponse({"items": items})


async def update_password(ctx: Context) -> JSONResponse:
    """Change a password: one's own with the current one; another's with ``accounts, update``
    and the caller's own current password."""
    body = await read_json(ctx.request, 16 * 1024)
    check_fields(body, ("name", "currentPassword", "newPassword"), "the password request")
    name = typed(body, "name", str) or ctx.caller.username
    current = typed(body, "currentPassword", str) or ""
    new = typed(body, "newPassword", str) or ""
    if name != ctx.caller.username:
        ctx.state.enforce(ctx.caller, "accounts", "update", name)
    if ctx.state.auth.account(name) is None:
        raise NotFoundError(f"account {name} does not exist")
    if len(new) < 8 or len(new) > MAX_CREDENTIAL_LENGTH:
        raise BadRequest("the new password must have between 8 and 1024 characters")
    if not await ctx.state.auth.check_password(ctx.caller.username, current):
        raise PermissionDenied("currentPassword is not the password of the signed-in account")
    await ctx.state.auth.set_password(name, new)
    return JSONResponse({})
