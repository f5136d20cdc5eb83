"""FHIR R4 ``Claim`` resources for submission, and ``ClaimResponse`` from on-chain outcomes.

Parties are referenced by Ethereum address and records by carechain record id, so neither
resource carries a personal identifier; the Claim itself is only ever stored encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidRecordError
from .fhir import parse_resource
from .fhir_consent import ADDRESS_SYSTEM, RECORD_SYSTEM
from .model import TOKEN_DECIMALS, ClaimStatus, ClaimView

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
_CENT = Decimal("0.01")


def money(units: int) -> Decimal:
    """Token units (6 decimals) as a FHIR Money value: exact, at least two decimals
    (300000000 -> 300.00, 1234567 -> 1.234567), never through a float."""
    value = Decimal(units).scaleb(-TOKEN_DECIMALS)
    cents = value.quantize(_CENT)
    return cents if cents == value else value.normalize()


def _ref(address: str) -> dict[str, Any]:
    return {"identifier": {"system": ADDRESS_SYSTEM, "value": address}}


def _header(resource_type: str, patient: str) -> dict[str, Any]:
    """What a professional Claim and its ClaimResponse both start with."""
    return {
        "resourceType": resource_type,
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": _ref(patient),
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def build_claim(
    patient: str,
    provider: str,
    insurer: str,
    policy_id: int,
    service_date: date,
    codes: list[tuple[str, str, int]],
    record_ids: list[bytes],
) -> dict[str, Any]:
    """A validated FHIR Claim: ``codes`` are (CPT code, display, amount in token units)."""
    total = sum(amount for _, _, amount in codes)
    resource = {
        **_header("Claim", patient),
        "provider": _ref(provider),
        "insurer": _ref(insurer),
        "priority": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                    "code": "normal",
                }
            ]
        },
        "insurance": [
            {
                "sequence": 1,
                "focal": True,
                "coverage": {
                    "identifier": {"system": "urn:carechain:policy", "value": str(policy_id)}
                },
            }
        ],
        "supportingInfo": [
            {
                "sequence": i + 1,
                "category": {"text": "carechain record"},
                "valueReference": {
                    "identifier": {"system": RECORD_SYSTEM, "value": "0x" + r.hex()}
                },
            }
            for i, r in enumerate(record_ids)
        ],
        "item": [
            {
                "sequence": i + 1,
                "productOrService": {
                    "coding": [{"system": CPT_SYSTEM, "code": code, "display": display}]
                },
                "servicedDate": service_date.isoformat(),
                "net": {"value": money(amount), "currency": "USD"},
            }
            for i, (code, display, amount) in enumerate(codes)
        ],
        "total": {"value": money(total), "currency": "USD"},
    }
    return parse_resource(resource)


def claim_amount(claim: dict[str, Any]) -> int:
    """The claim's total in token units (6 decimals), computed exactly; a total with more
    decimal places than the token has is refused rather than rounded."""
    raw = claim["total"]["value"]
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
        units = value.scaleb(TOKEN_DECIMALS)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidRecordError(f"the Claim's total {raw!r} is not a number") from exc
    if not units.is_finite() or units != units.to_integral_value():
        raise InvalidRecordError(
            f"the Claim's total {raw} has more than {TOKEN_DECIMALS} decimal places; "
            "the settlement token cannot pay it exactly"
        )
    return int(units)


def claim_codes(claim: dict[str, Any]) -> list[str]:
    """The billing codes of a claim's items, sorted."""
    return sorted(
        coding["code"]
        for item in claim.get("item", [])
        for coding in item["productOrService"].get("coding", [])
    )


def codes_hash(secret: bytes, codes: list[str]) -> bytes:
    """A provider-keyed hash of billing codes: the same codes give the same hash for the same
    provider (so duplicates are refused), but nobody else can guess the codes from it."""
    return hmac.new(secret, "\n".join(sorted(codes)).encode(), hashlib.sha256).digest()


