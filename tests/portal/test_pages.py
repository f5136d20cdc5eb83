"""What the pages do, through a plain HTTP client (the browser flows are in
test_browser.py): an insurer without a settlement worker decides and settles on the page,
the patient sees the outcome and what she owes, a refusal is the SDK's words."""

import re
import time

import pytest

from carechain import ClaimStatus
from tests.helpers import USD, claim_for
from tests.portal.conftest import logged_in, running

pytestmark = pytest.mark.integration


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_an_insurer_approves_and_settles_on_the_page_and_the_patient_sees_it(
    hospital_client, patient_client, insurer_client, covered, contracts
):
    """No worker: approve on-chain from the claim's page (more than claimed is refused,
    nothing sent), settle, and the patient's claims page shows it paid and what she owes."""
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 1_100 * USD, "99214"
    )
    key = "0x" + claim_id.hex()
    with running("insurer", insurer_client) as server:
        client = logged_in(server)
        queue = client.get("/claims").text
        assert key in queue and "1,100.00" in queue and "submitted" in queue
        page = client.get(f"/claims/{key}").text
        csrf = _csrf(page)

        head = contracts.node.block_number()
        too_much = client.post(
            f"/claims/{key}/decide", data={"csrf": csrf, "action": "approve", "amount": "1100.01"}
        )
        assert too_much.status_code == 400 and "between 0 and the amount claimed" in too_much.text
        bad_reason = client.post(
            f"/claims/{key}/decide", data={"csrf": csrf, "action": "deny", "reason": "I said so"}
        )
        assert bad_reason.status_code == 400 and "not one of the choices" in bad_reason.text
        assert contracts.node.block_number() == head

        done = client.post(
            f"/claims/{key}/decide", data={"csrf": csrf, "action": "approve", "amount": "1100.00"}
        )
        assert done.status_code == 303 and "approved+on-chain" in done.headers["location"]
        assert contracts.claims.status(claim_id) is ClaimStatus.APPROVED
        again = client.post(
            f"/claims/{key}/decide", data={"csrf": csrf, "action": "approve", "amount": "1.00"}
        )
        assert again.status_code == 400 and "is approved, not waiting" in again.text

        settling = client.post("/settle", data={"csrf": csrf})
        assert settling.status_code == 303 and settling.headers["location"].startswith("/jobs/")
        for _ in range(120):  # the job's page refreshes itself until it is done
            progress = client.get(settling.headers["location"]).text
            if "Done:" in progress:
                break
            assert "Working…" in progress and 'http-equiv="refresh"' in progress
            time.sleep(0.5)
        assert "Done: settled 1 claim in 1 transaction." in progress
        assert 'http-equiv="refresh"' not in progress
        assert contracts.claims.status(claim_id) is ClaimStatus.PAID
        view = contracts.claims.claim(claim_id)

    with running("patient", patient_client) as server:
        client = logged_in(server)
        claims = client.get("/claims").text
        assert "paid" in claims
        owed = f"{view.patient_share / USD:,.2f}"
        assert f"You owe providers <strong>{owed}</strong>" in claims
        assert f"{view.approved / USD:,.2f}" in claims


def test_the_consent_export_is_a_fhir_consent(
    patient_client, doctor_client, chart_with_exact_value
):
    """The FHIR Consent of a grant, one click from the consents page."""
    with running("patient", patient_client) as server:
        client = logged_in(server)
        csrf = _csrf(client.get("/consents").text)
        form = {"csrf": csrf, "grantee": doctor_client.address.lower(), "scope": "all"}
        form |= {"purpose": "research", "period": "90", "action": "grant"}
        assert client.post("/consents", data=form).status_code == 303
        [consent] = patient_client.consents()
        exported = client.get(f"/consents/0x{consent.grant_id.hex()}.json")
        assert exported.headers["content-type"].startswith("application/fhir+json")
        resource = exported.json()
        assert resource["resourceType"] == "Consent" and resource["provision"]["type"] == "permit"
        assert doctor_client.address in exported.text


def test_a_patient_appoints_and_removes_a_guardian(patient_client, guardian):
    """The guardian is listed once appointed, and gone once removed."""
    with running("patient", patient_client) as server:
        client = logged_in(server)
        page = client.get("/consents").text
        assert "You have no guardian." in page
        form = {"csrf": _csrf(page), "guardian": guardian.address, "action": "appoint"}
        assert client.post("/guardians", data=form).status_code == 303
        assert patient_client.guardians() == [guardian.address]
        assert f"<code>{guardian.address}</code>" in client.get("/consents").text
        assert client.post("/guardians", data={**form, "action": "remove"}).status_code == 303
        assert patient_client.guardians() == []
        assert "You have no guardian." in client.get("/consents").text


