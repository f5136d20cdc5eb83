"""The Traceability contract: medicine batches (GS1) and medical devices (UDI)."""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from ..errors import ChainError, RecordNotFoundError
from ..model import Segment
from .contract import BoundFunction, Contract, log_order
from .rpc import Node


def _view_or_missing(method: BoundFunction, key: bytes, missing: str) -> Any:
    """A view that reverts for an unknown id, its revert as :class:`RecordNotFoundError`
    with ``missing`` (Ape cannot name the custom error of a reverted view call)."""
    try:
        return method(key)
    except ChainError:
        raise RecordNotFoundError(missing) from None


def _unknown_batch(batch_id: bytes) -> str:
    return f"UnknownBatch: no batch 0x{batch_id.hex()} was registered (check the GTIN and lot)"


_ZERO_ADDRESS = "0x" + "00" * 20


def _company_prefix(prefix: str) -> tuple[int, int]:
    """A GS1 company prefix as the contract takes it: (its number, its digit count)."""
    if not (prefix.isascii() and prefix.isdigit() and 6 <= len(prefix) <= 12):
        raise ValueError(f"a GS1 company prefix is 6 to 12 digits, got {prefix!r}")
    return int(prefix), len(prefix)


class Traceability:
    """The Traceability contract: medicine batches (GS1) and medical devices (UDI)."""

    SERVICE_KINDS = ("maintenance", "calibration", "quality-check")

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "Traceability", address, since)
        self.address = str(self.contract.address)

    def assign_company_prefix(self, governor: Any, prefix: str, manufacturer: str) -> Any:
        """(Governor) Let ``manufacturer`` register GTINs and UDI-DIs whose GS1 company
        prefix is ``prefix`` (6 to 12 digits, leading zeros included); reassigns it if it
        was another's."""
        number, digits = _company_prefix(prefix)
        return self.contract.assignCompanyPrefix(number, digits, manufacturer, sender=governor)

    def revoke_company_prefix(self, governor: Any, prefix: str) -> Any:
        """(Governor) Take a company prefix away (what was registered under it stays)."""
        number, digits = _company_prefix(prefix)
        return self.contract.revokeCompanyPrefix(number, digits, sender=governor)

    def company_prefix_of(self, gtin: int) -> tuple[str, str]:
        """(company prefix with its leading zeros, its manufacturer) for a GTIN or UDI-DI;
        ("", "") if no assigned prefix covers it."""
        prefix, digits, owner = self.contract.companyPrefixOf.call(gtin)
        if not int(digits):
            return "", ""
        return str(int(prefix)).rjust(int(digits), "0"), str(owner)

    def max_segments(self) -> int:
        """How many segments a batch may be split into (MAX_SEGMENTS)."""
        return int(self.contract.MAX_SEGMENTS.call())

    def register_batch(
        self,
        manufacturer: Any,
        gtin: int,
        lot: bytes,
        expiry: int,
        first: int,
        last: int,
        doc_digest: bytes,
    ) -> tuple[bytes, Any]:
        """Register a batch; returns (batch id, receipt)."""
        receipt = self.contract.registerBatch(
            gtin, lot, expiry, first, last, doc_digest, sender=manufacturer
        )
        return bytes(receipt.decode_logs(self.contract.BatchRegistered)[0].batchId), receipt

    def offer(
        self, holder: Any, batch_id: bytes, segment: int, first: int, last: int, to: str
    ) -> Any:
        """Offer serials first..last of one of the holder's segments to ``to``."""
        return self.contract.offer(batch_id, segment, first, last, to, sender=holder)

    def accept(self, receiver: Any, batch_id: bytes, segment: int) -> Any:
        """Accept a range offered to ``receiver``."""
        return self.contract.accept(batch_id, segment, sender=receiver)

    def cancel_offer(self, party: Any, batch_id: bytes, segment: int) -> Any:
        """Withdraw (holder) or decline (receiver) an offer."""
        return self.contract.cancelOffer(batch_id, segment, sender=party)

    def dispense(self, dispenser: Any, batch_id: bytes, segment: int, serial: int) -> Any:
        """Dispense one unit (no patient is named)."""
        return self.contract.dispense(batch_id, segment, serial, sender=dispenser)

    def recall(self, party: Any, batch_id: bytes, reason: str) -> Any:
        """Recall a batch (its manufacturer or a regulator); the reason is hashed."""
        return self.contract.recall(batch_id, keccak(text=reason), sender=party)

    def batch_id(self, gtin: int, lot: bytes) -> bytes:
        """keccak256(gtin, lot), as the contract computes it."""
        return bytes(keccak(abi_encode(["uint64", "bytes20"], [gtin, lot])))

    def batch(self, batch_id: bytes) -> Any:
        """The stored batch (manufacturer, expiry, recalled, gtin, serial range)."""
        return _view_or_missing(self.contract.getBatch, batch_id, _unknown_batch(batch_id))

    def segments(self, batch_id: bytes) -> list[Segment]:
        """Every segment of a batch, in index order (the index is what offer, accept and
        dispense take)."""
        raw = _view_or_missing(self.contract.segments, batch_id, _unknown_batch(batch_id))
        segments = []
        for s in raw:
            offered = str(s.pendingTo).lower() != _ZERO_ADDRESS
            segments.append(
                Segment(
                    holder=str(s.holder),
                    first=int(s.firstSerial),
                    last=int(s.lastSerial),
                    offered_to=str(s.pendingTo) if offered else "",
                    offered_first=int(s.offeredFirst) if offered else 0,
                    offered_last=int(s.offeredLast) if offered else 0,
                )
            )
        return segments

    def verify(self, gtin: int, lot: bytes, serial: int) -> tuple:
        """(genuine, holder, offered to, recalled, dispensed, expired) for one unit."""
        return tuple(self.contract.verify.call(gtin, lot, serial))

    def events(self, batch_id: bytes) -> list[Any]:
        """Every event of a batch (registration, transfers, dispensing, recall), in order."""
        logs = []
        for event in (
            self.contract.BatchRegistered,
            self.contract.TransferOffered,
            self.contract.TransferAccepted,
            self.contract.TransferCancelled,
            self.contract.Dispensed,
            self.contract.BatchRecalled,
        ):
            logs += self.contract.logs(event, {"batchId": batch_id})
        return sorted(logs, key=log_order)

    def register_device(
        self, manufacturer: Any, di: int, production: bytes, doc_digest: bytes
    ) -> tuple[bytes, Any]:
        """Register a device by its UDI-DI and the keccak256 of its production identifiers;
        returns (device id, receipt)."""
        receipt = self.contract.registerDevice(di, production, doc_digest, sender=manufacturer)
        return bytes(receipt.decode_logs(self.contract.DeviceRegistered)[0].deviceId), receipt

    @staticmethod
    def device_id(di: int, production: bytes) -> bytes:
        """keccak256(di, production), as the contract computes it."""
        return bytes(keccak(abi_encode(["uint64", "bytes32"], [di, production])))

    def assign_device(self, party: Any, device_id: bytes, hospital: str) -> Any:
        """Assign a device to a hospital."""
        return self.contract.assignDevice(device_id, hospital, sender=party)

    def log_service(
        self, party: Any, device_id: bytes, kind: str, passed: bool, report_digest: bytes
    ) -> Any:
        """Log maintenance, a calibration or a quality check."""
        if kind not in self.SERVICE_KINDS:
            raise ValueError(f"unknown service kind {kind!r}; choose one of {self.SERVICE_KINDS}")
        code = self.SERVICE_KINDS.index(kind)
        return self.contract.logService(device_id, code, passed, report_digest, sender=party)

    def decommission(self, party: Any, device_id: bytes, reason: str) -> Any:
        """Take a device out of service for good."""
        return self.contract.decommission(device_id, keccak(text=reason), sender=party)

    def device(self, device_id: bytes) -> Any:
        """The stored device (manufacturer, status, services, holder)."""
        return _view_or_missing(
            self.contract.getDevice,
            device_id,
            f"UnknownDevice: no device 0x{device_id.hex()} was registered (check the UDI)",
        )

    def device_events(self, device_id: bytes) -> list[Any]:
        """A device's whole history, oldest first."""
        logs = []
        for event in (
            self.contract.DeviceRegistered,
            self.contract.DeviceAssigned,
            self.contract.DeviceServiced,
            self.contract.DeviceDecommissioned,
        ):
            logs += self.contract.logs(event, {"deviceId": device_id})
        return sorted(logs, key=log_order)
