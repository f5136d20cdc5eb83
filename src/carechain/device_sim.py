"""Simulated medical devices for the tests, the demo and the bench: a heart-rate monitor
(one reading a second) and a continuous glucose sensor (one every five minutes), each
signing its readings as a real device would (see :mod:`carechain.devices`).

Values follow a bounded random walk around a resting value, coded in LOINC with UCUM units:
heart rate 8867-4 in ``/min`` (vital signs), glucose 2339-0 in ``mg/dL`` (laboratory).
Every identifier is invented.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .devices import UDI_SYSTEM, generate_device_key, public_key_of, sign_reading
from .fhir_consent import ADDRESS_SYSTEM


@dataclass(frozen=True)
class Measurement:
    """What a kind of device measures and how often."""

    loinc: str
    display: str
    unit: str  # UCUM
    category: str  # FHIR observation category
    interval: float  # seconds between readings
    resting: float
    low: float
    high: float
    step: float  # largest change between two readings
    decimals: int


HEART_RATE = Measurement("8867-4", "Heart rate", "/min", "vital-signs", 1.0, 72, 45, 150, 3, 0)
GLUCOSE = Measurement(
    "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "laboratory", 300.0, 110, 55, 300, 12, 0
)
KINDS = {"heart-rate": HEART_RATE, "glucose": GLUCOSE}


def observation(
    measurement: Measurement, udi: str, patient: str, moment: float, value: Decimal
) -> dict[str, Any]:
    """An unsigned reading: a FHIR Observation naming the device (UDI) and the patient."""
    # To the millisecond when the moment has a fraction (a device sampling faster than 1 Hz).
    stamp = datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    millis = round((moment - int(moment)) * 1000)
    stamp += f".{min(millis, 999):03d}Z" if millis else "Z"
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": measurement.category,
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": measurement.loinc,
                    "display": measurement.display,
                }
            ]
        },
        "subject": {"identifier": {"system": ADDRESS_SYSTEM, "value": patient}},
        "device": {"identifier": {"system": UDI_SYSTEM, "value": udi}},
        "effectiveDateTime": stamp,
        "valueQuantity": {
            "value": value,
            "unit": measurement.unit,
            "system": "http://unitsofmeasure.org",
            "code": measurement.unit,
        },
    }


@dataclass
class SimulatedDevice:
    """One device worn by one patient, with its own key and its own random walk."""

    udi: str
    patient: str
    measurement: Measurement = HEART_RATE
    private_key: bytes = field(default_factory=generate_device_key)
    seed: int = 0
    #: Seconds between readings (the measurement's own interval unless set).
    interval: float | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._value = self.measurement.resting

    @property
    def public_key(self) -> bytes:
        """The device's Ed25519 public key (what its manufacturer binds on-chain)."""
        return public_key_of(self.private_key)

    @property
    def every(self) -> float:
        """Seconds between two readings."""
        return self.interval or self.measurement.interval

    def next_value(self) -> Decimal:
        """The next value of the walk, pulled gently back toward the resting value."""
        m = self.measurement
        drift = (m.resting - self._value) * 0.05
        self._value = min(
            m.high, max(m.low, self._value + drift + self._rng.uniform(-m.step, m.step))
        )
        return Decimal(f"{self._value:.{m.decimals}f}")

    def reading(self, moment: float) -> dict[str, Any]:
        """A signed reading taken at ``moment`` (Unix seconds)."""
        unsigned = observation(self.measurement, self.udi, self.patient, moment, self.next_value())
        return sign_reading(unsigned, self.private_key)

    def readings(self, start: float, count: int) -> list[dict[str, Any]]:
        """``count`` signed readings from ``start``, one per interval."""
        return [self.reading(start + i * self.every) for i in range(count)]


def stream(
    devices: list[SimulatedDevice], start: float, end: float
) -> Iterator[tuple[float, SimulatedDevice]]:
    """When each device reads, from ``start`` to ``end``, in time order: (moment, device).
    Devices are staggered across their first interval, as devices switched on one by one."""
    queue = [(start + d.every * i / max(1, len(devices)), i, d) for i, d in enumerate(devices)]
    heapq.heapify(queue)
    while queue:
        moment, i, device = heapq.heappop(queue)
        if moment >= end:
            continue
        yield moment, device
        heapq.heappush(queue, (moment + device.every, i, device))
