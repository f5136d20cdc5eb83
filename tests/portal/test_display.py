"""FHIR as a person reads it on the portal's pages (no chain, no browser)."""

from carechain.fhir import loads
from carechain.portal.display import moment, money, summarize
from carechain.samples import chart
from tests.helpers import EXACT_OBSERVATION


def test_an_observation_keeps_its_decimals_exactly_as_written():
    """0.40 stays 0.40 and 12500.00 stays 12500.00: a page must not re-round a lab value."""
    shown = summarize(loads(EXACT_OBSERVATION))
    assert (shown.title, shown.value) == ("Potassium", "0.40 mmol/L")
    assert ("reference range", "0.001530 to 12500.00") in shown.details
    assert shown.when_text == "2026-11-20 10:00 UTC"


def test_condition_encounter_and_patient_read_as_words():
    patient, encounter, condition = chart(3, "MRN-3")[:3]
    shown = summarize(condition)
    assert (
        shown.title == condition["code"]["text"] and ("clinical status", "active") in shown.details
    )
    visit = summarize(encounter)
    day = encounter["period"]["start"][:10]
    assert visit.title == encounter["type"][0]["text"]
    assert visit.when_text == f"{day} 08:00 to 09:30 UTC"
    person = summarize(patient)
    assert person.kind == "Patient" and ("born", patient["birthDate"]) in person.details


def test_dates_and_money_in_words():
    assert moment("2026-06-05") == "2026-06-05"
    assert moment("2026-06-05T08:00:00+02:00") == "2026-06-05 08:00 +02:00"
    assert moment("not a date T") == "not a date T"
    assert money(1_100_500_000, 6) == "1,100.50"


def test_a_claim_reads_as_its_items_and_total():
    claim = loads(
        """{"resourceType": "Claim", "status": "active", "total": {"value": 120.50,
        "currency": "USD"}, "item": [{"sequence": 1, "servicedDate": "2026-12-01",
        "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
        "code": "99213", "display": "Office visit"}]}, "net": {"value": 120.50,
        "currency": "USD"}}]}"""
    )
    shown = summarize(claim)
    assert (shown.title, shown.value, shown.when) == (
        "Claim for 1 item",
        "120.50 USD",
        "2026-12-01",
    )
    assert any(
        label.endswith("Office visit") and value == "120.50 USD" for label, value in shown.details
    )
