"""Realistic synthetic FHIR R4 records for the demo, the tests and the benchmarks.

Every name, date and identifier here is invented; no real person is described.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

_GIVEN = ["Ada", "Bruno", "Chiara", "Dmitri", "Esi", "Farid", "Grete", "Hiro", "Ines", "Jonas"]
_FAMILY = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski"]

# (LOINC code, display, unit, low, high)
_VITALS = [
    ("8867-4", "Heart rate", "/min", 52, 110),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 100, 165),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 190),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 10, 17),
    ("29463-7", "Body weight", "kg", 45, 120),
]
# (SNOMED CT code, display)
_CONDITIONS = [
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder"),
    ("195967001", "Asthma"),
    ("35489007", "Depressive disorder"),
    ("233604007", "Pneumonia"),
]
_ENCOUNTERS = [("AMB", "ambulatory", "Outpatient visit"), ("EMER", "emergency", "Emergency visit")]


def patient(rng: random.Random, mrn: str) -> dict[str, Any]:
    """A Patient resource with a hospital medical-record number."""
    year = rng.randint(1940, 2015)
    return {
        "resourceType": "Patient",
        "id": mrn.lower(),
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": mrn}],
        "name": [{"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]}],
        "gender": rng.choice(["female", "male", "other"]),
        "birthDate": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def observation(rng: random.Random, patient_ref: str, day: str) -> dict[str, Any]:
    """A vital sign or lab Observation coded in LOINC."""
    code, display, unit, low, high = rng.choice(_VITALS)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs" if unit in ("/min", "mm[Hg]", "kg") else "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": f"{day}T{rng.randint(7, 19):02d}:{rng.randint(0, 59):02d}:00Z",
        "valueQuantity": {
            "value": Decimal(f"{rng.uniform(low, high):.1f}"),  # FHIR decimals: exact
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def condition(rng: random.Random, patient_ref: str, day: str) -> dict[str, Any]:
    """A Condition coded in SNOMED CT."""
    code, display = rng.choice(_CONDITIONS)
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": patient_ref},
        "onsetDateTime": day,
    }


def encounter(rng: random.Random, patient_ref: str, day: str) -> dict[str, Any]:
    """A finished Encounter."""
    code, display, text = rng.choice(_ENCOUNTERS)
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": code,
            "display": display,
        },
        "type": [{"text": text}],
        "subject": {"reference": patient_ref},
        "period": {"start": f"{day}T08:00:00Z", "end": f"{day}T09:30:00Z"},
    }


def chart(seed: int, mrn: str, extra: int = 3) -> list[dict[str, Any]]:
    """A small chart: the Patient, an Encounter, a Condition and ``extra`` Observations."""
    rng = random.Random(seed)
    ref = f"Patient/{mrn.lower()}"
    day = f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}"
    records = [patient(rng, mrn), encounter(rng, ref, day), condition(rng, ref, day)]
    records += [observation(rng, ref, day) for _ in range(extra)]
    return records