def claim_response(view: ClaimView, patient: str, insurer: str) -> dict[str, Any]:
    """A validated FHIR ClaimResponse built from a claim's on-chain outcome."""
    outcome = {
        ClaimStatus.SUBMITTED: "queued",
        ClaimStatus.DISPUTED: "partial",
        ClaimStatus.DENIED: "error",
    }.get(view.status, "complete")
    resource: dict[str, Any] = {
        **_header("ClaimResponse", patient),
        "insurer": _ref(insurer),
        "request": {
            "identifier": {"system": "urn:carechain:claim", "value": "0x" + view.claim_id.hex()}
        },
        "outcome": outcome,
        "disposition": view.status.name.lower(),
    }
    if view.status in (ClaimStatus.APPROVED, ClaimStatus.PAID):
        resource["total"] = [
            {
                "category": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                            "code": "benefit",
                        }
                    ]
                },
                "amount": {"value": money(view.approved), "currency": "USD"},
            },
            {
                "category": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                            "code": "copay",
                        }
                    ]
                },
                "amount": {"value": money(view.patient_share), "currency": "USD"},
            },
        ]
    if view.status is ClaimStatus.PAID:
        resource["payment"] = {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/ex-paymenttype",
                        "code": "complete",
                    }
                ]
            },
            "amount": {"value": money(view.approved), "currency": "USD"},
        }
    return parse_resource(resource)


def claim_patient(claim: dict[str, Any]) -> str:
    """The patient's Ethereum address, from the Claim's ``patient.identifier``. A Claim whose
    patient is a ``reference`` (``Patient/123``) is valid FHIR, but names a record on some
    FHIR server that carechain cannot resolve to an address: it is refused with what to
    write instead."""
    from eth_utils import is_address, to_checksum_address

    from .errors import InvalidRecordError

    patient = claim.get("patient") or {}
    identifier = patient.get("identifier") or {}
    value = identifier.get("value", "")
    if identifier.get("system") != ADDRESS_SYSTEM or not is_address(value):
        given = patient.get("reference") or identifier.get("value") or "nothing"
        raise InvalidRecordError(
            f"the Claim's patient is {given!r}; carechain needs the patient's Ethereum address: "
            f'"patient": {{"identifier": {{"system": "{ADDRESS_SYSTEM}", "value": "0x…"}}}}'
        )
    return to_checksum_address(value)


def claim_service_date(claim: dict[str, Any], given: date | None = None) -> date:
    """The day of service: what the Claim says (every item's ``servicedDate``, or its
    ``billablePeriod``), which ``given`` must agree with; ``given`` alone when the Claim
    says nothing. A mismatch is refused, so the chain never records another day than the
    Claim it anchors."""
    from .errors import InvalidRecordError

    days = {item["servicedDate"] for item in claim.get("item", []) if "servicedDate" in item}
    if len(days) > 1:
        raise InvalidRecordError(
            f"the Claim's items were served on different days ({', '.join(sorted(days))}): "
            "submit one Claim per day of service"
        )
    stated = date.fromisoformat(days.pop()) if days else None
    period = claim.get("billablePeriod") or {}
    start = date.fromisoformat(period["start"][:10]) if "start" in period else None
    end = date.fromisoformat(period["end"][:10]) if "end" in period else None
    day = given or stated or start
    if day is None:
        raise InvalidRecordError(
            "the Claim gives no day of service (item.servicedDate or billablePeriod): pass "
            "--service-date"
        )
    if stated is not None and stated != day:
        raise InvalidRecordError(
            f"--service-date {day.isoformat()} is not the Claim's servicedDate {stated.isoformat()}"
        )
    if (start and day < start) or (end and day > end):
        raise InvalidRecordError(
            f"the day of service {day.isoformat()} is outside the Claim's billablePeriod "
            f"({period.get('start', '…')} to {period.get('end', '…')})"
        )
    return day
