"""The portal's main flows in a real Chromium (Debian's, driven by Playwright), against the
test chain and Kubo node: what a patient, a clinician and an insurer see and do."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from carechain import ClaimStatus
from carechain.worker import Journal, Rules, Worker
from tests.helpers import USD, claim_for
from tests.portal.conftest import assert_accessible, running

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: Screenshots of each page the flows visit (the current ones are kept in docs/portal/).
SHOTS = Path(os.environ.get("CARECHAIN_PORTAL_SHOTS", "build/portal-screenshots"))


def shot(page, name):
    """Check the page with axe-core, and keep a screenshot of it."""
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_grant_read_revoke_refuse_and_the_trail_shows_the_read(
    new_page, patient_client, doctor_client, contracts, chart_with_exact_value
):
    """A patient sees her records as a person reads them (0.40 stays 0.40), grants a doctor,
    the doctor reads; she revokes, the doctor's next read is refused in the SDK's words with
    nothing sent; her audit trail shows the read, verified."""
    with (
        running("patient", patient_client) as alice_portal,
        running("clinician", doctor_client) as doctor_portal,
    ):
        alice, doctor = new_page(), new_page()

        alice.goto(alice_portal.url)
        assert alice.url.endswith("/records")  # logged in, the token gone from the address
        potassium = alice.locator("li.record", has_text="Potassium")
        assert potassium.locator(".value").inner_text() == "0.40 mmol/L"
        assert "unchanged since it was written" in potassium.inner_text()
        assert "a provider the network admits" in potassium.inner_text()
        potassium.get_by_text("Raw FHIR JSON").click()
        assert '"value": 0.40' in potassium.locator("pre").inner_text()
        assert alice.locator("li.record.encounter .when").first.inner_text().count("to") == 1
        assert alice.locator("li.record.condition h2").first.inner_text()  # its code's display
        shot(alice, "patient-records")

        alice.get_by_role("link", name="Consents").click()
        alice.get_by_label("Who (their address)").fill(doctor_client.address)
        alice.get_by_label("Which records").select_option("category:observation")
        alice.get_by_label("For what").select_option("treatment")
        alice.get_by_label("For how long").select_option("7")
        alice.get_by_role("button", name="Send decision").click()
        assert "granted" in alice.get_by_role("status").inner_text()
        row = alice.locator("tr", has_text=doctor_client.address)
        assert "active" in row.inner_text() and "every observation record" in row.inner_text()
        shot(alice, "patient-consents")

        doctor.goto(doctor_portal.url)
        shot(doctor, "clinician-patients")
        doctor.get_by_role("link", name=patient_client.address).click()
        shot(doctor, "clinician-records")
        observation = doctor.locator("tr", has_text="observation").last
        observation.get_by_role("button").click()
        assert (
            doctor.locator(".value")
            .inner_text()
            .endswith(("/min", "mm[Hg]", "kg", "mg/dL", "g/dL", "mmol/L"))
        )
        shot(doctor, "clinician-record")
        doctor.go_back()

        alice.locator("tr", has_text=doctor_client.address).get_by_role(
            "button", name="Revoke"
        ).click()
        assert "revoked" in alice.get_by_role("status").inner_text()
        assert "revoked" in alice.locator("tr", has_text=doctor_client.address).inner_text()

        head = contracts.node.block_number()
        doctor.reload()
        assert "revoked" in doctor.locator("main").inner_text()
        doctor.locator("tr", has_text="observation").last.get_by_role("button").click()
        refusal = doctor.get_by_test_id("refusal").inner_text()
        assert "has no active consent" in refusal and "ask the patient to grant it" in refusal
        assert "was revoked" in refusal  # the reason, in words
        assert "Traceback" not in doctor.content()
        assert contracts.node.block_number() == head  # nothing was sent for the refusal
        shot(doctor, "clinician-refused")

        alice.get_by_role("link", name="Audit trail").click()
        reads = alice.locator("table.trail tbody tr", has_text=doctor_client.address)
        assert reads.count() == 1
        assert "treatment" in reads.inner_text() and "verified" in reads.inner_text()
        alice.get_by_label("Reader").fill("0x0000")
        alice.get_by_role("button", name="Filter").click()
        assert alice.locator("table.trail tbody tr").count() == 0
        shot(alice, "patient-audit")

    assert not new_page.errors, new_page.errors  # no CSP violation, no script error


@pytest.fixture
def worker_journal(tmp_path):
    journal = Journal(tmp_path / "insurer-worker.sqlite")
    yield journal
    journal.close()


def test_an_insurer_approves_a_claim_from_the_manual_queue_and_it_is_settled(
    new_page, hospital_client, patient_client, insurer_client, covered, contracts, worker_journal
):
    """The settlement worker leaves a large claim for a human with its reason; the insurer
    sees why, opens the Claim and its evidence under consent, approves it on the page, and
    the worker carries the decision out: the claim is paid."""
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 900 * USD, "99215"
    )
    rules = Rules.from_dict(
        {
            "approve": {"below": "500.00"},
            "settle": {"batch_size": 2, "interval": 0.0},
            "chain": {"confirmations": 1, "poll_interval": 0.05},
        }
    )
    worker = Worker(insurer_client, rules, worker_journal)
    worker.run(until_idle=True, max_steps=50)
    key = "0x" + claim_id.hex()
    assert worker_journal.claim(key)["state"] == "manual"

    with running("insurer", insurer_client, journal_path=worker_journal.path) as server:
        page = new_page()
        page.goto(server.url)
        row = page.locator(f'tr[data-claim="{key}"]')
        assert "needs you" in row.inner_text() and "automatic limit" in row.inner_text()
        assert "900.00" in row.inner_text()
        shot(page, "insurer-queue")
        row.get_by_role("link").click()
        page.get_by_role("button", name="Open the Claim and its evidence").click()
        fhir_claim = page.locator("article.claim")
        assert "Office visit" in fhir_claim.inner_text() and "900.00 USD" in fhir_claim.inner_text()
        fhir_claim.get_by_text("FHIR Claim (decrypted here)").click()
        assert '"resourceType": "Claim"' in fhir_claim.locator("pre").inner_text()
        evidence = page.locator("article.record.encounter")
        assert evidence.count() == 1 and " visit" in evidence.inner_text()
        assert page.get_by_label("Approve amount").input_value() == "900.00"
        shot(page, "insurer-claim")
        page.get_by_role("button", name="Approve").click()
        assert "the settlement worker sends it" in page.get_by_role("status").inner_text()

        worker.run(until_idle=True, max_steps=50)
        assert contracts.claims.status(claim_id) is ClaimStatus.PAID
        page.reload()
        assert "paid" in page.locator(f'tr[data-claim="{key}"]').inner_text()
    assert not new_page.errors, new_page.errors


def tab_to(page, selector, limit=60):
    """Press Tab until the element ``selector`` names has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def test_the_keyboard_alone_grants_consent_and_ends_an_emergency_access(
    new_page, patient_client, doctor_client, hospital_client, chart_with_exact_value
):
    """A clinician opened break-glass access: the patient sees the alert on every page, and
    with the keyboard alone grants a consent and ends the emergency access."""
    hospital_client.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    with running("patient", patient_client) as server:
        page = new_page()
        page.goto(server.url)
        alert = page.get_by_role("alert")
        text = alert.inner_text()
        assert "you were unconscious in an emergency department" in text
        assert "review pending" in text

        tab_to(page, "nav a[href='/consents']")
        page.keyboard.press("Enter")
        page.wait_for_url("**/consents")
        tab_to(page, "#grantee")
        page.keyboard.type(doctor_client.address)
        tab_to(page, "#scope")
        page.keyboard.press("ArrowDown")  # every other record -> the next: demographics...
        page.keyboard.press("ArrowDown")
        assert page.locator("#scope").input_value() == "category:demographics"
        tab_to(page, "form.grid button[type=submit]")
        page.keyboard.press("Enter")
        expect(page.locator("p.notice")).to_contain_text("granted")
        [consent] = patient_client.consents()
        assert consent.grantee == doctor_client.address and consent.active
        shot(page, "patient-alert")

        tab_to(page, "nav a[href='/alerts']")
        page.keyboard.press("Enter")
        page.wait_for_url("**/alerts")
        tab_to(page, "button.danger")
        page.keyboard.press("Enter")
        expect(page.locator("p.notice")).to_contain_text("emergency access ended")
        assert page.get_by_role("alert").count() == 0
        [access] = patient_client.break_glass_accesses()
        assert not access.open
        assert "ended" in page.locator("table").inner_text()
        shot(page, "patient-alerts")
        tab_to(page, "nav a[href='/claims']")
        page.keyboard.press("Enter")
        page.wait_for_url("**/claims")
        shot(page, "patient-claims")
    assert not new_page.errors, new_page.errors


