"""The portal's Flask application: one role's pages over one SDK role client, behind the
:class:`~.security.Guard`. Every page talks to the chain and IPFS only through the role
client it was given (the same SDK the command line uses)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..errors import CarechainError, ConsentRequiredError, NotAuthorizedError
from ..names import AddressBook
from . import display
from .security import Guard

logger = logging.getLogger("carechain.portal")

#: The roles a portal can be started as.
ROLES = ("patient", "clinician", "insurer", "pharmacy", "regulator")


@dataclass
class Job:
    """A long operation running on its own thread (settling many claims), and how far it
    got: its page refreshes itself until it is done."""

    title: str
    back: str  # where to go when it is done
    done: int = 0
    total: int = 0
    finished: bool = False
    result: str = ""
    error: str = ""

    def progress(self, done: int, total: int) -> None:
        """The SDK's ``progress(done, total)`` callback."""
        self.done, self.total = done, total


@dataclass
class Portal:
    """What one running portal works with."""

    role: str
    client: Any  # the SDK role client: Patient, Hospital (clinician), Insurer, SupplyChainParty
    guard: Guard = field(default_factory=Guard)
    #: The insurer's settlement-worker journal (its manual queue), if there is one.
    journal_path: Path | None = None
    #: Long operations, by id (see :func:`start_job`).
    jobs: dict[str, Job] = field(default_factory=dict)
    #: The names this machine's person gave addresses (shown instead of ``0x1234…abcd``).
    names: AddressBook | None = None
    #: The SDK clients are not made for concurrent use: one request works with them at a
    #: time (re-entrant: a page's template may ask the SDK for more while its view holds it).
    lock: threading.RLock = field(default_factory=threading.RLock)


class Refused(CarechainError):
    """A form the portal refuses before sending anything (a value out of the lists)."""


def portal() -> Portal:
    """The running portal (inside a request)."""
    from flask import current_app

    return current_app.config["PORTAL"]


def with_sdk(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view`` holding the SDK lock: one request at a time talks to the chain."""

    @wraps(view)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with portal().lock:
            return view(*args, **kwargs)

    return locked


def start_job(title: str, back: str, work: Callable[[Job], str]) -> str:
    """Run ``work(job)`` on a thread holding the SDK lock (it reports with ``job.progress``
    and returns what to say when done); returns the job's id, whose page shows progress."""
    import secrets

    running = portal()
    job = Job(title, back)
    job_id = secrets.token_urlsafe(12)
    running.jobs[job_id] = job

    def run() -> None:
        try:
            with running.lock:
                job.result = work(job)
        except CarechainError as exc:
            job.error = str(exc)
        except Exception as exc:
            logger.error("unexpected %s in %s", type(exc).__name__, title)
            logger.debug("traceback", exc_info=exc)
            job.error = f"unexpected error ({type(exc).__name__}); see the terminal with --debug"
        finally:
            job.finished = True

    threading.Thread(target=run, name=f"portal job {title}", daemon=True).start()
    return job_id


def create_app(running: Portal) -> Flask:
    """The Flask app of ``running``: its role's pages, the guard, the error pages."""
    if running.role not in ROLES:
        raise ValueError(f"role {running.role!r}: one of {', '.join(ROLES)}")
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["PORTAL"] = running
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # forms only: no uploads
    running.guard.install(app)

    @app.route("/login")
    def login() -> Any:  # answered by the guard (it sets the cookie and redirects)
        abort(403)

    @app.route("/")
    def home() -> Any:
        start = {
            "patient": "patient.records",
            "clinician": "clinician.patients",
            "insurer": "insurer.claims",
        }
        return redirect(url_for(start.get(running.role, "supply.verify")), code=303)

    @app.route("/jobs/<job_id>")
    def job(job_id: str) -> Any:
        """A long operation's progress (no SDK lock: it only reads the job)."""
        found = running.jobs.get(job_id)
        if found is None:
            abort(404, "no such operation (the portal was restarted?)")
        return render_template("job.html", job=found)

    if running.role == "patient":
        from .patient import pages
    elif running.role == "clinician":
        from .clinician import pages
    elif running.role == "insurer":
        from .insurer import pages
    else:
        from .supply import pages
    app.register_blueprint(pages)

    @app.context_processor
    def shared() -> dict[str, Any]:
        # A refused request (no session, wrong Host) learns nothing: not even whose portal.
        authenticated = bool(getattr(g, "authenticated", False))
        return {
            "role": running.role if authenticated else "",
            "me": running.client.address if authenticated else "",
            "authenticated": authenticated,
            "csrf": getattr(g, "csrf", ""),
            "d": display,
            "who": lambda address, full=False: display.who(address, running.names, full),
        }

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return render_template("error.html", status=exc.code, message=exc.description), exc.code

    @app.errorhandler(CarechainError)
    def refused(exc: CarechainError) -> Any:
        # The SDK's own words: they say what went wrong and what to do next.
        if isinstance(exc, Refused):
            status = 400
        elif isinstance(exc, NotAuthorizedError | ConsentRequiredError):
            status = 403
        else:
            status = 409
        return render_template("error.html", status=status, message=str(exc)), status

    @app.errorhandler(ValueError)
    def invalid(exc: ValueError) -> Any:
        return render_template("error.html", status=400, message=str(exc)), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # Kind only: an exception's text could quote a record; the traceback with --debug.
        logger.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.path)
        logger.debug("traceback", exc_info=exc)
        message = (
            f"unexpected error ({type(exc).__name__}); nothing more was sent. The terminal "
            "running `carechain portal --debug` shows the details."
        )
        return render_template("error.html", status=500, message=message), 500

    return app
