"""The AccessLog: Merkle roots of signed access receipts, keyed by (reader, root)."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from ..model import AnchoredBatch, StoredBatch
from .contract import Contract
from .rpc import Node


class AccessLog:
    """The AccessLog contract: Merkle roots of signed access receipts, keyed by (reader,
    root)."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "AccessLog", address, since)
        self.address = str(self.contract.address)

    def anchor(
        self, reader: Any, patient: str, root: bytes, batch_digest: bytes, count: int
    ) -> Any:
        """Anchor one batch's root (the reader sends it; the batch is keyed by (reader,
        root), so a copy of the root anchored by anyone else never blocks it)."""
        return self.contract.anchorBatch(patient, root, batch_digest, count, sender=reader)

    def batches(self, patient: str) -> list[AnchoredBatch]:
        """Every batch of receipts anchored under ``patient``, oldest first — by anyone: the
        audit trail checks who signed what."""
        logs = self.contract.logs(
            self.contract.AccessBatchAnchored, {"patient": to_checksum_address(patient)}
        )
        return [
            AnchoredBatch(
                bytes(log.root),
                str(log.reader),
                str(log.patient),
                bytes(log.batchDigest),
                int(log.count),
                int(log.block_number),
            )
            for log in logs
        ]

    def batch(self, reader: str, root: bytes) -> StoredBatch | None:
        """The batch ``reader`` anchored under ``root``, or None."""
        stored = self.contract.getBatch.call(to_checksum_address(reader), root)
        if int(stored.count) == 0:
            return None
        return StoredBatch(
            str(stored.reader), str(stored.patient), int(stored.count), int(stored.anchoredAt)
        )

    def verify(self, reader: str, root: bytes, receipt_digest: bytes, proof: list[bytes]) -> bool:
        """The chain's own check that the receipt with EIP-712 digest ``receipt_digest`` is
        in the batch ``reader`` anchored under ``root`` (the contract builds the leaf)."""
        return bool(
            self.contract.verifyReceipt.call(
                to_checksum_address(reader),
                root,
                receipt_digest,
                proof,
            )
        )
