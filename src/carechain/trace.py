"""Traceability of medicines and medical devices: GS1 codes, the supply-chain parties, and
"is this unit genuine, where has it been, is it recalled?".

GS1 element strings are what a DataMatrix on a medicine pack encodes: application
identifiers (AI) followed by data. carechain reads AI 01 (GTIN-14, with its check digit), 17
(expiry, YYMMDD), 10 (lot, up to 20 characters) and 21 (serial, up to 20 characters;
numeric here, since a batch registers a serial range). Both the human-readable form
``(01)09506000134352(17)271231(10)A12B(21)1005`` and the scanned form (optionally prefixed
``]d2``, variable-length fields ended by the GS character, ASCII 29) are accepted.

A medical device's UDI (GS1 issuing agency) is parsed the same way: AI 01 is its device
identifier (UDI-DI, a GTIN-14), and at least one production identifier follows: 10 (lot),
11 (manufacturing date), 17 (expiry), 21 (serial). The contract knows a device by the DI and
the keccak256 of its production identifiers, so it can check the DI's company prefix is the
registering manufacturer's.

Certificates of analysis and device reports are not health data: they go to IPFS as they
are, so anyone can check them against the digest on-chain. Dispensing names no patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eth_utils import keccak

from .errors import CarechainError, ChainError, InvalidRecordError
from .ipfs import IPFSClient
from .onchain import Contracts
from .onchain.traceability import Traceability
from .unixfs import dag_digest

GS = "\x1d"
_FIXED = {"01": 14, "17": 6}
_VARIABLE = {"10": 20, "21": 20}
# A UDI's production identifiers may also carry the manufacturing date (11).
_UDI_FIXED = {"01": 14, "11": 6, "17": 6}


@dataclass(frozen=True)
class GS1Code:
    """What a medicine pack's GS1 code says."""

    gtin: str  # 14 digits, check digit verified
    lot: str
    expiry: date | None = None
    serial: str | None = None

    @property
    def gtin_number(self) -> int:
        """The GTIN as the contract stores it."""
        return int(self.gtin)

    @property
    def lot_bytes(self) -> bytes:
        """The lot as the contract's ``bytes20``."""
        return lot_bytes(self.lot)

    @property
    def serial_number(self) -> int:
        """The serial as a number (carechain registers numeric serial ranges)."""
        if self.serial is None or not self.serial.isdigit():
            raise InvalidRecordError(
                f"serial {self.serial!r} is not numeric: carechain tracks numeric serials"
            )
        return int(self.serial)

    def element_string(self) -> str:
        """The human-readable form, e.g. ``(01)…(17)…(10)…(21)…``."""
        parts = [f"(01){self.gtin}"]
        if self.expiry:
            parts.append(f"(17){self.expiry:%y%m%d}")
        parts.append(f"(10){self.lot}")
        if self.serial is not None:
            parts.append(f"(21){self.serial}")
        return "".join(parts)


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit for the first 13 digits of a GTIN-14."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def lot_bytes(lot: str) -> bytes:
    """A lot code as 20 bytes (ASCII, zero-padded)."""
    raw = lot.encode("ascii", errors="strict") if lot.isascii() else b""
    if not raw or len(raw) > 20:
        raise InvalidRecordError(f"lot {lot!r} must be 1 to 20 ASCII characters (GS1 AI 10)")
    return raw.ljust(20, b"\0")


def _fields(text: str, fixed: dict[str, int], variable: dict[str, int]) -> dict[str, str]:
    """Split a GS1 element string (human-readable or scanned) into {AI: value}."""
    fields: dict[str, str] = {}
    if text.startswith("("):
        for ai, value in re.findall(r"\((\d{2})\)([^(]*)", text):
            fields[ai] = value
        if "".join(f"({a}){v}" for a, v in fields.items()) != text:
            raise InvalidRecordError(f"not a GS1 element string: {text!r}")
    else:
        rest = text.removeprefix("]d2").removeprefix("]C1").lstrip(GS)
        while rest:
            ai, rest = rest[:2], rest[2:]
            if ai in fixed:
                value, rest = rest[: fixed[ai]], rest[fixed[ai] :]
            elif ai in variable:
                value, _, rest = rest.partition(GS)
            else:
                raise InvalidRecordError(f"unsupported GS1 application identifier ({ai})")
            fields[ai] = value
            rest = rest.lstrip(GS)
    unknown = set(fields) - set(fixed) - set(variable)
    if unknown:
        raise InvalidRecordError(f"unsupported GS1 application identifier(s) {sorted(unknown)}")
    for ai, limit in variable.items():
        if ai in fields and not 0 < len(fields[ai]) <= limit:
            raise InvalidRecordError(f"({ai}) must be 1 to {limit} characters")
    return fields


