"""The read audit trail. Every consented read is signed by the reader (EIP-712) as an access
receipt; receipts are batched per patient, stored on IPFS encrypted to the patient, and
their Merkle root is anchored in the AccessLog, so the patient can see and prove every read
(``audit_trail``), and what cannot be verified is flagged, never hidden.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from .crypto import (
    KeyPair,
    RecordContext,
    encrypt_record,
)
from .errors import (
    DecryptionError,
    IntegrityError,
    IPFSError,
    IPFSUnavailableError,
    KeyNotFoundError,
)
from .ipfs import IPFSClient
from .model import AnchoredBatch, Purpose
from .onchain import Contracts
from .onchain.consent import typed_data
from .onchain.signer import sign_typed

# --------------------------------------------------------------------------- receipts

_RECEIPT_FIELDS = [
    ("reader", "address"),
    ("patient", "address"),
    ("recordId", "bytes32"),
    ("version", "uint32"),
    ("purpose", "uint8"),
    ("readAt", "uint64"),
]


_RECEIPT_TYPEHASH = keccak(
    text="AccessReceipt(" + ",".join(f"{kind} {name}" for name, kind in _RECEIPT_FIELDS) + ")"
)


@functools.lru_cache(maxsize=16)
def _domain_separator(chain_id: int, access_log: str) -> bytes:
    """The AccessLog's EIP-712 domain separator (name, version 1, chain, contract)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,"
                    "address verifyingContract)"
                ),
                keccak(text="carechain AccessLog"),
                keccak(text="1"),
                chain_id,
                access_log,
            ],
        )
    )


