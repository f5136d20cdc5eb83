"""The record paths every role shares: seal-and-store before anchoring, fetch-verify-open
after. Role clients (:mod:`hospital`, :mod:`patient`) compose these; they never talk to
IPFS or the crypto layer any other way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chain import Contracts, PendingAnchor, RecordHead, RecordVersion
from .crypto import KemSuite, KeyPair, RecordContext, decrypt_record, encrypt_record
from .errors import KeyNotFoundError
from .fhir import Category, canonical_bytes, category_for, parse_resource
from .ipfs import AddedContent, IPFSClient


@dataclass(frozen=True)
class RecordRef:
    """A record version a provider anchored: what to keep to find it again."""

    record_id: bytes
    version: int
    patient: str
    category: Category
    cid: str
    digest: bytes
    transaction: str
    gas_used: int

    @property
    def record_id_hex(self) -> str:
        """The record id as 0x-prefixed hex."""
        return "0x" + self.record_id.hex()


@dataclass(frozen=True)
class DecryptedRecord:
    """A record version fetched from IPFS, verified against the chain, and decrypted."""

    head: RecordHead
    version: RecordVersion
    resource: dict[str, Any]

    @property
    def retracted(self) -> bool:
        """Whether the author marked the record entered-in-error."""
        return self.head.retracted


def record_context(
    contracts: Contracts, patient: str, record_id: bytes, version: int
) -> RecordContext:
    """The context a record version's ciphertext is bound to."""
    return RecordContext(
        chain_id=contracts.chain_id,
        registry=contracts.registry.address,
        patient=patient,
        record_id=record_id,
        version=version,
    )


def reader_key(contracts: Contracts, party: str) -> tuple[KemSuite, bytes]:
    """The key to wrap data keys to for ``party``: the post-quantum hybrid if published."""
    for suite in (KemSuite.MLKEM768_X25519, KemSuite.X25519):
        try:
            return suite, contracts.keys.public_key(party, suite)
        except KeyNotFoundError:
            continue
    raise KeyNotFoundError(
        f"{party} has not published an encryption key, so nothing can be encrypted to them; "
        "they must publish one first (Patient.publish_key / carechain keys publish)"
    )


def seal_and_store(
    contracts: Contracts,
    ipfs: IPFSClient,
    resource: dict[str, Any],
    patient: str,
    record_id: bytes,
    version: int,
    readers: list[tuple[KemSuite, bytes]],
    category: Category | None = None,
) -> tuple[PendingAnchor, AddedContent]:
    """Validate, encrypt to ``readers``, add and pin on IPFS: ready to anchor."""
    plaintext = canonical_bytes(resource)
    context = record_context(contracts, patient, record_id, version)
    envelope = encrypt_record(plaintext, context, readers)
    added = ipfs.add(envelope, pin=True)
    pending = PendingAnchor(
        record_id=record_id,
        patient=patient,
        category=category if category is not None else category_for(resource),
        cid_digest=added.digest,
    )
    return pending, added


def fetch_and_open(
    contracts: Contracts,
    ipfs: IPFSClient,
    key_pair: KeyPair,
    record_id: bytes,
    version: int | None = None,
) -> DecryptedRecord:
    """Read a record version: chain → IPFS (verified against the digest) → decrypt → FHIR."""
    head = contracts.registry.head(record_id)
    anchored = contracts.registry.version(record_id, version)
    envelope = ipfs.cat(anchored.cid_digest)
    context = record_context(contracts, head.patient, record_id, anchored.version)
    plaintext = decrypt_record(envelope, key_pair, context)
    return DecryptedRecord(head=head, version=anchored, resource=parse_resource(plaintext))


class Party:
    """What every role client has: an account that signs, the contracts, an IPFS client,
    and the key pair that opens what was encrypted to this party."""

    def __init__(
        self, account: Any, contracts: Contracts, ipfs: IPFSClient, key_pair: KeyPair
    ) -> None:
        self.account = account
        self.address = str(account.address)
        self.contracts = contracts
        self.ipfs = ipfs
        self.key_pair = key_pair

    def publish_key(self) -> Any:
        """Publish this party's encryption key so others can encrypt to it."""
        pair = self.key_pair
        return self.contracts.keys.publish(self.account, pair.suite, pair.public_key)

    def read_record(self, record_id: bytes, version: int | None = None) -> DecryptedRecord:
        """Fetch a record version, verify it against the chain, and decrypt it with this
        party's key (the latest version by default)."""
        return fetch_and_open(self.contracts, self.ipfs, self.key_pair, record_id, version)
