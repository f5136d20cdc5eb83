"""Medical devices that sign their readings: keys, signed FHIR Observations, and their
checks against the chain (the gateway that batches them into patients' records, and reading
them back: :mod:`carechain.device_gateway`).

A device (a glucose sensor, a heart-rate monitor) holds an **Ed25519** key (RFC 8032) whose
public half its manufacturer binds to the device's UDI in the DeviceKeys contract. Ed25519:
32-byte public keys (one storage slot), deterministic signatures (no per-signature random
number a cheap device could get wrong), fast verification (the gateway checks every
reading), and it is in ``cryptography`` already.

A reading is a FHIR ``Observation`` naming the device (``device.identifier``: its UDI, GS1
system) and the patient (``subject.identifier``: the patient's address), signed over its
**RFC 8785 (JSON Canonicalization Scheme)** form, computed by ``rfc8785`` (Trail of Bits'
maintained implementation). The signature travels in the Observation as an extension
(:data:`SIGNATURE_URL`, a FHIR ``Signature``); the salt that proves the device's patient
assignment (:data:`ASSIGNMENT_URL`) and, when a reading is accepted untrusted, the verdict
(:data:`UNTRUSTED_URL`) too. Those three extensions are left out of what is signed. JCS
writes numbers as IEEE doubles, so a FHIR decimal is signed by its value: ``0.40`` and
``0.4`` sign alike (the stored JSON keeps the digits the device wrote).

A gateway (the patient's phone app or the hospital's device hub) checks each reading and
batches a device's readings into one record of the patient (a FHIR ``Bundle`` of type
``collection``), which a provider anchors through :meth:`Hospital.anchor_records`, encrypted
like every record, the signatures inside the ciphertext. Every read checks them again.

A reading is trusted only if, **at the reading's time** (its ``effectiveDateTime``):
the device was registered, its key then (DeviceKeys, validity by block timestamp) signed
exactly this content, it was not decommissioned, its last quality check or calibration had
not failed, and it was assigned to the reading's patient; and it was anchored no later than
:data:`ANCHOR_GRACE` after that key ended, and is not dated after its anchoring. Otherwise it
is refused with the reason, or — with ``CARECHAIN_UNTRUSTED_READINGS=mark`` — accepted and
marked untrusted (unless it may not come from the device at all:
:data:`AUTHENTICITY_FAILURES`); never silently trusted. Every read of a record checks the
device readings in it (:func:`check_record_readings`, called by the read path).
"""

from __future__ import annotations

import base64
import enum
import functools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eth_utils import is_address, to_checksum_address

from .errors import CarechainError, InvalidRecordError
from .fhir_consent import ADDRESS_SYSTEM
from .onchain import Contracts
from .onchain.device_keys import AssignmentPeriod, KeyPeriod, patient_commitment
from .trace import parse_udi

#: The GS1 OID: a device reference's identifier in this system is its UDI.
UDI_SYSTEM = "urn:oid:1.3.160"
#: The extension carrying a reading's device signature (a FHIR Signature).
SIGNATURE_URL = "urn:carechain:fhir:device-signature"
#: The extension carrying the salt of the device's patient assignment (base64, 32 bytes).
ASSIGNMENT_URL = "urn:carechain:fhir:device-assignment-salt"
#: The extension marking a reading accepted untrusted (the reason, in words).
UNTRUSTED_URL = "urn:carechain:fhir:device-reading-untrusted"
_OURS = frozenset({SIGNATURE_URL, ASSIGNMENT_URL, UNTRUSTED_URL})
#: ISO/ASTM E1762 signature type "verification signature".
_SIGNATURE_TYPE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.5",
    "display": "Verification Signature",
}
#: How far a reading's time may lie ahead of the checker's clock, or of its record's
#: anchoring (device clocks drift).
CLOCK_SKEW = 120
#: How long after its key ended (rotated or revoked) a reading may still be anchored: a
#: gateway anchors within ``max_age`` (30 s by default); a phone that was offline gets ten
#: minutes. Later, whoever anchors it may hold a leaked key and be back-dating.
ANCHOR_GRACE = 600


