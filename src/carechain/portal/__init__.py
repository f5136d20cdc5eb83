"""``carechain portal``: a local web app for one person and one role (patient, clinician or
insurer), running beside their key file, on loopback only, over the same SDK role clients
as the command line. See docs/portal.md.

- :mod:`.security` — the launch secret, session cookie, CSRF, Host check and headers;
- :mod:`.app` — the Flask app and its error pages; :mod:`.server` — serving it;
- :mod:`.patient`, :mod:`.clinician`, :mod:`.insurer` — each role's pages;
- :mod:`.display` — FHIR and chain values in words; :mod:`.forms` — the forms' choices.
"""

from .app import ROLES, Portal, create_app
from .security import Guard
from .server import PortalServer

__all__ = ["ROLES", "Guard", "Portal", "PortalServer", "create_app"]