def test_a_fake_device_reading_is_refused_or_flagged_on_the_clinicians_page(
    monkeypatch, accounts, governor, contracts, hospital, hospital_client, patient_client,
    doctor_client,
):  # fmt: skip
    """Review finding 1: a provider anchors an unsigned Observation naming a registered,
    keyed device as an ordinary record; the consented clinician's page refuses it (the
    default), or with CARECHAIN_UNTRUSTED_READINGS=mark shows it flagged, never plain."""
    from carechain import Purpose, Scope
    from carechain.device_sim import GLUCOSE, SimulatedDevice
    from carechain.devices import bind_device_key
    from carechain.trace import SupplyChainParty, device_id

    udi = "(01)00844588003288(21)PORTAL-GLU"
    maker = accounts[11]
    contracts.registry.admit(governor, "manufacturer", maker)
    contracts.trace.assign_company_prefix(governor, "0844588", maker.address)
    SupplyChainParty(maker, contracts, hospital_client.ipfs).register_device(udi, b"IFU")
    contracts.trace.assign_device(maker, device_id(udi), hospital.address)
    device = SimulatedDevice(udi, patient_client.address, GLUCOSE)
    bind_device_key(contracts, maker, udi, device.public_key)
    now = contracts.node.head_timestamp()
    fake = {k: v for k, v in device.reading(now).items() if k != "extension"}
    ref = hospital_client.anchor_record(patient_client.address, fake)
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, now + 3600)

    who = patient_client.address
    with running("clinician", doctor_client) as server:
        client = logged_in(server)
        form = {
            "csrf": _csrf(client.get(f"/patients/{who}").text),
            "record_id": "0x" + ref.record_id.hex(),
            "purpose": "treatment",
        }
        refused = client.post(f"/patients/{who}/read", data=form)
        assert refused.status_code == 403
        assert "not trusted" in refused.text and "failed their check" in refused.text
        monkeypatch.setenv("CARECHAIN_UNTRUSTED_READINGS", "mark")
        time.sleep(1.1)  # a second receipt of the same read in the same second is a duplicate
        flagged = client.post(f"/patients/{who}/read", data=form)
        assert flagged.status_code == 200
        assert "device reading 0: NOT trusted: tampered" in flagged.text


def test_pages_show_the_names_this_machine_gave_addresses_and_only_here(
    tmp_path, hospital_client, patient_client, chart_with_exact_value
):
    """A patient named her hospital in her address book: her records page says who wrote
    each record (the address stays in the tooltip); a name is a plain string escaped like
    any text; the book is a file readable by its owner only, and the chain knows nothing
    of it."""
    from carechain.names import AddressBook

    book = AddressBook(tmp_path / "names.json")
    book.set(hospital_client.address, "City <Hospital>")
    book.set(patient_client.address.lower(), "Alice")  # any case: one address
    with running("patient", patient_client, names=book) as server:
        page = logged_in(server).get("/records").text
    assert "written by City &lt;Hospital&gt;," in page
    assert f'title="{hospital_client.address}"' in page
    assert "signed in as <code>Alice</code>" in page
    assert (tmp_path / "names.json").stat().st_mode & 0o077 == 0
    with running("patient", patient_client) as server:  # no book: the short address
        page = logged_in(server).get("/records").text
    assert f"written by {hospital_client.address[:6]}…{hospital_client.address[-4:]}," in page


def test_an_address_book_refuses_what_a_page_should_not_show(tmp_path):
    from carechain.errors import ConfigurationError
    from carechain.names import AddressBook

    book = AddressBook(tmp_path / "names.json")
    for bad in ("", "   ", "x" * 41, "Dr\x1b[31mEve", "Dr\u202eEve"):
        with pytest.raises(ValueError, match="1 to 40 printable characters"):
            book.set("0x" + "ab" * 20, bad)
    assert not (tmp_path / "names.json").exists()
    book.set("0x" + "ab" * 20, " Dr\n  Eve ")  # white space, as one space
    assert AddressBook(tmp_path / "names.json").name("0x" + "AB" * 20) == "Dr Eve"
    (tmp_path / "names.json").unlink()
    (tmp_path / "names.json").write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="not an address book"):
        AddressBook(tmp_path / "names.json")
