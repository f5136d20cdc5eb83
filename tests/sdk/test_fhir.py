"""FHIR: valid R4 records pass, invalid ones are refused with the validator's reason."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from carechain import InvalidRecordError
from carechain.fhir import (
    CATEGORY_BY_TYPE,
    Category,
    canonical_bytes,
    category_for,
    dumps,
    parse_resource,
)
from carechain.samples import chart
from tests.helpers import EXACT_OBSERVATION


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


@pytest.mark.parametrize(
    "resource_type,category",
    [
        ("MedicationRequest", Category.MEDICATION),
        ("MedicationAdministration", Category.MEDICATION),
        ("Immunization", Category.IMMUNIZATION),
        ("AllergyIntolerance", Category.ALLERGY),
        ("Procedure", Category.PROCEDURE),
        ("DiagnosticReport", Category.LAB_REPORT),
        ("ImagingStudy", Category.IMAGING),
        ("DocumentReference", Category.DOCUMENT),
        ("CarePlan", Category.CARE_PLAN),
        ("Device", Category.DEVICE),
        ("FamilyMemberHistory", Category.FAMILY_HISTORY),
        ("ExplanationOfBenefit", Category.BILLING),
        ("Basic", Category.OTHER),
    ],
)
def test_clinical_resource_types_land_in_the_categories_patients_choose(resource_type, category):
    """Consent by category tells a prescription from a vaccination from a lab report."""
    assert category_for({"resourceType": resource_type}) is category


def test_the_category_table_in_readme_is_the_code():
    """README's table lists exactly the mapping the code uses."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("<!-- categories -->")[1]
    for resource_type, category in CATEGORY_BY_TYPE.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {category.name} "))
        assert f"`{resource_type}`" in row, (resource_type, category)
    assert sum(table.count(f"`{t}`") for t in CATEGORY_BY_TYPE) == len(CATEGORY_BY_TYPE)


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


#: A lab result and a claim as a hospital writes them: trailing zeros are significant.


def test_decimals_and_dates_are_stored_exactly_as_written():
    """What is encrypted keeps 0.40, 12500.00 and 0.001530 digit for digit, and the date as
    written (the validator's normal form would have made them 0.4, 12500.0, 0.00153 and Z)."""
    plaintext = canonical_bytes(parse_resource(EXACT_OBSERVATION)).decode()
    for written in ('"value":0.40', '"value":12500.00', '"value":0.001530', "+00:00"):
        assert written in plaintext
    again = parse_resource(plaintext.encode())
    assert str(again["valueQuantity"]["value"]) == "0.40"
    assert canonical_bytes(again).decode() == plaintext


def test_dumps_writes_decimals_exactly_and_refuses_what_json_cannot_carry():
    data = {"b": [Decimal("0.40"), Decimal("1E+3"), 2, "é"], "a": {}}
    assert dumps(data, sort_keys=True) == '{"a":{},"b":[0.40,1E+3,2,"é"]}'
    assert json.loads(dumps(data, indent=2)) == json.loads(dumps(data))
    assert dumps(data, indent=2).startswith('{\n  "b": [\n    0.40,')
    with pytest.raises(ValueError):
        dumps({"x": Decimal("NaN")})
    with pytest.raises(InvalidRecordError, match="not JSON"):
        parse_resource(b'{"resourceType": "Observation", "value": NaN}')


def test_invalid_plaintext_is_refused_on_reading():
    broken = json.dumps({"resourceType": "Observation", "status": "not-a-status"})
    with pytest.raises(InvalidRecordError):
        parse_resource(broken)
