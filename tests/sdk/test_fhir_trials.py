"""The FHIR side of clinical trials, offline: a ResearchStudy's outcome measures are
validated, the primary-outcome hash does not depend on listing order, results are checked
against the registered outcomes, and public documents refuse anything personal."""

import copy

import pytest

from carechain.errors import InvalidRecordError
from carechain.fhir_trials import (
    build_research_study,
    build_results,
    check_public,
    outcome_measures,
    primary_outcomes_hash,
    reported_outcomes,
    results_findings,
)

SPONSOR = "0x" + "5f" * 20


def test_outcomes_are_read_back_by_kind():
    """Primary and secondary outcome measures come back as registered."""
    study = build_research_study("T", SPONSOR, ["A1c", "Fasting glucose"], ["Weight"])
    assert outcome_measures(study) == (["A1c", "Fasting glucose"], ["Weight"])


def test_primary_hash_ignores_order_not_words():
    """Listing order does not change the hash; one word does."""
    ab = build_research_study("T", SPONSOR, ["b", "a"], ["Weight"])
    ba = build_research_study("T", SPONSOR, ["a", "b"], ["Weight"])
    assert primary_outcomes_hash(ab) == primary_outcomes_hash(ba)
    longer = build_research_study("T", SPONSOR, ["a at 26 weeks", "b"], ["Weight"])
    assert primary_outcomes_hash(ab) != primary_outcomes_hash(longer)


def test_primary_hash_covers_whole_entries():
    """The hash covers each primary objective entry whole (a definition carried in it, e.g.
    an extension saying when it is measured), not its name alone (review finding 5); the
    secondary outcomes are not part of it."""
    study = build_research_study("T", SPONSOR, ["A1c"], ["Weight"])
    redefined = copy.deepcopy(study)
    redefined["objective"][0]["extension"] = [
        {"url": "https://carechain.example/outcome-definition", "valueString": "at 52 weeks"}
    ]
    assert primary_outcomes_hash(study) != primary_outcomes_hash(redefined)
    other_secondary = build_research_study("T", SPONSOR, ["A1c"], ["BMI"])
    assert primary_outcomes_hash(study) == primary_outcomes_hash(other_secondary)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(objective=[]), "at least one primary outcome"),
        (lambda s: s["objective"].append(dict(s["objective"][0])), "twice"),
        (lambda s: s["objective"][0].pop("name"), "needs a name"),
        (lambda s: s.update(status="running"), "status 'running'"),
        (lambda s: s.update(resourceType="PlanDefinition", status="active"), "ResearchStudy"),
    ],
)
def test_invalid_studies_are_refused(change, message):
    """No primary outcome, a duplicate, an unnamed one, a bad status, another resource."""
    study = build_research_study("T", SPONSOR, ["A1c"], ["Weight"])
    change(study)
    with pytest.raises(InvalidRecordError, match=message):
        outcome_measures(study)


def test_results_are_checked_against_the_registration():
    """An unregistered outcome and an omitted primary are named; matching results are clean."""
    results = build_results(1, SPONSOR, {"Weight": "-2 kg", "Time in range": "+12%"})
    reported = reported_outcomes(results)
    assert results_findings(["A1c"], ["Weight"], reported) == [
        "reports 'Time in range', which was never registered",
        "omits the primary outcome 'A1c'",
    ]
    assert results_findings(["A1c"], ["Weight"], ["a1c", "Weight"]) == []


def test_results_escape_markup():
    """A result's text cannot inject markup into the narrative."""
    results = build_results(1, SPONSOR, {"A1c": "<script>x</script> & more"})
    assert "&lt;script&gt;" in results["section"][0]["text"]["div"]


def _study(**fields):
    return {"resourceType": "ResearchStudy", **fields}


@pytest.mark.parametrize(
    "document, message",
    [
        ({"resourceType": "ResearchStudy", "enrollment": [{"reference": "Group/1"}]}, "enrollment"),
        ({"resourceType": "ResearchStudy", "site": [{"reference": "Patient/7"}]}, "Patient"),
        ({"resourceType": "ResearchStudy", "description": "call +44 20 7946 0958"}, "phone"),
        ({"resourceType": "ResearchStudy", "description": "or (555) 123-4567"}, "phone"),
        ({"resourceType": "ResearchStudy", "description": "mail a@b.org"}, "e-mail"),
        ({"resourceType": "ResearchStudy", "contained": [{"id": "p"}]}, "contained"),
        (b"participant 0x" + b"12" * 20, "not the sponsor"),
        # Ways around the check the review found (issue 19, finding 7): each refused.
        (b"%PDF-1.7\xff\xfe binary", "UTF-8"),
        (_study(site=[{"reference": "https://ehr.example/fhir/Patient/123"}]), "Patient"),
        (_study(site=[{"reference": "ResearchSubject/9"}]), "ResearchSubject"),
        (_study(site=[{"reference": "PractitionerRole/4"}]), "PractitionerRole"),
        (_study(site=[{"reference": "Location/home-of-jane"}]), "Location"),
        (_study(site=[{"reference": "urn:uuid:5b1e4d3c-0000-4000-8000-000000000001"}]), "urn"),
        (_study(site=[{"identifier": {"value": "MRN-77"}, "display": "Jane Doe"}]), "identifier"),
        (_study(site=[{"type": "Patient", "display": "Jane Doe"}]), "Patient"),
        (
            _study(extension=[{"url": "x", "valueString": '{"reference": "Patient/1"}'}]),
            "Patient",
        ),
        (b"participant " + b"ab" * 20, "not the sponsor"),
        (b"participant 0X" + b"AB" * 20, "not the sponsor"),
        (b"call 0612345678", "phone"),
        (b"mail jane.doe at example dot org", "e-mail"),
        (b"mail jane.doe [at] example.org", "e-mail"),
    ],
)
def test_public_documents_refuse_personal_data(document, message):
    """Groups of people, patients, contact details, participants' addresses: refused."""
    with pytest.raises(InvalidRecordError, match=message):
        check_public(document, SPONSOR)


def test_public_documents_may_name_the_sponsor_and_public_resources():
    """The sponsor's own address (any case, with or without 0x), dates, decimals, counts and
    digests, and references to organisations and protocol definitions, pass."""
    check_public(f"Sponsor {SPONSOR}".encode(), SPONSOR)
    check_public(f"Sponsor {SPONSOR[2:].upper()}".encode(), SPONSOR)
    check_public(b"From 2026-12-04 to 2027-06-02: p=0.000012345, n=1234567890", SPONSOR)
    check_public(b"HbA1c at 26 weeks; sha-256 " + b"ab" * 32, SPONSOR)
    check_public(
        _study(
            site=[{"reference": "https://registry.example/fhir/Organization/site-1"}],
            protocol=[{"reference": "PlanDefinition/p1", "display": "Protocol v1"}],
        ),
        SPONSOR,
    )
