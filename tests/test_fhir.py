"""FHIR: valid R4 records pass, invalid ones are refused with the validator's reason."""

import json

import pytest

from carechain import InvalidRecordError
from carechain.fhir import Category, canonical_bytes, category_for, parse_resource
from carechain.samples import chart


def test_sample_charts_are_valid_fhir():
    """Every kind of demo record validates and maps to its category."""
    records = chart(7, "MRN-7")
    kinds = [category_for(r) for r in records]
    assert kinds[:3] == [Category.DEMOGRAPHICS, Category.ENCOUNTER, Category.CONDITION]
    assert set(kinds[3:]) == {Category.OBSERVATION}
    for record in records:
        assert parse_resource(record)["resourceType"] == record["resourceType"]


def test_canonical_bytes_are_stable():
    """Key order does not change the bytes that get encrypted."""
    record = chart(3, "MRN-3")[2]
    reordered = dict(reversed(list(record.items())))
    assert canonical_bytes(record) == canonical_bytes(reordered)


def test_bundle_takes_first_entry_category():
    record = chart(4, "MRN-4")[2]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": record}]}
    assert parse_resource(bundle)["type"] == "collection"
    assert category_for(bundle) == Category.CONDITION


@pytest.mark.parametrize(
    "record,reason",
    [
        ({"resourceType": "Observation", "status": "final"}, "code"),
        ({"resourceType": "Patient", "gender": 42}, "gender"),
        ({"resourceType": "Patient", "birthDate": "yesterday"}, "birthDate"),
        ({"resourceType": "NotAThing"}, "not a FHIR R4 resource type"),
        ({"status": "final"}, "resourceType"),
        ("{not json", "not JSON"),
        ([1, 2], "JSON object"),
    ],
    ids=["missing-code", "bad-gender", "bad-date", "unknown-type", "no-type", "not-json", "array"],
)
def test_invalid_records_are_refused_with_reason(record, reason):
    with pytest.raises(InvalidRecordError, match=reason):
        parse_resource(record)


def test_reading_without_normalizing_returns_the_canonical_form_unchanged():
    """Readers skip re-normalising decrypted plaintext: for what canonical_bytes produced,
    the result is the same as the normal form, and invalid FHIR is still refused."""
    for resource in chart(3, "MRN-3"):
        plaintext = canonical_bytes(resource)
        assert parse_resource(plaintext, normalize=False) == parse_resource(plaintext)
    broken = json.dumps({"resourceType": "Observation", "status": "not-a-status"})
    with pytest.raises(InvalidRecordError):
        parse_resource(broken, normalize=False)
