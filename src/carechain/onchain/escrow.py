"""The KeyEscrow: threshold backups of record keys and emergency escrow (shares, commitments,
recovery requests, releases, re-wrapped data keys)."""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from ..errors import IntegrityError
from ..model import EscrowKind, EscrowView, RecoveryRequest, ShareRelease
from .contract import Contract
from .rpc import Node


def key_commitment(kem_id: int, public_key: bytes) -> bytes:
    """``keccak256(abi.encode(kemId, publicKey))``, as the contract stores it."""
    return bytes(keccak(abi_encode(["uint16", "bytes"], [kem_id, public_key])))


class KeyEscrow:
    """The KeyEscrow contract."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "KeyEscrow", address, since)
        self.address = str(self.contract.address)

    # writes ------------------------------------------------------------------------
    def create(
        self,
        patient: Any,
        kind: EscrowKind,
        threshold: int,
        holders: list[str],
        commitments: list[bytes],
        kem_id: int,
        public_key: bytes,
        shares_digest: bytes,
        keys_digest: bytes = bytes(32),
    ) -> Any:
        """Set up (or re-share) ``patient``'s escrow of ``kind``."""
        return self.contract.createEscrow(
            int(kind),
            threshold,
            [to_checksum_address(h) for h in holders],
            commitments,
            kem_id,
            public_key,
            shares_digest,
            keys_digest,
            sender=patient,
        )

    def remove(self, patient: Any, kind: EscrowKind) -> Any:
        """Remove ``patient``'s escrow of ``kind`` (Emergency: opt out)."""
        return self.contract.removeEscrow(int(kind), sender=patient)

    def open_recovery(self, patient: Any, kem_id: int, device_key: bytes, duration: int) -> bytes:
        """Ask the backup's holders for their shares, encrypted to ``device_key``."""
        receipt = self.contract.openRecovery(kem_id, device_key, duration, sender=patient)
        return bytes(receipt.decode_logs(self.contract.RecoveryOpened)[0].requestId)

    def close_recovery(self, patient: Any) -> Any:
        """End ``patient``'s open recovery request."""
        return self.contract.closeRecovery(sender=patient)

    def release(
        self,
        holder: Any,
        patient: str,
        kind: EscrowKind,
        request_id: bytes,
        index: int,
        release_digest: bytes,
    ) -> Any:
        """Record, as ``holder``, the release of share ``index`` for ``request_id``."""
        return self.contract.releaseShare(
            to_checksum_address(patient),
            int(kind),
            request_id,
            index,
            release_digest,
            sender=holder,
        )

    def record_rewrap(self, patient: Any, keys_digest: bytes) -> Any:
        """Publish where ``patient``'s data keys, wrapped to its new record key, are."""
        return self.contract.recordRewrap(keys_digest, sender=patient)

    # reads -------------------------------------------------------------------------
    def next_epoch(self, patient: str, kind: EscrowKind) -> int:
        """The epoch ``patient``'s next escrow of ``kind`` (set-up or re-share) will have."""
        stored = self.contract.getEscrow.call(to_checksum_address(patient), int(kind))
        return int(stored.epoch) + 1

    def escrow(self, patient: str, kind: EscrowKind) -> EscrowView | None:
        """``patient``'s current escrow of ``kind`` (None if there is none), with holders and
        public key from its event, checked against storage."""
        patient = to_checksum_address(patient)
        stored = self.contract.getEscrow.call(patient, int(kind))
        if int(stored.holders) == 0:
            return None
        epoch = int(stored.epoch)
        for log in reversed(
            self.contract.logs(self.contract.EscrowCreated, {"patient": patient, "kind": int(kind)})
        ):
            if int(log.epoch) != epoch:
                continue
            public_key = bytes(log.publicKey)
            expected = (
                key_commitment(int(log.kemId), public_key)
                if kind is EscrowKind.BACKUP
                else bytes(32)  # an emergency escrow has no key of its own
            )
            if expected != bytes(stored.keyCommitment):
                break
            return EscrowView(
                patient=patient,
                kind=kind,
                epoch=epoch,
                threshold=int(stored.threshold),
                holders=[str(h) for h in log.holders],
                commitments=[bytes(c) for c in log.commitments],
                kem_id=int(log.kemId),
                public_key=public_key,
                shares_digest=bytes(stored.sharesDigest),
                keys_digest=bytes(stored.keysDigest),
            )
        raise IntegrityError(
            f"no EscrowCreated event matches {patient}'s stored escrow (epoch {epoch}): the node "
            "answered inconsistently; query another node"
        )

    def recovery(self, patient: str) -> RecoveryRequest | None:
        """``patient``'s latest recovery request (None if it never opened one)."""
        patient = to_checksum_address(patient)
        stored = self.contract.getRecovery.call(patient)
        request_id = bytes(stored.requestId)
        if request_id == bytes(32):
            return None
        logs = self.contract.logs(
            self.contract.RecoveryOpened, {"patient": patient, "requestId": request_id}
        )
        for log in logs:
            key = bytes(log.devicePublicKey)
            if key_commitment(int(log.kemId), key) == bytes(stored.deviceKeyCommitment):
                now = self.contract.node.head_timestamp()
                return RecoveryRequest(
                    patient,
                    request_id,
                    int(stored.epoch),
                    int(log.kemId),
                    key,
                    int(stored.expiresAt),
                    int(stored.expiresAt) > now,
                )
        raise IntegrityError(f"no RecoveryOpened event matches {patient}'s stored request")

    def releases(
        self, patient: str, kind: EscrowKind, request_id: bytes | None = None
    ) -> list[ShareRelease]:
        """Every share released for ``patient``'s escrow of ``kind`` (for ``request_id``)."""
        topics: dict[str, Any] = {"patient": to_checksum_address(patient), "kind": int(kind)}
        if request_id is not None:
            topics["requestId"] = request_id
        return [
            ShareRelease(
                str(log.patient),
                EscrowKind(int(log.kind)),
                bytes(log.requestId),
                str(log.holder),
                int(log.index),
                int(log.epoch),
                bytes(log.releaseDigest),
                int(log.block_number),
            )
            for log in self.contract.logs(self.contract.ShareReleased, topics)
        ]

    def rewrap_of(self, patient: str) -> bytes:
        """The digest of ``patient``'s re-wrapped data keys (zero if none)."""
        return bytes(self.contract.rewrapOf.call(to_checksum_address(patient)))