GTIN = "09506000134352"  # a valid GTIN-14, company prefix 9506000


@pytest.fixture
def medicine(accounts, governor, contracts, ipfs):
    """A manufacturer's batch of 1,000 units, 200 of them (101..300) at a pharmacy; and a
    regulator. Returns (pharmacy, regulator, a code the pharmacy holds)."""
    from datetime import date, timedelta

    from carechain.trace import GS1Code, SupplyChainParty

    names = ("manufacturer", "distributor", "pharmacy", "regulator")
    parties = {}
    for name, account in zip(names, accounts[11:15], strict=True):
        contracts.registry.admit(governor, name, account)
        parties[name] = SupplyChainParty(account, contracts, ipfs)
    maker, pharmacy = parties["manufacturer"], parties["pharmacy"]
    contracts.trace.assign_company_prefix(governor, "9506000", maker.address)
    expiry = date.today() + timedelta(days=365)
    batch = maker.register_batch(GS1Code(GTIN, "LOT-7", expiry, None), 1, 1000, b"CoA: 99.8%")
    maker.ship(batch, 101, 300, pharmacy.address)
    pharmacy.accept_all(batch)
    code = GS1Code(GTIN, "LOT-7", expiry, "150").element_string()
    return pharmacy, parties["regulator"], code


