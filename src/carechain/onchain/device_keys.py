"""The DeviceKeys contract: medical devices' signing keys and patient assignments, with
their history (validity by block timestamp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from .contract import Contract
from .rpc import Node


@dataclass(frozen=True)
class KeyPeriod:
    """One key a device had, valid from ``valid_from`` up to (not including) ``valid_to``
    (block timestamps; ``valid_to`` 0: still valid)."""

    public_key: bytes
    valid_from: int
    valid_to: int

    def covers(self, moment: int) -> bool:
        """Was this key the device's valid key at ``moment`` (Unix seconds)?"""
        return self.valid_from <= moment and (self.valid_to == 0 or moment < self.valid_to)


@dataclass(frozen=True)
class AssignmentPeriod:
    """One assignment of a device to a patient (a salted commitment; zero: no patient)."""

    patient: bytes
    valid_from: int
    valid_to: int
    hospital: str

    def covers(self, moment: int) -> bool:
        """Did this assignment hold at ``moment``?"""
        return self.valid_from <= moment and (self.valid_to == 0 or moment < self.valid_to)


def patient_commitment(device_id: bytes, patient: str, salt: bytes) -> bytes:
    """What the chain holds for "``device_id`` is worn by ``patient``":
    keccak256(abi.encode(deviceId, patient, salt)). Without the salt (32 random bytes, kept
    inside the patient's encrypted records) nobody can tell whose it is."""
    if len(salt) != 32:
        raise ValueError("the assignment salt is 32 bytes")
    return bytes(keccak(abi_encode(["bytes32", "address", "bytes32"], [device_id, patient, salt])))


class DeviceKeys:
    """The DeviceKeys contract."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "DeviceKeys", address, since)
        self.address = str(self.contract.address)

    def set_key(self, manufacturer: Any, device_id: bytes, public_key: bytes) -> Any:
        """(The device's manufacturer) Bind an Ed25519 public key to the device, ending the
        validity of its current key at this block's time."""
        if len(public_key) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
        return self.contract.setKey(device_id, public_key, sender=manufacturer)

    def revoke_key(self, party: Any, device_id: bytes) -> Any:
        """(Manufacturer or regulator) End the device's current key now, with no successor."""
        return self.contract.revokeKey(device_id, sender=party)

    def assign_patient(self, hospital: Any, device_id: bytes, commitment: bytes) -> Any:
        """(The hospital holding the device) Assign it to the patient ``commitment`` names
        (see :func:`patient_commitment`); 32 zero bytes: to no one."""
        return self.contract.assignPatient(device_id, commitment, sender=hospital)

    def keys(self, device_id: bytes) -> list[KeyPeriod]:
        """Every key the device had, oldest first."""
        return [
            KeyPeriod(bytes(k.publicKey), int(k.validFrom), int(k.validTo))
            for k in self.contract.keys.call(device_id)
        ]

    def assignments(self, device_id: bytes) -> list[AssignmentPeriod]:
        """Every assignment the device had, oldest first."""
        return [
            AssignmentPeriod(bytes(a.patient), int(a.validFrom), int(a.validTo), str(a.hospital))
            for a in self.contract.assignments.call(device_id)
        ]