def _check_gtin(gtin: str, what: str = "GTIN") -> None:
    if len(gtin) != 14 or not gtin.isdigit():
        raise InvalidRecordError(f"{what} (01) must be 14 digits, got {gtin!r}")
    if gtin_check_digit(gtin[:13]) != int(gtin[13]):
        raise InvalidRecordError(f"{what} {gtin} has a wrong check digit: a misread or a fake")


def _yymmdd(ai: str, yymmdd: str) -> date:
    try:
        day = int(yymmdd[4:]) or 1  # GS1: day 00 means the end of the month; 1 is safe
        return date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), day)
    except ValueError:
        raise InvalidRecordError(f"date ({ai}) {yymmdd!r} is not YYMMDD") from None


def parse_gs1(text: str) -> GS1Code:
    """Parse a GS1 element string (human-readable or as scanned from a DataMatrix)."""
    fields = _fields(text, _FIXED, _VARIABLE)
    gtin = fields.get("01", "")
    _check_gtin(gtin)
    if "10" not in fields:
        raise InvalidRecordError("a GS1 code for a batch needs a lot (10)")
    expiry = _yymmdd("17", fields["17"]) if "17" in fields else None
    return GS1Code(gtin=gtin, lot=fields["10"], expiry=expiry, serial=fields.get("21"))


@dataclass(frozen=True)
class UDI:
    """A medical device's unique device identifier (GS1): its device identifier (DI, a
    GTIN-14) and production identifiers (AI and value, in AI order)."""

    di: str
    production: tuple[tuple[str, str], ...]

    @property
    def di_number(self) -> int:
        """The DI as the contract takes it."""
        return int(self.di)

    @property
    def production_digest(self) -> bytes:
        """keccak256 of the production identifiers, e.g. of ``(21)PUMP-0042``."""
        return bytes(keccak(text="".join(f"({ai}){value}" for ai, value in self.production)))

    @property
    def device_id(self) -> bytes:
        """The device's on-chain id, keccak256(di, production digest)."""
        return Traceability.device_id(self.di_number, self.production_digest)

    def element_string(self) -> str:
        """The human-readable form, production identifiers in AI order."""
        return f"(01){self.di}" + "".join(f"({ai}){value}" for ai, value in self.production)


def parse_udi(text: str) -> UDI:
    """Parse a device's UDI (GS1 element string, human-readable or scanned): the DI (01, its
    check digit verified) and at least one production identifier (10, 11, 17, 21)."""
    if not text.strip():
        raise InvalidRecordError("a UDI is needed to identify a device")
    fields = _fields(text.strip(), _UDI_FIXED, _VARIABLE)
    di = fields.pop("01", "")
    _check_gtin(di, "UDI device identifier")
    if not fields:
        raise InvalidRecordError(
            "a UDI needs a production identifier to name one device: (21) serial, (10) lot, "
            "(11) manufacturing date or (17) expiry"
        )
    for ai in ("11", "17"):
        if ai in fields:
            _yymmdd(ai, fields[ai])
    return UDI(di=di, production=tuple(sorted(fields.items())))


def device_id(udi: str) -> bytes:
    """The on-chain id of a device from its UDI (e.g. ``(01)00844588003288(21)SN1234``):
    keccak256 of its device identifier and of its production identifiers."""
    return parse_udi(udi).device_id


@dataclass(frozen=True)
class Verification:
    """The answer to "is this unit genuine, where has it been, is it recalled?"."""

    code: GS1Code
    genuine: bool
    holder: str
    offered_to: str
    recalled: bool
    dispensed: bool
    expired: bool
    history: list[str]

    @property
    def safe_to_use(self) -> bool:
        """Genuine, not recalled, not expired, not dispensed before."""
        return self.genuine and not (self.recalled or self.expired or self.dispensed)


