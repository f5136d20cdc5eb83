"""Serving a portal on loopback: a threaded WSGI server bound to 127.0.0.1 only, that
logs no request lines (they would hold the launch token and record ids)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import Portal, create_app

#: The only address a portal listens on. Not an option: another machine must never reach it.
LOOPBACK = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """No access log: a request line can carry the launch token or a record id."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PortalServer:
    """A running portal: ``with PortalServer(portal) as server:`` serves it on a thread
    (tests); :meth:`serve_forever` serves it on the caller's thread (the command line)."""

    def __init__(self, portal: Portal, port: int = 0) -> None:
        self.portal = portal
        self.app = create_app(portal)
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        portal.guard.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or a free one)."""
        return self._server.server_port

    @property
    def url(self) -> str:
        """The launch URL: it holds the secret that logs a browser in."""
        return self.portal.guard.launch_url()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>`` (no secret)."""
        return f"http://{LOOPBACK}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until interrupted (or :meth:`stop`)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PortalServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
