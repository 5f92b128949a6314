"""Who may use the web view: the Host header, the token, same-origin commands.

* Host: checked against the bound address, loopback names, this machine's names, IP literals
  and ``web.allowed_hosts``. An IP literal cannot be re-pointed by DNS, a name can: this is
  what stops a DNS-rebinding page from talking to the car through the user's browser.
* Token (``web.token``, else a random one per run, on loopback too: ``view.WebView``): every
  request but ``/app.js`` (the page's public script, which holds nothing), in the
  ``X-Cat-Follow-Token`` header or ``Authorization: Bearer``; GETs of the page, the stream and
  the JSON may carry it as ``?token=`` (an ``<img>`` cannot send headers). Commands take it from
  a header only. It is checked before any handler runs, so a request without it takes no viewer
  slot: another page's ``<img src=".../stream.mjpg">`` gets 401 and locks nobody out. No cookie
  carries it on purpose: a cookie would ride along on that cross-site ``<img>`` (and SameSite
  does not help, since a page on another port of 127.0.0.1 is the same site).
* Commands: POST with ``Content-Type: application/json`` (a cross-site form cannot send that
  without a CORS preflight, and no CORS header is ever sent) and, when the browser sends an
  Origin, the same origin as the Host.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_HEADER = "X-Cat-Follow-Token"
PUBLIC = frozenset({"/app.js"})  # no token: the page's own static script


def _strip_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The checks above, for one bound address and one token."""

    def __init__(self, bound_host: str, token: str, allowed_hosts: str) -> None:
        self.token = token
        names = {"localhost", "127.0.0.1", "::1", bound_host.lower().strip("[]")}
        hostname = socket.gethostname().lower()
        names |= {hostname, f"{hostname}.local"}
        names |= {n.strip().lower() for n in allowed_hosts.split(",") if n.strip()}
        self.names = names
        self.rejected = {"host": 0, "token": 0, "origin": 0}

    def host_ok(self, host: str | None) -> bool:
        if not host:
            return False
        name = _strip_port(host)
        return name in self.names or _is_ip(name)

    def token_ok(self, request: web.Request, *, allow_query: bool) -> bool:
        if not self.token:
            return True
        given = request.headers.get(TOKEN_HEADER, "")
        auth = request.headers.get("Authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth[7:]
        if not given and allow_query:
            given = request.query.get("token", "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("utf-8"))

    def origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        return origin in (f"http://{request.host}", f"https://{request.host}")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_ok(request.headers.get("Host")):
            self.rejected["host"] += 1
            raise web.HTTPForbidden(text="Host header not accepted (see web.allowed_hosts)\n")
        if request.path not in PUBLIC and not self.token_ok(request, allow_query=request.method == "GET"):
            self.rejected["token"] += 1
            raise web.HTTPUnauthorized(text="a valid token is needed (X-Cat-Follow-Token header"
                                            + (" or ?token=" if request.method == "GET" else "")
                                            + "): open the URL with ?token= that the service logged\n")
        if request.method not in ("GET", "HEAD") and not self.origin_ok(request):
            self.rejected["origin"] += 1
            raise web.HTTPForbidden(text="cross-origin request refused\n")
        response = await handler(request)
        if not response.prepared:
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "no-referrer"  # the page's URL carries the token
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response