class SupplyChainParty:
    """A manufacturer, distributor, pharmacy, hospital or regulator on the Traceability
    contract. The contract decides who may do what (see each method); every party can
    verify any unit and read any batch's or device's history."""

    def __init__(self, account: Any, contracts: Contracts, ipfs: IPFSClient) -> None:
        if contracts.trace is None:
            raise CarechainError(
                "this deployment has no Traceability contract; redeploy (ape run deploy)"
            )
        self.account = account
        self.address = str(account.address)
        self.contracts = contracts
        self.trace = contracts.trace
        self.ipfs = ipfs

    def _store(self, document: bytes) -> tuple[Any, bool]:
        """Add and pin a public document; also says whether it was pinned already (the same
        certificate or report can be shared), so a refusal unpins only what it added."""
        fresh = not self.ipfs.is_pinned(dag_digest(document))
        return self.ipfs.add(document, pin=True), fresh

    def _release(self, digest: bytes, fresh: bool) -> None:
        if fresh:
            self.ipfs.unpin(digest)

    # ------------------------------------------------------------------ medicines

    def register_batch(
        self, code: GS1Code, first_serial: int, last_serial: int, certificate: bytes
    ) -> bytes:
        """(Manufacturer owning the GTIN's company prefix) Register a batch with its
        certificate of analysis; returns its id."""
        if code.expiry is None:
            raise InvalidRecordError("a batch needs an expiry date (17)")
        added, fresh = self._store(certificate)
        expiry = int(datetime(*code.expiry.timetuple()[:3], tzinfo=UTC).timestamp()) + 86400
        try:
            batch_id, _ = self.trace.register_batch(
                self.account,
                code.gtin_number,
                code.lot_bytes,
                expiry,
                first_serial,
                last_serial,
                added.digest,
            )
        except CarechainError:
            self._release(added.digest, fresh)
            raise
        return batch_id

    def ship(self, batch_id: bytes, first: int, last: int, to: str) -> int:
        """(Holder) Offer serials first..last to ``to``; returns the segment index the
        receiver accepts. The range must lie in one segment this party holds and has not
        offered (one offer per segment at a time; the segment splits when it is accepted)."""
        for index, s in enumerate(self.trace.segments(batch_id)):
            if s.holder == self.address and not s.offered_to and s.first <= first <= last <= s.last:
                self.trace.offer(self.account, batch_id, index, first, last, to)
                return index
        raise ChainError(
            f"you hold no single range covering serials {first}..{last} of batch "
            f"0x{batch_id.hex()} that is not already offered; nothing was sent"
        )

    def incoming(self, batch_id: bytes) -> list[tuple[int, int, int]]:
        """Ranges offered to this party: (segment, first serial, last serial)."""
        return [
            (i, s.offered_first, s.offered_last)
            for i, s in enumerate(self.trace.segments(batch_id))
            if s.offered_to == self.address
        ]

    def accept_all(self, batch_id: bytes) -> int:
        """(Receiver) Accept every range offered to this party; returns how many units."""
        units = 0
        for segment, lo, hi in self.incoming(batch_id):
            self.trace.accept(self.account, batch_id, segment)
            units += hi - lo + 1
        return units

    def dispense(self, code: GS1Code) -> Any:
        """(Pharmacy or hospital) Dispense the unit a scanned code names. No patient is
        recorded; a second dispensing of the same unit is refused."""
        batch_id = self.trace.batch_id(code.gtin_number, code.lot_bytes)
        serial = code.serial_number
        _, _, _, recalled, dispensed, expired = self.trace.verify(
            code.gtin_number, code.lot_bytes, serial
        )
        for flag, error, advice in (
            (recalled, "BatchIsRecalled", "the batch was recalled: quarantine the unit"),
            (expired, "BatchExpired", "the unit is past its expiry date"),
            (dispensed, "AlreadyDispensed", "this unit was dispensed before: it may be a copy"),
        ):
            if flag:
                raise ChainError(f"{error}: {advice} ({code.element_string()}); nothing was sent")
        for index, s in enumerate(self.trace.segments(batch_id)):
            if s.holder == self.address and s.first <= serial <= s.last:
                if s.offered_to and s.offered_first <= serial <= s.offered_last:
                    raise ChainError(
                        f"TransferPending: unit {serial} is offered to {s.offered_to}; cancel "
                        "the offer to dispense it; nothing was sent"
                    )
                return self.trace.dispense(self.account, batch_id, index, serial)
        raise ChainError(f"you do not hold unit {serial} of batch 0x{batch_id.hex()}")

    def recall(self, batch_id: bytes, reason: str) -> list[str]:
        """(Manufacturer of the batch, or a regulator) Recall a batch; returns every party
        holding or receiving units of it, who must now quarantine them."""
        self.trace.recall(self.account, batch_id, reason)
        return self.holders(batch_id)

    def holders(self, batch_id: bytes) -> list[str]:
        """Every party holding units of a batch, or offered some, in first-seen order."""
        found: dict[str, None] = {}
        for s in self.trace.segments(batch_id):
            found[s.holder] = None
            if s.offered_to:
                found[s.offered_to] = None
        return list(found)

    def verify(self, scanned: str | GS1Code) -> Verification:
        """Anyone: is this unit genuine, who holds it, where has it been, is it recalled?
        A code that does not parse (wrong GTIN check digit) is refused as an error."""
        code = scanned if isinstance(scanned, GS1Code) else parse_gs1(scanned)
        serial = code.serial_number
        genuine, holder, offered, recalled, dispensed, expired = self.trace.verify(
            code.gtin_number, code.lot_bytes, serial
        )
        history: list[str] = []
        if genuine:
            batch_id = self.trace.batch_id(code.gtin_number, code.lot_bytes)
            history = [
                line
                for log in self.trace.events(batch_id)
                if (line := _history_line(log, serial)) is not None
            ]
        return Verification(
            code=code,
            genuine=bool(genuine),
            holder=str(holder) if genuine else "",
            offered_to=str(offered) if genuine and int(str(offered), 16) else "",
            recalled=bool(recalled),
            dispensed=bool(dispensed),
            expired=bool(expired),
            history=history,
        )

    # ------------------------------------------------------------------ devices

    def register_device(self, udi: str, document: bytes) -> bytes:
        """(Manufacturer owning the company prefix of the UDI's device identifier) Register a
        device by its UDI with its documentation; returns its id."""
        code = parse_udi(udi)
        added, fresh = self._store(document)
        try:
            key, _ = self.trace.register_device(
                self.account, code.di_number, code.production_digest, added.digest
            )
        except CarechainError:
            self._release(added.digest, fresh)
            raise
        return key

    def assign_device(self, udi: str, hospital: str) -> Any:
        """(Manufacturer, or the hospital holding it) Assign a device to a hospital."""
        return self.trace.assign_device(self.account, device_id(udi), hospital)

    def log_service(self, udi: str, kind: str, passed: bool, report: bytes) -> Any:
        """(Holder hospital or manufacturer) Log maintenance, a calibration or a quality
        check; the report goes to IPFS and its digest on-chain."""
        added, fresh = self._store(report)
        try:
            return self.trace.log_service(self.account, device_id(udi), kind, passed, added.digest)
        except (CarechainError, ValueError):
            self._release(added.digest, fresh)
            raise

    def decommission(self, udi: str, reason: str) -> Any:
        """(Holder or a regulator) Take a device out of service for good."""
        return self.trace.decommission(self.account, device_id(udi), reason)

    def device_history(self, udi: str) -> list[str]:
        """A device's whole life, one line per event, oldest first."""
        key = device_id(udi)
        self.trace.device(key)  # UnknownDevice if it was never registered
        return [_device_line(log) for log in self.trace.device_events(key)]