@dataclass(frozen=True)
class AccessReceipt:
    """One read: who read which record version of whom, why, and when; signed by the reader."""

    reader: str
    patient: str
    record_id: bytes
    version: int
    purpose: Purpose
    read_at: int
    signature: bytes = b""

    def typed_data(self, contracts: Contracts) -> Any:
        """The EIP-712 message (domain: the AccessLog on this chain)."""
        return _receipt_message(self, contracts)

    def digest(self, contracts: Contracts) -> bytes:
        """The EIP-712 digest the reader signs (what ``AccessLog.verifyReceipt`` takes),
        hashed directly (the typed-data encoder, ``typed_data``, gives the same digest at
        about three times the cost; a worker hashes every receipt it anchors)."""
        struct = keccak(
            abi_encode(
                ["bytes32", "address", "address", "bytes32", "uint32", "uint8", "uint64"],
                [
                    _RECEIPT_TYPEHASH,
                    self.reader,
                    self.patient,
                    self.record_id,
                    self.version,
                    int(self.purpose),
                    self.read_at,
                ],
            )
        )
        domain = _domain_separator(contracts.chain_id, contracts.access_log.address)
        return keccak(b"\x19\x01" + domain + struct)

    def leaf(self, contracts: Contracts) -> bytes:
        """The Merkle leaf: :func:`receipt_leaf` of the EIP-712 digest."""
        return receipt_leaf(self.digest(contracts))

    def signer(self, contracts: Contracts) -> str:
        """The address that signed this receipt."""
        return str(Account.recover_message(self.typed_data(contracts), signature=self.signature))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data.update(
            record_id=self.record_id.hex(),
            signature=self.signature.hex(),
            purpose=int(self.purpose),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccessReceipt:
        """Inverse of :meth:`to_dict`."""
        return cls(
            reader=data["reader"],
            patient=data["patient"],
            record_id=bytes.fromhex(data["record_id"]),
            version=int(data["version"]),
            purpose=Purpose(data["purpose"]),
            read_at=int(data["read_at"]),
            signature=bytes.fromhex(data["signature"]),
        )


def _receipt_message(receipt: AccessReceipt, contracts: Contracts) -> Any:
    message = {
        "reader": receipt.reader,
        "patient": receipt.patient,
        "recordId": receipt.record_id,
        "version": receipt.version,
        "purpose": int(receipt.purpose),
        "readAt": receipt.read_at,
    }
    return typed_data(
        "carechain AccessLog",
        contracts.access_log.address,
        "AccessReceipt",
        _RECEIPT_FIELDS,
        message,
        contracts.chain_id,
    )


def sign_receipt(account: Any, contracts: Contracts, receipt: AccessReceipt) -> AccessReceipt:
    """The reader's signature over a receipt."""
    raw = sign_typed(account, receipt.typed_data(contracts))
    return AccessReceipt(**{**asdict(receipt), "signature": raw})


def receipt_leaf(receipt_digest: bytes) -> bytes:
    """The Merkle leaf of a receipt, as AccessLog builds it:
    ``keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))))`` (OpenZeppelin's
    StandardMerkleTree leaf). Hashing twice separates leaves from internal nodes (a node is
    the keccak256 of 64 bytes), so a node can never be presented as a receipt."""
    if len(receipt_digest) != 32:
        raise ValueError("a receipt digest is 32 bytes")
    return keccak(keccak(receipt_digest))


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of a sorted-pair keccak256 tree over ``leaves`` (already leaf-hashed with
    :func:`receipt_leaf`; an odd node moves up unchanged)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = list(leaves)
    while len(level) > 1:
        level = [
            _pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def merkle_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """The sibling path proving ``leaves[index]`` (OpenZeppelin MerkleProof compatible)."""
    proof, level = [], list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        level = [
            _pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        index //= 2
    return proof


def verify_receipt_proof(receipt_digest: bytes, proof: list[bytes], root: bytes) -> bool:
    """The local twin of ``AccessLog.verifyReceipt``'s proof check: the leaf is built from
    the receipt's digest here, never taken as given, so an internal node fails."""
    node = receipt_leaf(receipt_digest)
    for sibling in proof:
        node = _pair(node, sibling)
    return node == root


def _batch_context(contracts: Contracts, patient: str, root: bytes) -> RecordContext:
    # A receipt batch is sealed like a record, bound to the AccessLog and its own root.
    return RecordContext(contracts.chain_id, contracts.access_log.address, patient, root, 0)


class ReceiptBook:
    """A reader's pending access receipts, anchored in batches (one per patient)."""

    def __init__(
        self,
        account: Any,
        contracts: Contracts,
        ipfs: IPFSClient,
        key_pair: KeyPair,
        batch_size: int | None = 50,
    ) -> None:
        """``batch_size``: anchor automatically once this many receipts are pending; ``None``
        never does (the owner seals and anchors batches itself, as the settlement worker
        does through its journal)."""
        self.account = account
        self.contracts = contracts
        self.ipfs = ipfs
        self.key_pair = key_pair
        self.batch_size = batch_size
        self.pending: list[AccessReceipt] = []

    def record(
        self, patient: str, record_id: bytes, version: int, purpose: Purpose
    ) -> AccessReceipt:
        """Sign a receipt for a read that just happened; anchors when the batch is full."""
        receipt = AccessReceipt(
            str(self.account.address), patient, record_id, version, purpose, int(time.time())
        )
        receipt = sign_receipt(self.account, self.contracts, receipt)
        self.pending.append(receipt)
        if self.batch_size is not None and len(self.pending) >= self.batch_size:
            self.flush()
        return receipt

    def patients(self) -> list[str]:
        """Patients with pending receipts, in the order they were first read."""
        return list(dict.fromkeys(r.patient for r in self.pending))

    def seal(self, patient: str, root: bytes | None = None) -> SealedBatch:
        """Store ``patient``'s pending receipts on IPFS, encrypted to the patient and the
        reader; returns what to anchor (``root``: their :meth:`root`, if the caller has it).
        They stay pending until :meth:`settled`."""
        receipts = [r for r in self.pending if r.patient == patient]
        root = self.root(patient) if root is None else root
        body = json.dumps([r.to_dict() for r in receipts]).encode()
        readers = [
            self.contracts.reader_key(patient),
            (self.key_pair.suite, self.key_pair.public_key),
        ]
        added = self.ipfs.add(
            encrypt_record(body, _batch_context(self.contracts, patient, root), readers)
        )
        return SealedBatch(patient, root, added.digest, len(receipts))

    def root(self, patient: str) -> bytes:
        """The Merkle root of ``patient``'s pending receipts."""
        return merkle_root([r.leaf(self.contracts) for r in self.pending if r.patient == patient])

    def settled(self, patient: str) -> None:
        """``patient``'s batch is anchored (or handed to something that will anchor it)."""
        self.pending = [r for r in self.pending if r.patient != patient]

    def flush(self) -> list[bytes]:
        """Anchor every pending receipt: one batch per patient. Returns the roots."""
        roots = []
        for patient in self.patients():
            root = self.root(patient)
            if self.contracts.access_log.batch(self.account.address, root):
                # These very receipts are anchored already: a receipt names the second of
                # its read, so the same reader reading the same version for the same purpose
                # twice in one second (and anchoring in between) signs the same receipt.
                # The trail shows that read, anchored; a second anchor would be refused.
                self.settled(patient)
                roots.append(root)
                continue
            batch = self.seal(patient, root)
            self.contracts.access_log.anchor(
                self.account, patient, batch.root, batch.digest, batch.count
            )
            self.settled(patient)
            roots.append(batch.root)
        return roots


@dataclass(frozen=True)
class SealedBatch:
    """One patient's receipts, stored on IPFS and ready to anchor."""

    patient: str
    root: bytes
    digest: bytes
    count: int


@dataclass(frozen=True)
class TrailEntry:
    """One line of a patient's audit trail: a read whose receipt verified (``problem`` is
    empty), a read that did not verify, or — ``receipt`` None — a whole anchored batch that
    could not be fetched, opened or parsed. Problems are shown, never hidden or raised: anyone
    can anchor a batch under any patient, and junk must not hide the genuine reads."""

    receipt: AccessReceipt | None
    root: bytes
    proof: list[bytes]
    signature_valid: bool
    in_anchored_batch: bool
    reader: str = ""  # who anchored the batch (the batch is keyed by reader and root)
    batch_digest: bytes = b""
    problem: str = ""  # why this entry is not verified ("" when it is)
    anchored_at: int = 0  # set on batch-level problems (there is no read time to show)

    @property
    def verified(self) -> bool:
        """A read signed by the reader that anchored it, about this patient, proven in its
        anchored batch."""
        return self.receipt is not None and not self.problem

    @property
    def when(self) -> int:
        """The read's time, or the anchoring time of a batch that could not be read."""
        return self.receipt.read_at if self.receipt is not None else self.anchored_at


class _BatchProblem(Exception):
    """A batch that cannot be shown receipt by receipt (fetch, decrypt, parse)."""


def _open_batch(
    contracts: Contracts, ipfs: IPFSClient, patient: str, key_pair: KeyPair, batch: AnchoredBatch
) -> tuple[list[AccessReceipt], list[bytes]]:
    """The receipts of one anchored batch and their leaves, or :class:`_BatchProblem`."""
    from .crypto import decrypt_record

    try:
        envelope = ipfs.cat(batch.batch_digest)
    except IPFSUnavailableError:
        raise  # the patient's own node is down: nothing to say about this batch
    except (IPFSError, IntegrityError) as exc:
        raise _BatchProblem(f"the batch cannot be fetched from IPFS: {exc}") from exc
    try:
        body = decrypt_record(envelope, key_pair, _batch_context(contracts, patient, batch.root))
    except (DecryptionError, KeyNotFoundError) as exc:
        raise _BatchProblem(f"the batch cannot be opened (with your key): {exc}") from exc
    try:
        items = json.loads(body)
        if not isinstance(items, list) or not items:
            raise ValueError("not a non-empty list of receipts")
        receipts = [AccessReceipt.from_dict(item) for item in items]
        leaves = [r.leaf(contracts) for r in receipts]
    except Exception as exc:  # untrusted content: any failure to parse is the batch's fault
        raise _BatchProblem(
            f"the batch cannot be parsed as receipts: {type(exc).__name__}: {exc}"
        ) from exc
    return receipts, leaves


def _receipt_problem(
    contracts: Contracts, receipt: AccessReceipt, batch: AnchoredBatch, patient: str
) -> tuple[bool, str]:
    """(signed by the anchoring reader, what is wrong with this receipt or "")."""
    try:
        signer = receipt.signer(contracts)
    except Exception as exc:  # a malformed signature in untrusted content
        return False, f"its signature cannot be checked ({type(exc).__name__})"
    if signer != receipt.reader:
        return False, f"not signed by the reader it names ({receipt.reader}; signer {signer})"
    if receipt.reader != batch.reader:
        return False, (
            f"signed by {receipt.reader} but anchored by {batch.reader}: a copied receipt"
        )
    if receipt.patient.lower() != patient.lower():
        return True, f"it is about another patient ({receipt.patient})"
    return True, ""


def audit_trail(
    contracts: Contracts, ipfs: IPFSClient, patient: str, key_pair: KeyPair
) -> list[TrailEntry]:
    """Every read of ``patient``'s records anchored on-chain, oldest first: each receipt's
    signature checked against the reader that anchored its batch and its Merkle path against
    the anchored root. Whatever cannot be verified is listed with ``problem`` set instead of
    raising — a batch that cannot be fetched, decrypted or parsed (one entry for the batch), a
    batch whose receipts do not hash to its root, a receipt not signed by the anchoring
    reader, a receipt about another patient — so junk anchored by anyone under this patient
    never hides a genuine read."""
    trail = []
    for batch in contracts.access_log.batches(patient):
        try:
            receipts, leaves = _open_batch(contracts, ipfs, patient, key_pair, batch)
        except _BatchProblem as exc:
            stored = contracts.access_log.batch(batch.reader, batch.root)
            trail.append(
                TrailEntry(
                    None,
                    batch.root,
                    [],
                    False,
                    False,
                    batch.reader,
                    batch.batch_digest,
                    str(exc),
                    stored.anchored_at if stored is not None else 0,
                )
            )
            continue
        batch_problem = ""
        if merkle_root(leaves) != batch.root:
            batch_problem = "the batch's receipts do not hash to its anchored root"
        elif len(receipts) != batch.count:
            batch_problem = f"the batch holds {len(receipts)} receipts, {batch.count} anchored"
        for index, receipt in enumerate(receipts):
            proof = merkle_proof(leaves, index)
            proven = not batch_problem and verify_receipt_proof(
                receipt.digest(contracts), proof, batch.root
            )
            signed, problem = _receipt_problem(contracts, receipt, batch, patient)
            trail.append(
                TrailEntry(
                    receipt,
                    batch.root,
                    proof,
                    signed and receipt.patient.lower() == patient.lower(),
                    proven,
                    batch.reader,
                    batch.batch_digest,
                    batch_problem or problem,
                )
            )
    return sorted(trail, key=lambda e: e.when)


__all__ = [
    "AccessReceipt",
    "ReceiptBook",
    "TrailEntry",
    "audit_trail",
    "merkle_proof",
    "merkle_root",
    "receipt_leaf",
    "verify_receipt_proof",
]
