"""The portal holds a key and signs transactions: each way another local user, another web
page or a rebinding DNS name could drive it is refused, and nothing is sent after a refusal.
A plain HTTP client against the real server, on the test chain and Kubo node."""

import re
import socket

import httpx
import pytest

from carechain.portal.security import COOKIE
from tests.portal.conftest import logged_in, running

pytestmark = pytest.mark.integration


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)


def _grant_form(doctor, csrf=None):
    form = {
        "grantee": doctor.address,
        "scope": "all",
        "purpose": "treatment",
        "period": "30",
        "action": "grant",
    }
    if csrf is not None:
        form["csrf"] = csrf
    return form


def test_listens_on_loopback_only(patient_client):
    """Bound to 127.0.0.1, not to every interface: another address of this machine (here
    127.0.0.2, which Linux routes to itself) finds nothing on the port."""
    with running("patient", patient_client) as server:
        assert server._server.server_address[0] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
        with pytest.raises(OSError), socket.create_connection(("127.0.0.2", server.port), 5):
            pass


def test_without_the_launch_secret_every_page_is_refused(
    patient_client, hospital_client, chart_with_exact_value
):
    """No cookie, a wrong token, a forged cookie: 403 on every page, and no cookie is set.
    The refusal says nothing about whose portal it is: no address, no alert, no record."""
    hospital_client.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    with running("patient", patient_client) as server:
        anonymous = httpx.Client(base_url=server.base, timeout=60)
        for path in ("/", "/records", "/consents", "/audit", "/claims", "/static/portal.js"):
            answer = anonymous.get(path)
            assert answer.status_code == 403, path
            assert "open the address" in answer.text and "Potassium" not in answer.text
            assert patient_client.address[:6] not in answer.text, path
            assert "Emergency access" not in answer.text and "csrf" not in answer.text
        wrong = anonymous.get("/login", params={"token": "not-the-token"})
        assert wrong.status_code == 403 and COOKIE not in wrong.headers.get("set-cookie", "")
        assert anonymous.get("/login").status_code == 403
        name = server.portal.guard.cookie_name
        forged = httpx.Client(base_url=server.base, cookies={name: "guess"}, timeout=60)
        assert forged.get("/records").status_code == 403


