"""The RecordRegistry: roles and record anchors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from ..errors import ChainError, NotAuthorizedError, RecordNotFoundError
from ..fhir import Category
from ..model import ROLES, PendingAnchor, RecordHead, RecordVersion, reason_code
from .abi import Log
from .contract import Contract
from .rpc import Node


class Registry:
    """The RecordRegistry contract: roles and record anchors."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "RecordRegistry", address, since)
        self.address = str(self.contract.address)
        self.max_batch = int(self.contract.MAX_BATCH())

    # roles -------------------------------------------------------------------------
    def has_role(self, role: str, account: Any) -> bool:
        """Whether ``account`` holds ``role`` (provider, insurer or auditor)."""
        return bool(self.contract.hasRole.call(ROLES[role], account))

    def has_role_id(self, role: bytes, account: Any) -> bool:
        """Whether ``account`` holds the role with this id (``bytes(32)``: the governor)."""
        return bool(self.contract.hasRole.call(role, account))

    def admit(self, governor: Any, role: str, account: Any) -> Any:
        """Admit ``account`` to ``role``; only the governor may."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {sorted(ROLES)}")
        return self.contract.grantRole(ROLES[role], account, sender=governor)

    def remove(self, governor: Any, role: str, account: Any) -> Any:
        """Remove ``account`` from ``role``; only the governor may."""
        return self.contract.revokeRole(ROLES[role], account, sender=governor)

    def require_provider(self, account: Any) -> None:
        """Raise unless ``account`` is an admitted provider."""
        if not self.has_role("provider", account):
            raise NotAuthorizedError(
                f"{account} is not an admitted provider: the governor must admit it first "
                "(carechain admin admit provider <address>)"
            )

    # writes ------------------------------------------------------------------------
    def anchor(self, sender: Any, item: PendingAnchor) -> Any:
        """Anchor version 1 of a record; returns the receipt."""
        return self.contract.anchor(
            item.record_id, item.patient, int(item.category), item.cid_digest, sender=sender
        )

    def anchor_batch(self, sender: Any, items: list[PendingAnchor]) -> Any:
        """Anchor version 1 of up to ``max_batch`` records in one transaction."""
        if not 0 < len(items) <= self.max_batch:
            raise ValueError(f"a batch holds 1 to {self.max_batch} records, got {len(items)}")
        rows = [(i.record_id, i.patient, int(i.category), i.cid_digest) for i in items]
        return self.contract.anchorBatch(rows, sender=sender)

    def supersede(self, sender: Any, record_id: bytes, cid_digest: bytes) -> Any:
        """Anchor the next version of a record."""
        return self.contract.supersede(record_id, cid_digest, sender=sender)

    def retract(self, sender: Any, record_id: bytes, reason: str) -> Any:
        """Mark a record entered-in-error with a reason code (hashed; never free text)."""
        code = reason_code(reason)
        return self.contract.retract(record_id, code, sender=sender)

    # reads -------------------------------------------------------------------------
    def exists(self, record_id: bytes) -> bool:
        """Whether the record is anchored."""
        return bool(self.contract.recordExists.call(record_id))

    def exists_each(self, record_ids: Sequence[bytes]) -> list[bool]:
        """Whether each record is anchored, asked in batched calls (for many records)."""
        return [bool(x) for x in self.contract.recordExists.calls([(r,) for r in record_ids])]

    def head(self, record_id: bytes) -> RecordHead:
        """The stored head of a record; raises :class:`RecordNotFoundError` if unknown."""
        try:
            raw = self.contract.getRecord.call(record_id)  # one call: reverts if unknown
        except ChainError:
            if self.exists(record_id):
                raise
            raise RecordNotFoundError(
                f"no record 0x{record_id.hex()} is anchored in {self.address}"
            ) from None
        return _head(record_id, raw, str(self.contract.providerAddress.call(raw.authorId)))

    def heads(self, record_ids: Sequence[bytes]) -> list[RecordHead]:
        """The stored heads of many records, asked in a few batched requests (one per 500
        records, and one for their authors) rather than two round trips per record.
        Raises :class:`RecordNotFoundError` naming the first unknown record."""
        try:
            raws = self.contract.getRecord.calls([(r,) for r in record_ids])
        except ChainError:
            for record_id in record_ids:
                self.head(record_id)  # names the one that is missing
            raise
        author_ids = sorted({int(raw.authorId) for raw in raws})
        authors = dict(
            zip(
                author_ids,
                self.contract.providerAddress.calls([(a,) for a in author_ids]),
                strict=True,
            )
        )
        return [
            _head(record_id, raw, str(authors[int(raw.authorId)]))
            for record_id, raw in zip(record_ids, raws, strict=True)
        ]

    def versions(self, record_id: bytes) -> list[RecordVersion]:
        """Every anchored version of a record, oldest first."""
        logs = self.contract.logs(self.contract.RecordAnchored, {"recordId": record_id})
        return sorted((_version_from_log(log) for log in logs), key=lambda v: v.version)

    def version(
        self, record_id: bytes, version: int | None = None, head: RecordHead | None = None
    ) -> RecordVersion:
        """One version (the latest by default) of a record (pass its ``head`` if you have it:
        saves the lookup)."""
        head = head or self.head(record_id)
        wanted = head.version if version is None else version
        if not 1 <= wanted <= head.version:
            raise RecordNotFoundError(
                f"record 0x{record_id.hex()} has versions 1 to {head.version}, not {wanted}"
            )
        for item in self.versions(record_id):
            if item.version == wanted:
                return item
        raise RecordNotFoundError(f"record 0x{record_id.hex()} has no version {wanted}")

    def records_of(self, patient: str) -> list[RecordVersion]:
        """The latest anchored version of every record about ``patient``."""
        logs = self.contract.logs(
            self.contract.RecordAnchored, {"patient": to_checksum_address(patient)}
        )
        latest: dict[bytes, RecordVersion] = {}
        for log in logs:
            item = _version_from_log(log)
            if item.record_id not in latest or item.version > latest[item.record_id].version:
                latest[item.record_id] = item
        return sorted(latest.values(), key=lambda v: (v.block, v.record_id))


def _head(record_id: bytes, raw: Any, author: str) -> RecordHead:
    return RecordHead(
        record_id=record_id,
        patient=str(raw.patient),
        author=author,
        version=int(raw.version),
        category=Category(int(raw.category)),
        retracted=int(raw.status) == 2,
    )


def _version_from_log(log: Log) -> RecordVersion:
    return RecordVersion(
        record_id=bytes(log.recordId),
        patient=str(log.patient),
        version=int(log.version),
        cid_digest=bytes(log.cidDigest),
        block=int(log.block_number),
        transaction=log.transaction_hash,
    )
