"""Consent that controls decryption: who may read a record, and the key objects that let
them.

- **Key sharing.** Granting wraps the data key of every record version in scope to the
  grantee's published key and publishes that *key object* on IPFS; its digest goes into the
  grant. Records anchored later inside an active grant's scope are encrypted to the grantee
  directly by the authoring hospital, so the patient does nothing more.
- **Revocation** ends on-chain permission at once: the SDK refuses reads, and hospitals stop
  wrapping new versions to the revoked party. It cannot make anyone forget what they already
  decrypted; re-keying (a new version under a new data key) protects the future.

The read audit trail (access receipts, their Merkle batches, ``audit_trail``) is in
:mod:`carechain.receipts`.
"""

from __future__ import annotations

import functools

from .crypto import (
    EmergencyShares,
    KeyPair,
    Recipient,
    decode_key_object,
    encode_key_object,
    envelope_data_key,
    unwrap_key,
    wrap_key,
)
from .errors import CarechainError, KeyNotFoundError
from .ipfs import IPFSClient
from .model import ConsentRecord, Purpose, RecordHead, Scope
from .onchain import Contracts

# --------------------------------------------------------------------------- who may read


def _decides(
    consents: list[ConsentRecord], grantee: str, scope: Scope, purpose: Purpose
) -> bool | None:
    for consent in consents:
        if (
            consent.active
            and consent.grantee == grantee
            and consent.purpose == purpose
            and consent.scope == scope
        ):
            return not consent.deny
    return None


def permitted_readers(
    consents: list[ConsentRecord], record_id: bytes | None, category: int
) -> set[str]:
    """Grantees that may read a record (id and category) under the patient's consents, by
    the contract's rule: the most specific active consent decides, per grantee and purpose.
    ``record_id`` is None for a record that does not exist yet."""
    readers = set()
    candidates = {(c.grantee, c.purpose) for c in consents if c.active and not c.deny}
    for grantee, purpose in candidates:
        scopes = [Scope.category(category), Scope.all()]
        if record_id is not None:
            scopes.insert(0, Scope.record(record_id))
        for scope in scopes:
            verdict = _decides(consents, grantee, scope, purpose)
            if verdict is not None:
                if verdict:
                    readers.add(grantee)
                break
    return readers


# --------------------------------------------------------------------------- key objects


def build_key_object(
    contracts: Contracts,
    ipfs: IPFSClient,
    owner_keys: KeyPair,
    heads: list[RecordHead],
    grantee_key: Recipient,
    skipped: list[str] | None = None,
) -> bytes:
    """Wrap every version's data key of ``heads`` to the grantee (or split it among
    emergency institutions); returns the object bytes.

    ``owner_keys`` must open the records (the patient's or the author's key pair). A version
    that cannot be fetched or opened raises — unless ``skipped`` is given: it is then left
    out and described there (for an emergency enrolment, which a junk record anchored by
    some provider must not block).
    """
    entries = []
    for head in heads:
        for version in contracts.registry.versions(head.record_id):
            context = contracts.record_context(head.patient, head.record_id, version.version)
            try:
                envelope = ipfs.cat(version.cid_digest)
                data_key = own_data_key(
                    contracts, ipfs, owner_keys, head, version.version, envelope
                )
            except CarechainError as exc:
                if skipped is None:
                    raise
                skipped.append(f"record 0x{head.record_id.hex()} v{version.version}: {exc}")
                continue
            if isinstance(grantee_key, EmergencyShares):
                wrapped = grantee_key.wrap(data_key, context)
            else:
                wrapped = wrap_key(data_key, *grantee_key, context)
            entries.append((head.record_id, version.version, wrapped))
    return encode_key_object(entries)


def own_data_key(
    contracts: Contracts,
    ipfs: IPFSClient,
    owner_keys: KeyPair,
    head: RecordHead,
    version: int,
    envelope: bytes,
) -> bytes:
    """The data key of a record version for its patient or author: wrapped in the envelope,
    or — for a patient who rotated their key (after a recovery) — in the key object of data
    keys they re-wrapped to their new key (``KeyEscrow.rewrapOf``)."""
    context = contracts.record_context(head.patient, head.record_id, version)
    try:
        return envelope_data_key(envelope, owner_keys, context)
    except KeyNotFoundError:
        if not contracts.has_escrow:
            raise
        digest = contracts.escrow.rewrap_of(head.patient)
        if digest == bytes(32):
            raise
        wrapped = decode_key_object(ipfs.cat(digest)).get((head.record_id, version))
        if wrapped is None:
            raise
        return unwrap_key(wrapped, owner_keys, context)


def shared_data_key(
    contracts: Contracts,
    ipfs: IPFSClient,
    reader_keys: KeyPair,
    reader: str,
    head: RecordHead,
    version: int,
    envelope: bytes,
) -> bytes:
    """The data key of a record version for a consented reader: wrapped in the envelope
    (records anchored while the grant was active) or in a grant's key object."""
    context = contracts.record_context(head.patient, head.record_id, version)
    try:
        return envelope_data_key(envelope, reader_keys, context)
    except KeyNotFoundError:
        pass
    for consent in contracts.consent.consents(patient=head.patient, grantee=reader):
        if not consent.active or consent.deny or consent.keys_digest == bytes(32):
            continue
        wrapped = _key_object(ipfs, consent.keys_digest).get((head.record_id, version))
        if wrapped is not None:
            return unwrap_key(wrapped, reader_keys, context)
    raise KeyNotFoundError(
        f"you have consent for record 0x{head.record_id.hex()} but no key for version {version}: "
        "ask the patient to share keys again (grant with key sharing), or the author to re-key"
    )


@functools.lru_cache(maxsize=32)
def _key_object(ipfs: IPFSClient, digest: bytes) -> dict[tuple[bytes, int], bytes]:
    """A grant's key object, fetched (checked against its digest) and parsed once: it is
    addressed by its content, so what a digest names never changes, and a reader that opens
    many records under one grant (an insurer reviewing claims) parses it once, not once per
    record. It holds data keys wrapped to the grantee only, never a key in the clear."""
    return decode_key_object(ipfs.cat(digest))


__all__ = [
    "build_key_object",
    "own_data_key",
    "permitted_readers",
    "shared_data_key",
]