def test_the_launch_secret_becomes_a_strict_cookie(patient_client, chart_with_exact_value):
    """The printed URL logs in with an HttpOnly, SameSite=Strict cookie and redirects (the
    token leaves the address bar); the pages then show the records."""
    with running("patient", patient_client) as server:
        answer = httpx.get(server.url, timeout=60)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        # named for this portal's port: a second portal in the same browser keeps its own
        assert cookie.startswith(f"{COOKIE}_{server.portal.guard.port}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert server.portal.guard.launch_token not in cookie
        client = logged_in(server)
        page = client.get("/records")
        assert page.status_code == 200 and "0.40 mmol/L" in page.text


def test_two_portals_in_one_browser_keep_their_own_sessions(patient_client, doctor_client):
    """Browsers keep one cookie jar per host, not per port: a patient's and a clinician's
    portal side by side (as `make portal` starts them) must not log each other out."""
    with running("patient", patient_client) as mine, running("clinician", doctor_client) as theirs:
        browser = httpx.Client(timeout=60)  # one jar for both, as one browser
        assert browser.get(mine.url).status_code == 303
        assert browser.get(theirs.url).status_code == 303
        assert browser.get(f"{mine.base}/records").status_code == 200
        assert browser.get(f"{theirs.base}/", follow_redirects=True).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "[::1]:{port}"]
)
def test_a_foreign_host_header_is_refused(patient_client, host):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own Host;
    refused even with the session cookie."""
    with running("patient", patient_client) as server:
        client = logged_in(server)
        answer = client.get("/records", headers={"Host": host.format(port=server.port)})
        assert answer.status_code == 400
        assert "answers only at 127.0.0.1 or localhost" in answer.text
        # and the launch URL itself does not log a rebinding page in
        token = server.portal.guard.launch_token
        login = httpx.get(
            f"{server.base}/login?token={token}",
            headers={"Host": host.format(port=server.port)},
            timeout=60,
        )
        assert login.status_code == 400 and "set-cookie" not in login.headers
        assert client.get("/records", headers={"Host": f"localhost:{server.port}"}).is_success


def test_a_post_without_the_right_csrf_token_sends_nothing(
    patient_client, doctor_client, contracts, chart_with_exact_value
):
    """A grant without the form's token, with a wrong one, from another origin or sent
    cross-site is refused with 403, and nothing reaches the chain; the same form with the
    page's token grants (so the refusals are the token's doing)."""
    node = contracts.node
    with running("patient", patient_client) as server:
        client = logged_in(server)
        csrf = _csrf(client.get("/consents").text)
        head = node.block_number()
        refusals = [
            ({}, _grant_form(doctor_client)),
            ({}, _grant_form(doctor_client, "wrong-token")),
            ({}, _grant_form(doctor_client, "")),
            ({"Origin": "http://evil.example"}, _grant_form(doctor_client, csrf)),
            ({"Origin": "http://127.0.0.1:1"}, _grant_form(doctor_client, csrf)),
            ({"Origin": "null"}, _grant_form(doctor_client, csrf)),  # a sandboxed frame
            ({"Sec-Fetch-Site": "cross-site"}, _grant_form(doctor_client, csrf)),
            ({"Sec-Fetch-Site": "same-site"}, _grant_form(doctor_client, csrf)),
        ]
        for headers, form in refusals:
            answer = client.post("/consents", data=form, headers=headers)
            assert answer.status_code == 403, (headers, form)
            assert "refused" in answer.text
        assert node.block_number() == head
        assert patient_client.consents() == []

        same_origin = {"Origin": server.base, "Sec-Fetch-Site": "same-origin"}
        done = client.post("/consents", data=_grant_form(doctor_client, csrf), headers=same_origin)
        assert done.status_code == 303, done.text
        [granted] = patient_client.consents()
        assert granted.grantee == doctor_client.address and granted.active


def test_a_bad_form_value_is_refused_before_anything_is_sent(
    patient_client, doctor_client, contracts, chart_with_exact_value
):
    """A scope, purpose or period that is not one of the lists, or a mistyped address: the
    refusal in words, and nothing sent."""
    with running("patient", patient_client) as server:
        client = logged_in(server)
        csrf = _csrf(client.get("/consents").text)
        head = contracts.node.block_number()
        mistyped = doctor_client.address[:-1] + ("A" if doctor_client.address[-1] != "A" else "B")
        cases = {
            "scope": ("everything", "not one of the choices"),
            "purpose": ("marketing", "not one of the choices"),
            "period": ("100000", "not one of the choices"),
            "grantee": (mistyped, "checksum"),
        }
        for field, (value, words) in cases.items():
            form = {**_grant_form(doctor_client, csrf), field: value}
            answer = client.post("/consents", data=form)
            assert answer.status_code == 400 and words in answer.text, (field, answer.text)
            assert "Traceback" not in answer.text
        assert contracts.node.block_number() == head


def test_every_page_carries_a_strict_policy_and_no_third_party_asset(
    patient_client, chart_with_exact_value
):
    """CSP: this origin only, no inline script or style, no framing; pages not cached; the
    HTML loads nothing from another origin and has no inline script or style attribute."""
    with running("patient", patient_client) as server:
        client = logged_in(server)
        for path in ("/records", "/consents", "/audit", "/alerts", "/claims"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["referrer-policy"] == "same-origin"
            html = answer.text
            assert not re.search(r"(src|href)=\"(https?:)?//", html), path
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
            assert " style=" not in html and "<style" not in html, path
        for asset in ("/static/portal.css", "/static/portal.js"):
            assert client.get(asset).status_code == 200
