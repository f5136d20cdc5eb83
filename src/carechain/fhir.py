"""FHIR R4 records: validation before encryption, canonical bytes, record categories.

Records are FHIR R4 resources or Bundles, validated with the ``fhir.resources`` R4B models
(R4 content validates against them). Invalid FHIR is refused with the validator's reason
before anything is encrypted, stored or anchored.

What is stored is what the hospital wrote: the models only validate; the record's JSON is
kept as it came (keys sorted, whitespace removed) and its numbers never pass through a
float. FHIR decimals are significant to their last digit (a potassium of 0.40 is not 0.4),
so JSON is read with :func:`loads` (decimals as :class:`~decimal.Decimal`) and written with
:func:`dumps` (each Decimal exactly as read).
"""

from __future__ import annotations

import enum
import json
from decimal import Decimal
from typing import Any

from .errors import InvalidRecordError


class Category(enum.IntEnum):
    """Record categories, stored on-chain as one byte; consent scopes refer to them. Values
    are never renumbered (anchored records keep the category they were anchored with); new
    ones are added at the end."""

    OTHER = 0
    DEMOGRAPHICS = 1
    OBSERVATION = 2  # observations: vital signs, measurements, lab values
    CONDITION = 3  # problems and diagnoses
    ENCOUNTER = 4  # visits and stays
    MEDICATION = 5
    PROCEDURE = 6
    IMAGING = 7
    ALLERGY = 8
    IMMUNIZATION = 9
    MENTAL_HEALTH = 10  # chosen by the author (anchor with category=...), not by type
    DOCUMENT = 11
    BILLING = 12
    LAB_REPORT = 13  # diagnostic reports and specimens
    CARE_PLAN = 14  # plans, goals, care teams, orders
    DEVICE = 15  # devices used by or implanted in the patient
    FAMILY_HISTORY = 16


#: The category each FHIR resource type is anchored under (README: "Record categories").
#: A type not listed is OTHER; an author can always choose the category explicitly.
CATEGORY_BY_TYPE: dict[str, Category] = {
    "Patient": Category.DEMOGRAPHICS,
    "RelatedPerson": Category.DEMOGRAPHICS,
    "Observation": Category.OBSERVATION,
    "Condition": Category.CONDITION,
    "ClinicalImpression": Category.CONDITION,
    "Encounter": Category.ENCOUNTER,
    "EpisodeOfCare": Category.ENCOUNTER,
    "Appointment": Category.ENCOUNTER,
    "Medication": Category.MEDICATION,
    "MedicationRequest": Category.MEDICATION,
    "MedicationStatement": Category.MEDICATION,
    "MedicationAdministration": Category.MEDICATION,
    "MedicationDispense": Category.MEDICATION,
    "Procedure": Category.PROCEDURE,
    "ImagingStudy": Category.IMAGING,
    "Media": Category.IMAGING,
    "AllergyIntolerance": Category.ALLERGY,
    "Immunization": Category.IMMUNIZATION,
    "ImmunizationRecommendation": Category.IMMUNIZATION,
    "ImmunizationEvaluation": Category.IMMUNIZATION,
    "DocumentReference": Category.DOCUMENT,
    "Composition": Category.DOCUMENT,
    "Claim": Category.BILLING,
    "ClaimResponse": Category.BILLING,
    "Coverage": Category.BILLING,
    "ExplanationOfBenefit": Category.BILLING,
    "Invoice": Category.BILLING,
    "DiagnosticReport": Category.LAB_REPORT,
    "Specimen": Category.LAB_REPORT,
    "CarePlan": Category.CARE_PLAN,
    "Goal": Category.CARE_PLAN,
    "CareTeam": Category.CARE_PLAN,
    "ServiceRequest": Category.CARE_PLAN,
    "NutritionOrder": Category.CARE_PLAN,
    "Device": Category.DEVICE,
    "DeviceRequest": Category.DEVICE,
    "DeviceUseStatement": Category.DEVICE,
    "FamilyMemberHistory": Category.FAMILY_HISTORY,
}


#: Codes from required value-set bindings that the validator library does not enforce (it
#: types them only as ``code``): a record with another value is refused.
_REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("DocumentReference", "status"): frozenset({"current", "superseded", "entered-in-error"}),
    ("DiagnosticReport", "status"): frozenset(
        {
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Procedure", "status"): frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    ("MedicationRequest", "status"): frozenset(
        {
            "active",
            "on-hold",
            "cancelled",
            "completed",
            "entered-in-error",
            "stopped",
            "draft",
            "unknown",
        }
    ),
    ("Immunization", "status"): frozenset({"completed", "entered-in-error", "not-done"}),
    ("Claim", "status"): frozenset({"active", "cancelled", "draft", "entered-in-error"}),
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    ("ResearchStudy", "status"): frozenset(
        {
            "active",
            "administratively-completed",
            "approved",
            "closed-to-accrual",
            "closed-to-accrual-and-intervention",
            "completed",
            "disapproved",
            "in-review",
            "temporarily-closed-to-accrual",
            "temporarily-closed-to-accrual-and-intervention",
            "withdrawn",
        }
    ),
    ("EvidenceReport", "status"): frozenset({"draft", "active", "retired", "unknown"}),
}