class Reason(enum.Enum):
    """Why a reading is not trusted."""

    MALFORMED = "malformed"
    UNKNOWN_DEVICE = "unknown device"
    NO_KEY = "no key"
    ROTATED_OUT_KEY = "rotated-out key"
    TAMPERED = "tampered"
    FUTURE = "from the future"
    DECOMMISSIONED = "decommissioned"
    QUALITY_CHECK_FAILED = "quality check failed"
    NOT_ASSIGNED = "not assigned"
    OTHER_PATIENT = "assigned to another patient"
    NO_PAIRING = "no pairing"
    ANCHORED_AFTER_KEY_ENDED = "anchored after its key ended"


#: Failures that say the reading may not come from the device at all: refused even when
#: untrusted readings are accepted marked (else anyone reaching a gateway could file
#: readings into any patient's record, at the hospital's gas).
AUTHENTICITY_FAILURES = frozenset(
    {Reason.MALFORMED, Reason.UNKNOWN_DEVICE, Reason.NO_KEY, Reason.TAMPERED}
)


@dataclass(frozen=True)
class Verdict:
    """A reading's check: trusted, or the reason it is not (and the details, in words)."""

    reason: Reason | None = None
    detail: str = ""

    @property
    def trusted(self) -> bool:
        """True when nothing is wrong with the reading."""
        return self.reason is None

    def words(self) -> str:
        """ "trusted", or the reason with its details."""
        return "trusted" if self.reason is None else f"{self.reason.value}: {self.detail}"


class UntrustedReadingError(CarechainError, ValueError):
    """Readings were refused (the message names the first and why); ``verdicts`` has all."""

    def __init__(self, message: str, verdicts: list[tuple[int, Verdict]]) -> None:
        super().__init__(message)
        self.verdicts = verdicts


def untrusted_policy(mode: str | None = None) -> str:
    """``refuse`` (the default) or ``mark``: what happens to a reading that fails its check
    (``CARECHAIN_UNTRUSTED_READINGS``)."""
    if mode is None:
        from .settings import get_settings

        mode = get_settings().untrusted_readings
    if mode not in ("refuse", "mark"):
        raise InvalidRecordError(
            f"untrusted readings are 'refuse'd or 'mark'ed, not {mode!r} "
            "(CARECHAIN_UNTRUSTED_READINGS)"
        )
    return mode


# ---------------------------------------------------------------------- keys and signing


def generate_device_key() -> bytes:
    """A fresh Ed25519 private key (32 bytes) for a device."""
    return Ed25519PrivateKey.generate().private_bytes_raw()


def public_key_of(private_key: bytes) -> bytes:
    """The 32-byte public key of an Ed25519 private key."""
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _edwards_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


@functools.lru_cache(maxsize=4096)
def is_weak_public_key(public_key: bytes) -> bool:
    """True unless ``public_key`` is the canonical encoding of an Ed25519 point of large
    order. A small-order key (the identity ``01 00…00``, say) "verifies" a crafted signature
    over any content, so such a key is no key (RFC 8032 §5.1.3 decoding). Cached: a checker
    sees the same few keys for every reading, and the big-number arithmetic costs ~1 ms."""
    if len(public_key) != 32:
        return True
    number = int.from_bytes(public_key, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    if y >= _P:
        return True  # non-canonical
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return True  # not on the curve
    if x == 0 and sign:
        return True  # non-canonical
    if x & 1 != sign:
        x = _P - x
    point = (x, y)
    for _ in range(3):  # 8·P: the identity exactly when P has small order
        point = _edwards_add(point, point)
    return point == (0, 1)


def _jcs_ready(value: Any) -> Any:
    """Data as ``rfc8785`` takes it: FHIR decimals as the doubles JCS writes."""
    if isinstance(value, dict):
        return {k: _jcs_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jcs_ready(v) for v in value]
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and abs(value) < 2**53
            else float(value)
        )
    return value


def signed_content(observation: dict[str, Any]) -> bytes:
    """The bytes a device signs: the RFC 8785 form of the Observation without carechain's
    own extensions (signature, assignment salt, untrusted mark)."""
    content = {k: v for k, v in observation.items() if k != "extension"}
    kept = [e for e in observation.get("extension") or [] if e.get("url") not in _OURS]
    if kept:
        content["extension"] = kept
    try:
        return rfc8785.dumps(_jcs_ready(content))
    except rfc8785.CanonicalizationError as exc:
        raise InvalidRecordError(f"the reading has no RFC 8785 form: {exc}") from exc


