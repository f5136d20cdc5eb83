"""Device readings into patients' records: the gateway that checks and batches readings
(the patient's phone app or the hospital's device hub), the provider's ingest of a file of
readings, and reading them back, each checked again (see :mod:`carechain.devices` for the
readings, their signatures and the checks).

A gateway buffers each device's readings per patient and hands a buffer to the provider's
batched ingest (:meth:`Hospital.anchor_records`: validated, encrypted like every record,
stored on IPFS, anchored) as one record: a FHIR ``Bundle`` of type ``collection``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .devices import (
    AUTHENTICITY_FAILURES,
    Pairing,
    Reading,
    ReadingVerifier,
    Reason,
    UntrustedReadingError,
    Verdict,
    mark_untrusted,
    untrusted_policy,
    with_assignment_salt,
)
from .errors import InvalidRecordError
from .fhir import parse_resource
from .trace import parse_udi

log = logging.getLogger(__name__)


def readings_record(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """One record of a patient: a FHIR Bundle (``collection``) of signed readings."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in readings],
    }


def check_readings(
    verifier: ReadingVerifier, observations: Iterable[dict[str, Any]], mode: str | None = None
) -> list[dict[str, Any]]:
    """Check readings before they are stored: in ``refuse`` mode any untrusted reading
    refuses them all (:class:`UntrustedReadingError`, nothing is stored); in ``mark`` mode
    untrusted ones come back marked, except those that may not come from the device at all
    (malformed, unknown device, no key, tampered: :data:`AUTHENTICITY_FAILURES`), which
    refuse them all in either mode. Each is also validated as FHIR."""
    mode = untrusted_policy(mode)
    out, bad = [], []
    for index, observation in enumerate(observations):
        parse_resource(observation)
        verdict = verifier.verify(observation)
        if not verdict.trusted:
            bad.append((index, verdict))
            observation = mark_untrusted(observation, verdict)
        out.append(observation)
    if bad and (mode == "refuse" or any(v.reason in AUTHENTICITY_FAILURES for _, v in bad)):
        index, first = bad[0]
        raise UntrustedReadingError(
            f"reading {index} refused ({first.words()}); {len(bad)} of {len(out)} readings "
            "failed their check and nothing was stored (fix the device, or accept them marked "
            "untrusted with CARECHAIN_UNTRUSTED_READINGS=mark)",
            bad,
        )
    return out


@dataclass(frozen=True)
class CheckedReading:
    """A reading read back from a record, checked again."""

    observation: dict[str, Any]
    verdict: Verdict
    time: int
    udi: str

    @property
    def code(self) -> str:
        """The LOINC display (or code) of what was measured."""
        coding = (self.observation.get("code") or {}).get("coding") or [{}]
        return str(coding[0].get("display") or coding[0].get("code") or "?")

    @property
    def value(self) -> str:
        """The value with its UCUM unit, as the device wrote it."""
        quantity = self.observation.get("valueQuantity") or {}
        return f"{quantity.get('value', '?')} {quantity.get('unit', '')}".strip()


def read_readings(
    party: Any, record_id: bytes, verifier: ReadingVerifier, mode: str | None = None
) -> list[CheckedReading]:
    """Decrypt a readings record (as ``party``, under the usual consent rules) and check
    every reading again against the chain; ``refuse`` raises :class:`UntrustedReadingError`
    if any fails, ``mark`` returns them with their verdicts."""
    mode = untrusted_policy(mode)
    # The read path checks every device reading (and marks, or refuses, by its verdict).
    record = party.read_record(record_id, untrusted=mode, verifier=verifier)
    verdicts = dict(record.readings)
    entries = (
        record.resource.get("entry") or []
        if record.resource.get("resourceType") == "Bundle"
        else [{"resource": record.resource}]
    )
    checked, bad = [], []
    for index, entry in enumerate(entries):
        observation = (entry or {}).get("resource") or {}
        verdict = verdicts.get(index) or Verdict(Reason.MALFORMED, "not a device reading")
        try:
            reading = Reading.of(observation)
            moment, udi = reading.time, reading.udi
        except (ValueError, TypeError):
            moment, udi = 0, "?"
        if not verdict.trusted:
            bad.append((index, verdict))
        checked.append(CheckedReading(observation, verdict, moment, udi))
    if bad and mode == "refuse":
        index, first = bad[0]
        raise UntrustedReadingError(
            f"record 0x{record_id.hex()}: reading {index} is not trusted ({first.words()}); "
            f"{len(bad)} of {len(checked)} failed (read them marked untrusted with "
            "CARECHAIN_UNTRUSTED_READINGS=mark)",
            bad,
        )
    return checked


