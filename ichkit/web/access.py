"""Who may open the workstation: loopback by default, a token for anything else.

The page and its websocket carry patient images, so serving beyond this machine is an explicit
choice (`--allow-remote`) and every request must then prove it knows the token printed at start:
`/?token=T` once (which sets a same-site cookie), the cookie afterwards (assets, websocket).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from ..errors import OptionError

TOKEN_PARAM = "token"
TOKEN_COOKIE = "ichkit_token"
TOKEN_BYTES = 24  # 192 bits, URL-safe


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless the user asked for remote access."""
    if not is_loopback(host) and not allow_remote:
        raise OptionError(None, f"--host {host} would serve patient images beyond this machine; add --allow-remote to do so (a token will be required)")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_ok(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def request_allowed(query_token: str | None, cookie_token: str | None, expected: str) -> bool:
    """A request passes with the token in its query (first visit) or in its cookie (after)."""
    return token_ok(query_token, expected) or token_ok(cookie_token, expected)


def aiohttp_middleware(expected: str):
    """An aiohttp middleware enforcing `request_allowed` and setting the cookie on first visit."""
    from aiohttp import web  # deferred: aiohttp comes with trame (the [scene] extra); the token checks need none of it

    @web.middleware
    async def require_token(request, handler):
        query = request.query.get(TOKEN_PARAM)
        if not request_allowed(query, request.cookies.get(TOKEN_COOKIE), expected):
            return web.Response(status=403, text="ICH workstation: open the URL with the token printed at start (?token=...)\n")
        response = await handler(request)
        if token_ok(query, expected) and hasattr(response, "set_cookie"):
            response.set_cookie(TOKEN_COOKIE, expected, httponly=True, samesite="Strict")
        return response

    return require_token
