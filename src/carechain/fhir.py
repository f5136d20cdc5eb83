"""FHIR R4 records: validation before encryption, canonical bytes, record categories.

Records are FHIR R4 resources or Bundles, validated with the ``fhir.resources`` R4B models
(R4 content validates against them). Invalid FHIR is refused with the validator's reason
before anything is encrypted, stored or anchored.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from .errors import InvalidRecordError


class Category(enum.IntEnum):
    """Record categories, stored on-chain as one byte; consent scopes refer to them."""

    OTHER = 0
    DEMOGRAPHICS = 1
    OBSERVATION = 2
    CONDITION = 3
    ENCOUNTER = 4
    MEDICATION = 5
    PROCEDURE = 6
    IMAGING = 7
    ALLERGY = 8
    IMMUNIZATION = 9
    MENTAL_HEALTH = 10
    DOCUMENT = 11
    BILLING = 12


_CATEGORY_BY_TYPE = {
    "Patient": Category.DEMOGRAPHICS,
    "Observation": Category.OBSERVATION,
    "Condition": Category.CONDITION,
    "Encounter": Category.ENCOUNTER,
    "MedicationRequest": Category.MEDICATION,
    "MedicationStatement": Category.MEDICATION,
    "Procedure": Category.PROCEDURE,
    "ImagingStudy": Category.IMAGING,
    "DiagnosticReport": Category.OBSERVATION,
    "AllergyIntolerance": Category.ALLERGY,
    "Immunization": Category.IMMUNIZATION,
    "DocumentReference": Category.DOCUMENT,
    "Claim": Category.BILLING,
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


def parse_resource(
    resource: dict[str, Any] | str | bytes, *, normalize: bool = True
) -> dict[str, Any]:
    """Validate a FHIR R4 resource (or Bundle) and return it as plain JSON data.

    With ``normalize`` (the default) the result is the validator's normal form (what
    :func:`canonical_bytes` encrypts). Readers of decrypted records pass ``normalize=False``:
    the plaintext already is that form, so it is validated and returned as it is (about half
    the time for a 1 MiB record).

    Raises :class:`InvalidRecordError` with the validator's reason when it is not valid.
    """
    if isinstance(resource, bytes | str):
        try:
            resource = json.loads(resource)
        except json.JSONDecodeError as exc:
            raise InvalidRecordError(f"record is not JSON: {exc}") from exc
    if not isinstance(resource, dict):
        raise InvalidRecordError("a FHIR resource is a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InvalidRecordError("a FHIR resource needs a 'resourceType'")
    try:
        model_class = get_fhir_model_class(resource_type)
    except (KeyError, ValueError) as exc:
        raise InvalidRecordError(f"'{resource_type}' is not a FHIR R4 resource type") from exc
    _check_required_codes(resource, "")
    try:
        model = model_class.model_validate(resource)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or resource_type}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidRecordError(f"invalid FHIR {resource_type}: {reasons}") from exc
    if not normalize:
        return resource
    return json.loads(model.model_dump_json(exclude_none=True))


def canonical_bytes(resource: dict[str, Any]) -> bytes:
    """Validated, compact, key-sorted UTF-8 JSON: the plaintext that gets encrypted."""
    data = parse_resource(resource)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def category_for(resource: dict[str, Any]) -> Category:
    """The category of a resource (a Bundle takes the category of its first entry)."""
    resource_type = resource.get("resourceType", "")
    if resource_type == "Bundle":
        entries = resource.get("entry") or []
        if entries and isinstance(entries[0].get("resource"), dict):
            return category_for(entries[0]["resource"])
        return Category.OTHER
    return _CATEGORY_BY_TYPE.get(resource_type, Category.OTHER)


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