class Gateway:
    """Batches devices' readings into records of their patients and has a provider anchor
    them (the patient's phone app or the hospital's device hub).

    Each reading is checked when it arrives (:meth:`add`); trusted ones are buffered per
    (patient, device). A buffer becomes one record when it holds ``max_readings`` readings
    or its oldest is ``max_age`` seconds old (:meth:`flush`). Defaults: 60 readings or 30
    seconds: a minute of heart rate at 1 Hz is one record (about 1/60 of a record's anchoring
    gas per reading), no reading waits more than half a minute to be anchored, and a record
    is a unit a clinician reads (a minute of one device).
    """

    def __init__(
        self,
        hospital: Any | None,
        verifier: ReadingVerifier,
        pairings: Iterable[Pairing] = (),
        max_readings: int = 60,
        max_age: float = 30.0,
        mode: str | None = None,
        on_refused: Callable[[dict[str, Any], Verdict], None] | None = None,
    ) -> None:
        self.hospital = hospital
        self.verifier = verifier
        self.max_readings = max(1, max_readings)
        self.max_age = max_age
        self.mode = untrusted_policy(mode)
        self.on_refused = on_refused
        self._salts = {(parse_udi(p.udi).device_id, p.patient.lower()): p.salt for p in pairings}
        #: (patient, device id) -> [(arrival time, reading)]
        self._buffers: dict[tuple[str, bytes], list[tuple[float, dict[str, Any]]]] = {}
        #: Groups of readings a flush could not make a valid record of (patient, readings,
        #: why): kept for a look, not retried.
        self.quarantined: list[tuple[str, list[dict[str, Any]], str]] = []

    def pair(self, pairing: Pairing) -> None:
        """Tell the gateway a device's patient assignment (its salt)."""
        self._salts[(parse_udi(pairing.udi).device_id, pairing.patient.lower())] = pairing.salt

    def salted(self, observation: dict[str, Any]) -> dict[str, Any]:
        """The reading with its device's assignment salt, if the gateway knows the pairing
        of its device and patient (else as it is: it will fail its assignment check)."""
        try:
            reading = Reading.of(observation)
        except InvalidRecordError:
            return observation
        salt = self._salts.get((reading.device_id, reading.patient.lower()))
        return observation if salt is None else with_assignment_salt(observation, salt)

    def add(self, observation: dict[str, Any], arrived: float | None = None) -> Verdict:
        """Check a signed reading and buffer it; a refused one is not kept (``on_refused``
        and the log hear of it). In ``mark`` mode one that failed a state check (rotated-out
        key, decommissioned, failed quality check, assignment) is kept marked; one that may
        not come from the device at all (not valid FHIR, unknown device, no key, tampered)
        is refused in either mode: else anyone reaching the gateway could file readings into
        any patient's record at the hospital's gas, or stall every flush with a bad one."""
        try:
            parse_resource(observation)
            reading = Reading.of(observation)
        except (ValueError, TypeError) as exc:
            verdict = Verdict(Reason.MALFORMED, str(exc))
        else:
            if not reading.salt:
                observation = self.salted(observation)
                reading = Reading.of(observation)
            verdict = self.verifier.verify_reading(reading)
        if not verdict.trusted:
            log.info(
                "reading %s: %s", "refused" if self.mode == "refuse" else "marked", verdict.words()
            )
            if self.on_refused is not None:
                self.on_refused(observation, verdict)
            if self.mode == "refuse" or verdict.reason in AUTHENTICITY_FAILURES:
                return verdict
            observation = mark_untrusted(observation, verdict)
        key = (reading.patient, reading.device_id)
        self._buffers.setdefault(key, []).append(
            (time.time() if arrived is None else arrived, observation)
        )
        return verdict

    def pending(self) -> int:
        """Readings buffered, not yet anchored."""
        return sum(len(b) for b in self._buffers.values())

    def flush(
        self, now: float | None = None, everything: bool = False
    ) -> list[tuple[Any, list[dict[str, Any]]]]:
        """Anchor every buffer that is full or old enough (``everything``: all of them) as
        records of their patients, in one batched ingest; returns (record ref, readings)."""
        now = time.time() if now is None else now
        ready = [
            key
            for key, buffer in self._buffers.items()
            if buffer
            and (
                everything or len(buffer) >= self.max_readings or now - buffer[0][0] >= self.max_age
            )
        ]
        groups: list[tuple[str, list[dict[str, Any]]]] = []
        for key in ready:
            buffer = self._buffers.pop(key)
            for start in range(0, len(buffer), self.max_readings):
                groups.append((key[0], [r for _, r in buffer[start : start + self.max_readings]]))
        good = []
        for patient, readings in groups:  # one bad group must not hold back the others
            try:
                parse_resource(readings_record(readings))
            except (ValueError, TypeError) as exc:
                log.warning("quarantined %d readings of %s: %s", len(readings), patient, exc)
                self.quarantined.append((patient, readings, str(exc)))
            else:
                good.append((patient, readings))
        groups = good
        if not groups:
            return []
        try:
            refs = self.hospital.anchor_records(
                [(patient, readings_record(readings)) for patient, readings in groups]
            )
        except Exception as exc:  # whatever failed, what was popped goes back
            anchored = len(getattr(exc, "anchored", []))
            for patient, readings in groups[anchored:]:  # keep what was not anchored
                key = (patient, Reading.of(readings[0]).device_id)
                self._buffers.setdefault(key, [])[:0] = [(now, r) for r in readings]
            raise
        return list(zip(refs, [readings for _, readings in groups], strict=True))


def ingest_readings(
    hospital: Any,
    verifier: ReadingVerifier,
    observations: Iterable[dict[str, Any]],
    pairings: Iterable[Pairing] = (),
    max_readings: int = 60,
    mode: str | None = None,
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Check a set of signed readings (a file the CLI reads) and anchor them as records of
    their patients, ``max_readings`` per record per device, in one batched ingest. All or
    nothing: in ``refuse`` mode one untrusted reading refuses them all before anything is
    stored (:class:`UntrustedReadingError` lists each and why)."""
    gateway = Gateway(hospital, verifier, pairings, max_readings, float("inf"), mode)
    checked = check_readings(verifier, [gateway.salted(o) for o in observations], gateway.mode)
    for observation in checked:
        gateway.add(observation)
    return gateway.flush(everything=True)