def test_a_pharmacy_verifies_a_code_and_a_regulator_recalls_its_batch(new_page, medicine):
    """The pharmacy pastes a scanned code: genuine, held by it, its custody history; a
    serial never made is not genuine; a mistyped code is refused in the SDK's words. The
    regulator recalls the batch and sees who to call; the pharmacy's next scan says recalled."""
    pharmacy, regulator, code = medicine
    with (
        running("pharmacy", pharmacy) as pharmacy_portal,
        running("regulator", regulator) as regulator_portal,
    ):
        page = new_page()
        page.goto(pharmacy_portal.url)
        page.get_by_label("Scanned code").fill(code)
        page.get_by_role("button", name="Verify").click()
        verdict = page.locator("section.verdict")
        assert "Genuine and safe to use" in verdict.inner_text()
        assert pharmacy.address in verdict.inner_text()
        assert page.locator("ol.history li").count() == 3  # registered, offered, accepted
        assert page.get_by_role("button", name=re.compile("Recall")).count() == 0
        shot(page, "pharmacy-verify")

        page.get_by_label("Scanned code").fill(code.replace("(21)150", "(21)5000"))
        page.get_by_role("button", name="Verify").click()
        assert "NOT GENUINE" in page.locator("section.verdict").inner_text()
        page.get_by_label("Scanned code").fill(code.replace(GTIN, GTIN[:-1] + "3"))
        page.get_by_role("button", name="Verify").click()
        assert "check digit" in page.get_by_test_id("refusal").inner_text()

        officer = new_page()
        officer.goto(regulator_portal.url)
        officer.get_by_label("Scanned code").fill(code)
        officer.get_by_role("button", name="Verify").click()
        officer.get_by_label("Why").select_option("contamination")
        officer.get_by_role("button", name="Recall lot LOT-7").click()
        notice = officer.get_by_role("status")
        assert "Batch recalled" in notice.inner_text()
        assert pharmacy.address in officer.locator("main").inner_text()
        shot(officer, "regulator-recalled")

        page.get_by_label("Scanned code").fill(code)
        page.get_by_role("button", name="Verify").click()
        assert "batch RECALLED" in page.locator("section.verdict").inner_text()
        assert "do not use it" in page.locator("section.verdict").inner_text()
    assert not new_page.errors, new_page.errors