def _check_required_codes(resource: dict[str, Any], where: str) -> None:
    kind = resource.get("resourceType", "")
    for (resource_type, field), allowed in _REQUIRED_CODES.items():
        if kind == resource_type and field in resource and resource[field] not in allowed:
            raise InvalidRecordError(
                f"invalid FHIR {kind}: {where}{field} {resource[field]!r} is not one of "
                f"{', '.join(sorted(allowed))}"
            )
    for index, entry in enumerate(resource.get("entry") or [] if kind == "Bundle" else []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            _check_required_codes(entry["resource"], f"{where}entry.{index}.resource.")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """JSON as FHIR means it: decimals as :class:`~decimal.Decimal` (``0.40`` stays
    ``0.40``); NaN and Infinity, which JSON does not have, are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def dumps(data: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON text for ``data``, writing each :class:`~decimal.Decimal` exactly as it is (the
    standard encoder cannot). Compact when ``indent`` is None."""
    return _encode(data, indent, sort_keys, 0)


def _encode(value: Any, indent: int | None, sort_keys: bool, level: int) -> str:
    if isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else list(value.items())
        if not items:
            return "{}"
        parts = [
            f"{json.dumps(str(k), ensure_ascii=False)}{': ' if indent is not None else ':'}"
            f"{_encode(v, indent, sort_keys, level + 1)}"
            for k, v in items
        ]
        return _join("{", parts, "}", indent, level)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        parts = [_encode(v, indent, sort_keys, level + 1) for v in value]
        return _join("[", parts, "]", indent, level)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _join(open_: str, parts: list[str], close: str, indent: int | None, level: int) -> str:
    if indent is None:
        return open_ + ",".join(parts) + close
    inner = "\n" + " " * (indent * (level + 1))
    return open_ + inner + ("," + inner).join(parts) + "\n" + " " * (indent * level) + close


def parse_resource(resource: dict[str, Any] | str | bytes) -> dict[str, Any]:
    """Validate a FHIR R4 resource (or Bundle) and return it as JSON data, exactly as given
    (text is read with :func:`loads`, so decimals keep their digits). Nothing is changed or
    normalised: validation only checks.

    Raises :class:`InvalidRecordError` with the validator's reason when it is not valid.
    """
    if isinstance(resource, bytes | str):
        try:
            resource = loads(resource)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidRecordError(f"record is not JSON: {exc}") from exc
    if not isinstance(resource, dict):
        raise InvalidRecordError("a FHIR resource is a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InvalidRecordError("a FHIR resource needs a 'resourceType'")
    # The R4B models take ~0.2 s to import: loaded on the first validation, not with the
    # package (the command line's --help and offline commands never need them).
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        model_class = get_fhir_model_class(resource_type)
    except (KeyError, ValueError) as exc:
        raise InvalidRecordError(f"'{resource_type}' is not a FHIR R4 resource type") from exc
    _check_required_codes(resource, "")
    try:
        model_class.model_validate(resource)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or resource_type}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidRecordError(f"invalid FHIR {resource_type}: {reasons}") from exc
    return resource


def canonical_bytes(resource: dict[str, Any]) -> bytes:
    """Validated, compact, key-sorted UTF-8 JSON of the resource as written: the plaintext
    that gets encrypted. Decimals keep their digits; a float (from a caller that parsed
    JSON with the standard library) is written as Python's shortest repr of it, which has
    already lost trailing zeros: pass text, or data read with :func:`loads`."""
    data = parse_resource(resource)
    try:
        return dumps(data, sort_keys=True).encode()
    except ValueError as exc:
        raise InvalidRecordError(f"record holds a number JSON cannot carry: {exc}") from exc


def logical_id(resource: Any) -> str | None:
    """A resource's FHIR logical id (``id``), or None when it has none (or it is empty)."""
    value = resource.get("id") if isinstance(resource, dict) else None
    return value if isinstance(value, str) and value else None


def category_for(resource: dict[str, Any]) -> Category:
    """The category of a resource (a Bundle takes the category of its first entry)."""
    resource_type = resource.get("resourceType", "")
    if resource_type == "Bundle":
        entries = resource.get("entry") or []
        if entries and isinstance(entries[0].get("resource"), dict):
            return category_for(entries[0]["resource"])
        return Category.OTHER
    return CATEGORY_BY_TYPE.get(resource_type, Category.OTHER)


def describe(resource: dict[str, Any]) -> str:
    """A short human label for tables (resource type and its main code's text)."""
    resource_type = resource.get("resourceType", "?")
    code = resource.get("code") or {}
    label = code.get("text") or next(
        (c.get("display") for c in code.get("coding", []) if c.get("display")), None
    )
    if resource_type == "Encounter":
        kinds = resource.get("type") or [{}]
        label = kinds[0].get("text")
    return f"{resource_type}: {label}" if label else resource_type
