"""Portals on the test chain and Kubo node, and a real Chromium driven by Playwright.

A portal here is the same app `carechain portal` serves, on a thread of the test process,
over the fixtures' SDK role clients (so the pages and the tests see the same chain)."""

import shutil
from contextlib import contextmanager

import httpx
import pytest

from carechain.portal import Portal, PortalServer
from carechain.samples import chart
from carechain.settings import PROJECT_ROOT
from tests.helpers import EXACT_OBSERVATION

#: Where Debian's chromium package puts the browser (`make test` installs it).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: axe-core, from the npm packages `make setup` installs.
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now. axe is
    evaluated by the driver, not loaded by the page: the page's CSP allows no such script."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, (page.url, serious)


@contextmanager
def running(role, client, **options):
    """A portal for ``role`` over ``client``, served on 127.0.0.1 until the block ends."""
    with PortalServer(Portal(role, client, **options)) as server:
        yield server


def logged_in(server) -> httpx.Client:
    """A plain HTTP client that opened the launch URL (so it holds the session cookie)."""
    client = httpx.Client(base_url=server.base, timeout=60)
    answer = client.get(server.url)
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def chart_with_exact_value(hospital_client, patient_client):
    """The patient's chart, and an Observation whose decimal a careless page would change
    (0.40 -> 0.4)."""
    from carechain.fhir import loads

    records = [*chart(7, "MRN-7"), loads(EXACT_OBSERVATION)]
    return hospital_client.anchor_records([(patient_client.address, r) for r in records])


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright's executable path: no browser is downloaded."""
    if CHROMIUM is None:
        pytest.fail(
            "the portal's browser tests need Chromium: apt-get install chromium "
            "(make test installs it: tools/install-chromium.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def _unexpected(message) -> bool:
    """A console error other than the status of a refusal page (400, 403: expected; the
    tests check their words)."""
    expected = ("status of 400", "status of 403")
    return message.type == "error" and not any(e in message.text for e in expected)


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (each its own cookie jar, as two people's browsers),
    recording every console error (a Content-Security-Policy violation is one)."""
    contexts, errors = [], []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("console", lambda m: errors.append(m.text) if _unexpected(m) else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    open_page.errors = errors
    yield open_page
    for context in contexts:
        context.close()