# The parties are one class: the contract's roles decide what each may do.
Manufacturer = Distributor = Pharmacy = Regulator = SupplyChainParty


def _history_line(log: Any, serial: int) -> str | None:
    name = log.event_name
    block = int(log.block_number)
    if name == "BatchRegistered":
        return f"block {block}: registered by manufacturer {log.manufacturer}"
    if name in ("TransferOffered", "TransferAccepted"):
        if not int(log.firstSerial) <= serial <= int(log.lastSerial):
            return None
        verb = "offered" if name == "TransferOffered" else "accepted"
        return f"block {block}: {verb}, {log['from']} → {log.to}"
    if name == "Dispensed":
        return f"block {block}: dispensed by {log.by}" if int(log.serial) == serial else None
    if name == "BatchRecalled":
        return f"block {block}: batch RECALLED by {log.by}"
    return None


def _device_line(log: Any) -> str:
    name = log.event_name
    block = int(log.block_number)
    if name == "DeviceRegistered":
        return f"block {block}: registered by {log.manufacturer}"
    if name == "DeviceAssigned":
        return f"block {block}: assigned to {log.to} by {log['from']}"
    if name == "DeviceServiced":
        kind = ("maintenance", "calibration", "quality check")[int(log.kind)]
        outcome = "passed" if log.passed else "FAILED"
        return f"block {block}: {kind} {outcome} (by {log.by})"
    return f"block {block}: decommissioned by {log.by}"
