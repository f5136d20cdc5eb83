"""What keeps other local users and other web pages from driving a portal that holds a key
and signs transactions.

- **A per-launch secret.** ``carechain portal`` prints a URL holding a random token; opening
  it exchanges the token for an HttpOnly, SameSite=Strict session cookie (and redirects so
  the token leaves the address bar). Every other request without that cookie is refused:
  another user on the machine can reach the port, but not the secret.
- **The Host header** must name this server on loopback (``127.0.0.1:<port>`` or
  ``localhost:<port>``): a page on an attacker's domain that re-resolves to 127.0.0.1 (DNS
  rebinding) sends its own host name and is refused.
- **CSRF.** Every POST carries the session's CSRF token from the form; a POST whose token is
  missing or wrong, or whose ``Origin``/``Sec-Fetch-Site`` says another site sent it, is
  refused before any work is done.
- **Headers.** A strict Content-Security-Policy (scripts and styles from this server only,
  nothing inline, no third-party origin, no framing), no caching of pages holding health
  data, no referrer to other sites.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, abort, g, redirect, request

#: The session cookie's name, followed by the portal's port: browsers do not keep cookies
#: apart by port, so portals side by side (a patient's and a clinician's, as `make portal`
#: starts them) would otherwise log each other out.
COOKIE = "carechain_portal"

#: Everything from this server only; nothing inline (no 'unsafe-inline' anywhere), nothing
#: from any other origin, no plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not no-referrer: under it Chromium sends "Origin: null" with a form's POST, which the
    # origin check must refuse (sandboxed frames and data: pages send it too).
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class Guard:
    """The secrets of one portal launch and the checks every request passes."""

    #: Given once, in the launch URL; exchanged for the session cookie.
    launch_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: The cookie's value (never shown in a URL).
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Put in every form; checked on every POST.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: The port the server listens on (set once it is bound).
    port: int = 0

    def allowed_hosts(self) -> set[str]:
        """The Host header values this server answers to."""
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def allowed_origins(self) -> set[str]:
        """The Origin header values a POST may carry."""
        return {f"http://{host}" for host in self.allowed_hosts()}

    @property
    def cookie_name(self) -> str:
        """This portal's session cookie (see :data:`COOKIE`)."""
        return f"{COOKIE}_{self.port}"

    def launch_url(self) -> str:
        """The URL ``carechain portal`` prints: opening it logs the browser in."""
        return f"http://127.0.0.1:{self.port}/login?token={self.launch_token}"

    def install(self, app: Flask) -> None:
        """Check every request, and add the security headers to every response."""
        app.before_request(self._check)
        app.after_request(self._headers)

    # ------------------------------------------------------------------ the checks
    def _check(self) -> Any:
        host = request.headers.get("Host", "")
        if host not in self.allowed_hosts():
            # DNS rebinding, or a request that did not come through the printed URL
            abort(400, "this portal answers only at 127.0.0.1 or localhost on its own port")
        if request.endpoint == "login":
            return self._login()
        cookie = request.cookies.get(self.cookie_name, "")
        if not hmac.compare_digest(cookie.encode(), self.session.encode()):
            abort(403, "open the address `carechain portal` printed when it started")
        if request.method not in ("GET", "HEAD"):
            self._check_post()
        g.authenticated = True  # pages show who is signed in, and alerts, only after this
        g.csrf = self.csrf
        return None

    def _check_post(self) -> None:
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            abort(403, "refused: the request came from another site")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.allowed_origins():
            abort(403, "refused: the request came from another site")
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent.encode(), self.csrf.encode()):
            abort(403, "refused: the form's security token is missing or stale; reload the page")

    def _login(self) -> Response:
        token = request.args.get("token", "")
        if not hmac.compare_digest(token.encode(), self.launch_token.encode()):
            abort(403, "open the address `carechain portal` printed when it started")
        response = redirect("/", code=303)  # the token leaves the address bar and history
        response.set_cookie(
            self.cookie_name,
            self.session,
            httponly=True,
            samesite="Strict",
            path="/",
            secure=False,
        )
        return response

    @staticmethod
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # pages hold health data
        return response
