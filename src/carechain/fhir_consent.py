"""Grants as HL7 FHIR R4 ``Consent`` resources, and grants made from them.

A carechain consent maps onto one Consent: ``provision.type`` permit/deny, ``period``,
``actor`` (the grantee, role IRCP "information recipient"), ``purpose`` (v3 ActReason),
and ``class`` (a category) or ``data`` (one record). Parties are named by their Ethereum
addresses, so an exported Consent carries no personal identifier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .errors import InvalidRecordError
from .fhir import Category, parse_resource
from .model import ConsentRecord, Purpose, Scope, ScopeKind

ADDRESS_SYSTEM = "urn:ietf:rfc:3986:ethereum-address"
RECORD_SYSTEM = "urn:carechain:record-id"
CATEGORY_SYSTEM = "urn:carechain:category"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_PURPOSE_CODES = {
    Purpose.TREATMENT: "TREAT",
    Purpose.PAYMENT: "HPAYMT",
    Purpose.RESEARCH: "HRESCH",
    Purpose.EMERGENCY: "ETREAT",
}


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _address(value: str) -> dict[str, Any]:
    return {"identifier": {"system": ADDRESS_SYSTEM, "value": value}}


def to_fhir_consent(consent: ConsentRecord) -> dict[str, Any]:
    """A consent as a validated FHIR R4 Consent resource."""
    provision: dict[str, Any] = {
        "type": "deny" if consent.deny else "permit",
        "period": {"start": _time(consent.start), "end": _time(consent.end)},
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": _address(consent.grantee),
            }
        ],
        "purpose": [{"system": _ACT_REASON, "code": _PURPOSE_CODES[consent.purpose]}],
    }
    if consent.scope.kind is ScopeKind.CATEGORY:
        code = Category(int.from_bytes(consent.scope.value, "big")).name
        provision["class"] = [{"system": CATEGORY_SYSTEM, "code": code}]
    elif consent.scope.kind is ScopeKind.RECORD:
        reference = {
            "identifier": {"system": RECORD_SYSTEM, "value": "0x" + consent.scope.value.hex()}
        }
        provision["data"] = [{"meaning": "instance", "reference": reference}]
    resource = {
        "resourceType": "Consent",
        "id": consent.grant_id.hex()[:64],
        "status": "active" if consent.active else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": _address(consent.patient),
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
        "provision": provision,
    }
    return parse_resource(resource)


def from_fhir_consent(resource: dict[str, Any]) -> tuple[str, Scope, Purpose, int, bool]:
    """(grantee, scope, purpose, end time, deny) from a FHIR Consent, to pass to
    ``Patient.grant_access`` / ``deny_access``. Refuses what carechain cannot express."""
    consent = parse_resource(resource)
    if consent["resourceType"] != "Consent":
        raise InvalidRecordError(f"expected a Consent, got {consent['resourceType']}")
    provision = consent.get("provision") or {}
    try:
        [actor] = provision["actor"]
        grantee = actor["reference"]["identifier"]["value"]
        [purpose_code] = provision["purpose"]
        purpose = {v: k for k, v in _PURPOSE_CODES.items()}[purpose_code["code"]]
        end = provision["period"]["end"]
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidRecordError(
            "a Consent needs one provision.actor (by address), one provision.purpose "
            f"(TREAT, HPAYMT, HRESCH or ETREAT) and provision.period.end ({exc!r})"
        ) from exc
    if provision.get("class"):
        scope = Scope.category(Category[provision["class"][0]["code"]])
    elif provision.get("data"):
        value = provision["data"][0]["reference"]["identifier"]["value"]
        scope = Scope.record(bytes.fromhex(value.removeprefix("0x")))
    else:
        scope = Scope.all()
    end_time = int(datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp())
    return grantee, scope, purpose, end_time, provision.get("type") == "deny"