def _extension(observation: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in observation.get("extension") or [] if e.get("url") == url), None)


def _with_extension(observation: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
    out = dict(observation)
    others = [e for e in observation.get("extension") or [] if e.get("url") != extension["url"]]
    out["extension"] = [*others, extension]
    return out


def sign_reading(observation: dict[str, Any], private_key: bytes) -> dict[str, Any]:
    """The Observation with the device's signature over its RFC 8785 form (what a device
    does before it sends a reading). The Observation must name the device and the patient."""
    reading = Reading.of(observation)
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(signed_content(observation))
    return _with_extension(
        observation,
        {
            "url": SIGNATURE_URL,
            "valueSignature": {
                "type": [_SIGNATURE_TYPE],
                "when": observation["effectiveDateTime"],
                "who": {"identifier": {"system": UDI_SYSTEM, "value": reading.udi}},
                "data": base64.b64encode(signature).decode(),
            },
        },
    )


# ---------------------------------------------------------------------- readings


def _instant(text: Any) -> int:
    if not isinstance(text, str) or "T" not in text:
        raise InvalidRecordError(
            f"a reading needs an effectiveDateTime with a time and zone, got {text!r}"
        )
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecordError(f"effectiveDateTime {text!r} is not a FHIR dateTime") from None
    if moment.tzinfo is None:
        raise InvalidRecordError(f"effectiveDateTime {text!r} needs a time zone (e.g. Z)")
    return int(moment.timestamp())


@dataclass(frozen=True)
class Reading:
    """What a signed reading says about itself (read from the Observation, not yet checked)."""

    observation: dict[str, Any]
    udi: str
    device_id: bytes
    patient: str
    time: int
    signature: bytes
    salt: bytes

    @classmethod
    def of(cls, observation: dict[str, Any]) -> Reading:
        """Read a reading's device, patient and time; a malformed one is refused with what is
        missing (:class:`InvalidRecordError`)."""
        if observation.get("resourceType") != "Observation":
            raise InvalidRecordError("a device reading is a FHIR Observation")
        device = (observation.get("device") or {}).get("identifier") or {}
        if device.get("system") != UDI_SYSTEM or not isinstance(device.get("value"), str):
            raise InvalidRecordError(
                f'a reading names its device by UDI: "device": {{"identifier": {{"system": '
                f'"{UDI_SYSTEM}", "value": "(01)…(21)…"}}}}'
            )
        subject = (observation.get("subject") or {}).get("identifier") or {}
        if subject.get("system") != ADDRESS_SYSTEM or not is_address(subject.get("value")):
            raise InvalidRecordError(
                f'a reading names its patient by address: "subject": {{"identifier": '
                f'{{"system": "{ADDRESS_SYSTEM}", "value": "0x…"}}}}'
            )
        signature, salt = b"", b""
        sig = _extension(observation, SIGNATURE_URL)
        if sig is not None:
            signature = _b64(((sig.get("valueSignature") or {}).get("data")), "signature")
        assignment = _extension(observation, ASSIGNMENT_URL)
        if assignment is not None:
            salt = _b64(assignment.get("valueBase64Binary"), "assignment salt")
        return cls(
            observation=observation,
            udi=device["value"],
            device_id=parse_udi(device["value"]).device_id,
            patient=to_checksum_address(subject["value"]),
            time=_instant(observation.get("effectiveDateTime")),
            signature=signature,
            salt=salt,
        )


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (ValueError, TypeError):
        raise InvalidRecordError(f"the reading's {what} is not base64") from None


def with_assignment_salt(observation: dict[str, Any], salt: bytes) -> dict[str, Any]:
    """The reading with the salt that proves its device's patient assignment (the gateway
    adds it; the device does not need to know it)."""
    return _with_extension(
        observation, {"url": ASSIGNMENT_URL, "valueBase64Binary": base64.b64encode(salt).decode()}
    )


def mark_untrusted(observation: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The reading marked as accepted untrusted, with the reason (outside the signed part)."""
    return _with_extension(observation, {"url": UNTRUSTED_URL, "valueString": verdict.words()})


def new_assignment_salt() -> bytes:
    """32 random bytes for a patient assignment's commitment."""
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Pairing:
    """A device worn by a patient, as the gateway knows it: the salt of its assignment."""

    udi: str
    patient: str
    salt: bytes

    def to_json(self) -> dict[str, str]:
        """As the CLI writes it to a file (the salt is not secret from the gateway, but
        it is what keeps the patient's name off the chain: keep it with the records)."""
        return {"udi": self.udi, "patient": self.patient, "salt": "0x" + self.salt.hex()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Pairing:
        """Read what :meth:`to_json` wrote."""
        try:
            return cls(
                data["udi"],
                to_checksum_address(data["patient"]),
                bytes.fromhex(data["salt"].removeprefix("0x")),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise InvalidRecordError(f"not a device pairing (udi, patient, salt): {exc}") from None


# ---------------------------------------------------------------------- binding devices


def _device_keys(contracts: Contracts) -> Any:
    if contracts.device_keys is None:
        raise CarechainError(
            "this deployment has no DeviceKeys contract (it predates signed device readings); "
            "redeploy (ape run deploy)"
        )
    return contracts.device_keys


def bind_device_key(contracts: Contracts, manufacturer: Any, udi: str, public_key: bytes) -> Any:
    """(The device's manufacturer) Bind a device's Ed25519 public key to its UDI, or rotate
    it: the key it had stops being valid at this block's time. A weak key (small order,
    non-canonical) is refused before anything is sent."""
    if is_weak_public_key(public_key) and len(public_key) == 32:
        raise InvalidRecordError(
            "that public key is a small-order or non-canonical Ed25519 point: it would "
            "verify forged signatures over any content; generate a real key "
            "(carechain devices keygen)"
        )
    return _device_keys(contracts).set_key(manufacturer, parse_udi(udi).device_id, public_key)


def revoke_device_key(contracts: Contracts, party: Any, udi: str) -> Any:
    """(Manufacturer or regulator) End a device's key now, with no successor."""
    return _device_keys(contracts).revoke_key(party, parse_udi(udi).device_id)


def assign_to_patient(
    contracts: Contracts, hospital: Any, udi: str, patient: str, salt: bytes | None = None
) -> Pairing:
    """(The hospital holding the device) Assign the device to ``patient``; the chain gets a
    salted commitment, the returned :class:`Pairing` (with the salt) goes to the gateway.
    ``salt``: one already kept safe (else a fresh one; keep the pairing)."""
    device = parse_udi(udi).device_id
    patient = to_checksum_address(patient)
    salt = new_assignment_salt() if salt is None else salt
    if len(salt) != 32:
        raise InvalidRecordError(f"an assignment salt is 32 random bytes, got {len(salt)}")
    _device_keys(contracts).assign_patient(
        hospital, device, patient_commitment(device, patient, salt)
    )
    return Pairing(udi, patient, salt)


def release_from_patient(contracts: Contracts, hospital: Any, udi: str) -> Any:
    """(The hospital holding the device) The device is worn by no one from now."""
    return _device_keys(contracts).assign_patient(hospital, parse_udi(udi).device_id, b"\0" * 32)


# ---------------------------------------------------------------------- the chain's view


@dataclass
class DeviceState:
    """What the chain says about one device over time (read once, kept ``ttl`` seconds)."""

    known: bool
    keys: list[KeyPeriod] = field(default_factory=list)
    assignments: list[AssignmentPeriod] = field(default_factory=list)
    #: (block time, passed) of each quality check and calibration, oldest first.
    checks: list[tuple[int, bool]] = field(default_factory=list)
    decommissioned_at: int | None = None
    fetched: float = 0.0
    #: The chain head's time when read: the state says nothing about later moments.
    as_of: int = 0
    #: The chain head's block number when read.
    block: int = 0


class ReadingVerifier:
    """Checks readings against the chain as it was at each reading's time. Device states are
    cached for ``ttl`` seconds, and vouch only for readings dated before the chain head they
    were read at: for a later reading the checker asks (at most once a second, one log query
    for every device) which devices' DeviceKeys or Traceability events came since, and reads
    those again, so a revocation or a failed check just before a reading is seen."""

    def __init__(self, contracts: Contracts, ttl: float = 10.0) -> None:
        if contracts.trace is None or contracts.device_keys is None:
            raise CarechainError(
                "this deployment has no Traceability or DeviceKeys contract; redeploy "
                "(ape run deploy)"
            )
        self.contracts = contracts
        self.ttl = ttl
        self._states: dict[bytes, DeviceState] = {}
        self._block_times: dict[int, int] = {}
        self._head: tuple[float, int] = (-1.0, 0)  # (when asked, the head's time)
        self._synced: tuple[float, int] = (-1.0, -1)  # (when, up to which block)

    def now(self) -> float:
        """The later of the wall clock and the chain's head time (asked at most once a
        second): a reading dated after it comes from the future."""
        asked, head = self._head
        if time.monotonic() - asked > 1.0:
            head = self.contracts.node.head_timestamp()
            self._head = (time.monotonic(), head)
        return max(time.time(), head)

    def state(self, device_id: bytes, at: int | None = None) -> DeviceState:
        """The device's history as the chain tells it (cached; ``at``: the moment it must
        cover, a cached state read before that moment is refreshed)."""
        cached = self._states.get(device_id)
        if cached is not None and time.monotonic() - cached.fetched < self.ttl:
            if at is None or at < cached.as_of:
                return cached
            self._sync()  # drops the states of devices with news
            if device_id in self._states:
                return self._states[device_id]
        trace = self.contracts.trace
        assert trace is not None and self.contracts.device_keys is not None
        block = self.contracts.node.block()
        state = DeviceState(
            known=False, fetched=time.monotonic(), as_of=int(block["timestamp"], 16)
        )
        state.block = int(block["number"], 16)
        if self._registered(device_id):
            state.known = True
            state.keys = self.contracts.device_keys.keys(device_id)
            state.assignments = self.contracts.device_keys.assignments(device_id)
            for event in trace.device_events(device_id):
                if event.event_name == "DeviceServiced" and int(event.kind) != 0:
                    state.checks.append((self.block_time(event.block_number), bool(event.passed)))
                elif event.event_name == "DeviceDecommissioned":
                    state.decommissioned_at = self.block_time(event.block_number)
        self._states[device_id] = state
        return state

    def _sync(self) -> None:
        """Forget the cached states of devices that have had DeviceKeys or Traceability
        events since they were read; vouch for the others up to the head (at most once a
        second)."""
        when, since = self._synced
        if time.monotonic() - when < 1.0 or not self._states:
            return
        assert self.contracts.trace is not None and self.contracts.device_keys is not None
        head = self.contracts.node.block()
        number, moment = int(head["number"], 16), int(head["timestamp"], 16)
        start = min(s.block for s in self._states.values()) + 1 if since < 0 else since + 1
        touched: set[bytes] = set()
        if start <= number:
            logs = self.contracts.node.logs(
                [self.contracts.device_keys.address, self.contracts.trace.address],
                [],
                start,
                number,
            )
            for log in logs:
                touched.update(bytes.fromhex(t[2:]) for t in log.get("topics", [])[1:])
        for device_id in list(self._states):
            if device_id in touched:
                del self._states[device_id]
            else:
                self._states[device_id].as_of = max(self._states[device_id].as_of, moment)
        self._synced = (time.monotonic(), number)

    def _registered(self, device_id: bytes) -> bool:
        from .errors import RecordNotFoundError

        assert self.contracts.trace is not None
        try:
            self.contracts.trace.device(device_id)
        except RecordNotFoundError:
            return False
        return True

    def block_time(self, block: int) -> int:
        """A block's timestamp (cached)."""
        if block not in self._block_times:
            self._block_times[block] = int(self.contracts.node.block(block)["timestamp"], 16)
        return self._block_times[block]

    def verify(
        self,
        observation: dict[str, Any],
        patient: str | None = None,
        anchored_at: int | None = None,
    ) -> Verdict:
        """Check one signed reading; ``patient``: the patient whose record it is in (a
        reading filed in another patient's record is not theirs); ``anchored_at``: when its
        record was anchored (block time; None: it is being stored now)."""
        try:
            reading = Reading.of(observation)
        except (ValueError, TypeError, ArithmeticError) as exc:
            return Verdict(Reason.MALFORMED, str(exc))
        return self.verify_reading(reading, patient, anchored_at)

    def verify_reading(
        self, reading: Reading, patient: str | None = None, anchored_at: int | None = None
    ) -> Verdict:
        """Check a parsed reading (see :meth:`verify`). Whatever a crafted reading makes
        the check trip over (a date no calendar has, a number JSON cannot write) is a
        malformed reading, not a crash."""
        try:
            return self._verify(reading, patient, anchored_at)
        except CarechainError as exc:
            if not isinstance(exc, InvalidRecordError):
                raise  # the chain or IPFS failed, not the reading
            return Verdict(Reason.MALFORMED, str(exc))
        except (ValueError, TypeError, ArithmeticError) as exc:
            return Verdict(Reason.MALFORMED, f"the reading cannot be checked: {exc}")

    def _verify(self, reading: Reading, patient: str | None, anchored_at: int | None) -> Verdict:
        state = self.state(reading.device_id, reading.time)
        udi, when = reading.udi, _utc(reading.time)
        if not state.known:
            return Verdict(Reason.UNKNOWN_DEVICE, f"no device {udi} is registered")
        key = _signing_key(reading, state.keys)
        if isinstance(key, Verdict):
            return key
        stored = self.now() if anchored_at is None else anchored_at
        if reading.time > stored + CLOCK_SKEW:
            return Verdict(
                Reason.FUTURE,
                f"the reading is dated {when}, later than now"
                if anchored_at is None
                else f"the reading is dated {when}, after its record was anchored "
                f"({_utc(anchored_at)})",
            )
        if key.valid_to and stored > key.valid_to + ANCHOR_GRACE:
            return Verdict(
                Reason.ANCHORED_AFTER_KEY_ENDED,
                f"the reading is dated {when} but was "
                + ("stored" if anchored_at is None else "anchored")
                + f" at {_utc(int(stored))}, more than {ANCHOR_GRACE} s after its key was "
                f"revoked or rotated ({_utc(key.valid_to)}): a leaked key can sign back-dated "
                "readings",
            )
        if state.decommissioned_at is not None and state.decommissioned_at <= reading.time:
            return Verdict(
                Reason.DECOMMISSIONED,
                f"{udi} was decommissioned at {_utc(state.decommissioned_at)}, before this "
                f"reading ({when})",
            )
        earlier = [passed for at, passed in state.checks if at <= reading.time]
        if earlier and not earlier[-1]:
            at = [at for at, _ in state.checks if at <= reading.time][-1]
            return Verdict(
                Reason.QUALITY_CHECK_FAILED,
                f"the last quality check or calibration of {udi} before this reading "
                f"({_utc(at)}) failed",
            )
        if patient is not None and patient.lower() != reading.patient.lower():
            return Verdict(
                Reason.OTHER_PATIENT,
                f"the reading is about {reading.patient} but filed in {patient}'s record",
            )
        held = next((a for a in state.assignments if a.covers(reading.time)), None)
        if held is None or held.patient == b"\0" * 32:
            return Verdict(Reason.NOT_ASSIGNED, f"{udi} was assigned to no patient at {when}")
        if len(reading.salt) != 32:
            return Verdict(
                Reason.NO_PAIRING,
                f"the reading carries no assignment salt for {udi} and {reading.patient}: the "
                "gateway has no pairing for them (carechain devices assign writes it)",
            )
        if held.patient != patient_commitment(reading.device_id, reading.patient, reading.salt):
            return Verdict(
                Reason.OTHER_PATIENT,
                f"at {when} {udi} was assigned to another patient than {reading.patient}",
            )
        return Verdict()


def _signing_key(reading: Reading, keys: list[KeyPeriod]) -> KeyPeriod | Verdict:
    """The device's key at the reading's time, if it signed the reading; else why not. A
    weak key (small order, non-canonical) counts as no key."""
    weak = [k for k in keys if is_weak_public_key(k.public_key)]
    keys = [k for k in keys if k not in weak]
    if not keys:
        return Verdict(
            Reason.NO_KEY,
            f"{reading.udi} has no signing key bound"
            + (" (only a weak, small-order key, which is ignored)" if weak else ""),
        )
    if not reading.signature:
        return Verdict(Reason.TAMPERED, "the reading carries no device signature")
    content = signed_content(reading.observation)
    signers = [k for k in keys if _verifies(k.public_key, reading.signature, content)]
    covering = [k for k in signers if k.covers(reading.time)]
    if covering:
        return covering[0]
    when = _utc(reading.time)
    if signers:
        k = signers[-1]
        ended = f"until {_utc(k.valid_to)}" if k.valid_to else "only later"
        return Verdict(
            Reason.ROTATED_OUT_KEY,
            f"signed at {when} with a key of {reading.udi} valid from {_utc(k.valid_from)} {ended}",
        )
    if not any(k.covers(reading.time) for k in keys):
        ignored = any(k.covers(reading.time) for k in weak)
        return Verdict(
            Reason.NO_KEY,
            f"{reading.udi} had no valid key at {when}"
            + (" (its key then was a weak, small-order key, which is ignored)" if ignored else ""),
        )
    return Verdict(
        Reason.TAMPERED,
        f"the signature does not match the reading's content for {reading.udi}'s key: "
        "it was changed after the device signed it",
    )


def _verifies(public_key: bytes, signature: bytes, content: bytes) -> bool:
    if is_weak_public_key(public_key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, content)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------- on every read


def names_a_device(resource: Any) -> bool:
    """Whether a resource claims to be a device reading: an Observation naming a device by
    UDI or carrying a device signature (either is checked wherever it is read)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return False
    device = resource.get("device")
    identifier = device.get("identifier") if isinstance(device, dict) else None
    by_udi = isinstance(identifier, dict) and identifier.get("system") == UDI_SYSTEM
    extensions = resource.get("extension")
    signed = isinstance(extensions, list) and any(
        isinstance(e, dict) and e.get("url") == SIGNATURE_URL for e in extensions
    )
    return by_udi or signed


def device_readings(resource: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(index, Observation) of each device reading in a record: the Bundle's entries, or
    the record itself."""
    if resource.get("resourceType") == "Bundle":
        entries = resource.get("entry") or []
        found = [(i, (e or {}).get("resource")) for i, e in enumerate(entries)]
    else:
        found = [(0, resource)]
    return [(i, r) for i, r in found if names_a_device(r)]


def _remark(resource: dict[str, Any], verdicts: dict[int, Verdict]) -> dict[str, Any]:
    """The record with every stored untrusted mark replaced by this read's verdicts."""

    def fresh(observation: dict[str, Any], index: int) -> dict[str, Any]:
        if not names_a_device(observation):
            return observation
        out = dict(observation)
        kept = [e for e in observation.get("extension") or [] if e.get("url") != UNTRUSTED_URL]
        out["extension"] = kept
        if not kept:
            del out["extension"]
        verdict = verdicts.get(index)
        return out if verdict is None or verdict.trusted else mark_untrusted(out, verdict)

    if resource.get("resourceType") != "Bundle":
        return fresh(resource, 0)
    entries = []
    for index, entry in enumerate(resource.get("entry") or []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            entry = {**entry, "resource": fresh(entry["resource"], index)}
        entries.append(entry)
    return {**resource, "entry": entries}


def check_record_readings(
    contracts: Contracts,
    resource: dict[str, Any],
    patient: str,
    anchored_block: int,
    mode: str | None = None,
    verifier: ReadingVerifier | None = None,
) -> tuple[dict[str, Any], list[tuple[int, Verdict]]]:
    """Check every device reading in a decrypted record (against the chain at each
    reading's time and the record's anchoring): the record as it is to be shown (stored
    untrusted marks dropped, this check's marks added) and each reading's verdict. In
    ``refuse`` mode an untrusted reading refuses the record (:class:`UntrustedReadingError`).
    A record with no device reading comes back as it is."""
    found = device_readings(resource)
    if not found:
        return resource, []
    mode = untrusted_policy(mode)
    try:
        verifier = verifier or ReadingVerifier(contracts)
    except CarechainError as exc:  # a deployment without DeviceKeys: nothing is trusted
        verdicts = [(i, Verdict(Reason.UNKNOWN_DEVICE, str(exc))) for i, _ in found]
    else:
        anchored_at = verifier.block_time(anchored_block)
        verdicts = [(i, verifier.verify(r, patient, anchored_at)) for i, r in found]
    bad = [(i, v) for i, v in verdicts if not v.trusted]
    if bad and mode == "refuse":
        index, first = bad[0]
        raise UntrustedReadingError(
            f"reading {index} is not trusted ({first.words()}); {len(bad)} of {len(verdicts)} "
            "device readings failed their check (read them marked untrusted with "
            "CARECHAIN_UNTRUSTED_READINGS=mark)",
            bad,
        )
    return _remark(resource, dict(verdicts)), verdicts


def _utc(seconds: int) -> str:
    """A Unix time to the second (readings come a second apart): ``2026-12-03 14:05:09 UTC``."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
