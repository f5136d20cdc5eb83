"""Keys held by others, released to a recipient only under a condition the chain shows.

Two uses (one contract, :class:`carechain.onchain.escrow.KeyEscrow`):

- **Backup and recovery** of a patient's record key: the private key is split into t-of-n
  shares, each encrypted to its holder's published key. Shares go to people the patient
  trusts (relatives, their GP, guardians). On a new device the patient's *account* (its
  Ethereum key, which is not the lost record key) opens a recovery request naming the new
  device's public key; each holder's client checks the request on-chain, re-encrypts its
  share to that key and records the release; the device verifies every share against its
  on-chain commitment, rebuilds the key from ``t`` good ones, and the patient rotates.
- **Emergency escrow**: no key of its own. Each record's *data key* is split t-of-n among
  emergency-care institutions (``EMERGENCY_ROLE``) the patient chose
  (:class:`carechain.crypto.EmergencyShares`): hospitals put the shares in every new
  record's envelope, and the patient's enrolment puts those of older records in a key
  object. While a clinician's break-glass for the patient is open, each institution's client
  re-encrypts its shares of the patient's records to that clinician and records the release;
  the clinician rebuilds each record's data key from ``t`` institutions' shares. A clinician
  thus learns the data keys of records that existed while the access was open — no key that
  opens anything anchored later, and nothing once it has closed — and one institution alone
  learns nothing.

Secret sharing is SLIP-39 (``shamir-mnemonic``, Trezor's reference implementation, over
GF(256), with a digest that catches an inconsistent set of shares); fewer than ``t`` shares
reveal nothing. Each backup share is committed on-chain as
``keccak256(abi.encode(patient, kind, epoch, index, salt, share))`` with a random 32-byte
salt that travels encrypted with the share, so a forged or swapped share is detected and
never silently combined; an emergency share is checked by what it opens (SLIP-39's digest,
then the record's AES-GCM tag), and a combination that fails is left out. Share material
never goes on-chain or to IPFS in the clear.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from .crypto import (
    EMERGENCY_ENTRY,
    SHARE_HEAD,
    EmergencyShares,
    KemSuite,
    KeyPair,
    combine_data_key,
    decode_key_object,
    encode_key_object,
    envelope_entry,
    open_emergency_share,
    open_envelope,
    open_sealed_to,
    seal_to,
)
from .errors import (
    CarechainError,
    DecryptionError,
    IntegrityError,
    IPFSError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecoveryError,
)
from .ipfs import IPFSClient
from .model import EscrowKind, EscrowView, RecordVersion
from .onchain import Contracts
from .onchain.escrow import key_commitment

log = logging.getLogger(__name__)

#: The most shares an escrow has (SLIP-39's limit, and KeyEscrow.MAX_HOLDERS).
MAX_HOLDERS = 16
#: How long a recovery request stays open unless told otherwise.
RECOVERY_TTL = 24 * 3600

_SHARES_MAGIC = b"CCS1"  # carechain shares object, format 1
_SALT = 32


# --------------------------------------------------------------------------- secret sharing


def split_secret(secret: bytes, threshold: int, count: int) -> list[str]:
    """Split ``secret`` into ``count`` SLIP-39 shares (mnemonics), any ``threshold`` of which
    rebuild it. The secret must be at least 16 bytes, of even length (every KEM's is)."""
    from shamir_mnemonic import generate_mnemonics

    _check_threshold(threshold, count)
    groups = generate_mnemonics(1, [(threshold, count)], secret, b"", iteration_exponent=0)
    return list(groups[0])


def combine_shares(shares: Sequence[str], threshold: int, passphrase: bytes = b"") -> bytes:
    """Rebuild a secret from ``threshold`` or more SLIP-39 shares of one split. Fewer raise
    :class:`RecoveryError` (they reveal nothing, so nothing can be rebuilt); an inconsistent
    set (a share of another split, or altered) raises too. carechain splits with no SLIP-39
    passphrase (each share is sealed to its holder instead); ``passphrase`` is for checking
    the SLIP's published test vectors."""
    from shamir_mnemonic import MnemonicError, combine_mnemonics

    if len(shares) < threshold:
        raise RecoveryError(
            f"{len(shares)} valid share(s), but {threshold} are needed to rebuild the key: ask "
            f"{threshold - len(shares)} more holder(s) to release theirs"
        )
    try:
        return bytes(combine_mnemonics(list(shares)[:threshold], passphrase))
    except MnemonicError as exc:
        raise RecoveryError(f"the shares do not combine: {exc}") from exc


def share_commitment(
    patient: str, kind: EscrowKind, epoch: int, index: int, salt: bytes, share: str
) -> bytes:
    """The on-chain commitment to one share (hiding: the salt is secret with the share)."""
    return bytes(
        keccak(
            abi_encode(
                ["address", "uint8", "uint32", "uint256", "bytes32", "bytes"],
                [to_checksum_address(patient), int(kind), epoch, index, salt, share.encode()],
            )
        )
    )


def _check_threshold(threshold: int, count: int) -> None:
    if not 2 <= threshold <= count <= MAX_HOLDERS:
        raise ValueError(
            f"a threshold of {threshold} with {count} holder(s): use at least 2 holders (one "
            f"holder alone must learn nothing), at most {MAX_HOLDERS}, and a threshold from 2 "
            "to the number of holders"
        )


@dataclass(frozen=True)
class HeldShare:
    """A share as its holder (or the recipient of a release) holds it, verified against its
    on-chain commitment. Never log it."""

    index: int
    salt: bytes
    share: str

    def __repr__(self) -> str:  # never show the share
        return f"HeldShare(index={self.index})"

    def payload(self) -> bytes:
        """The bytes that are encrypted: salt | share."""
        return self.salt + self.share.encode()

    @classmethod
    def from_payload(cls, index: int, payload: bytes) -> HeldShare:
        """Parse :meth:`payload` output."""
        if len(payload) <= _SALT:
            raise DecryptionError("a share payload is a 32-byte salt and a share")
        try:
            return cls(index, payload[:_SALT], payload[_SALT:].decode())
        except UnicodeDecodeError as exc:
            raise DecryptionError("a share payload's share is not text") from exc

    def matches(self, escrow: EscrowView) -> bool:
        """Whether this share is the one committed at its index of ``escrow``."""
        if not 0 <= self.index < len(escrow.commitments):
            return False
        expected = escrow.commitments[self.index]
        return (
            share_commitment(
                escrow.patient, escrow.kind, escrow.epoch, self.index, self.salt, self.share
            )
            == expected
        )


# --------------------------------------------------------------------------- formats
#
# The shares object on IPFS: "CCS1" | u8 count | count x (u8 index | 20-byte holder |
# u16 length | share sealed to the holder's key). The holder addresses are public anyway
# (the EscrowCreated event); the sealed shares reveal nothing without a holder's key.


def encode_shares_object(entries: list[tuple[int, str, bytes]]) -> bytes:
    """Serialise (index, holder, sealed share) entries."""
    parts = [_SHARES_MAGIC, struct.pack(">B", len(entries))]
    for index, holder, sealed in entries:
        parts += [
            struct.pack(">B", index),
            bytes.fromhex(holder.removeprefix("0x")),
            struct.pack(">H", len(sealed)),
            sealed,
        ]
    return b"".join(parts)


def decode_shares_object(data: bytes) -> dict[int, tuple[str, bytes]]:
    """Parse a shares object into {index: (holder, sealed share)}."""
    try:
        if not data.startswith(_SHARES_MAGIC):
            raise ValueError("bad magic")
        (count,) = struct.unpack_from(">B", data, 4)
        offset, out = 5, {}
        for _ in range(count):
            (index,) = struct.unpack_from(">B", data, offset)
            holder = to_checksum_address(data[offset + 1 : offset + 21])
            (length,) = struct.unpack_from(">H", data, offset + 21)
            sealed = data[offset + 23 : offset + 23 + length]
            if len(sealed) != length:
                raise ValueError("truncated entry")
            out[index] = (holder, sealed)
            offset += 23 + length
    except (ValueError, struct.error) as exc:
        raise DecryptionError(f"not a carechain shares object ({exc})") from exc
    return out


def _info(label: bytes, contracts: Contracts, *parts: bytes) -> bytes:
    """HPKE info: what a sealed share is for, bound to this chain, contract and use."""
    context = struct.pack(">Q", contracts.chain_id) + bytes.fromhex(
        contracts.escrow.address.removeprefix("0x")
    )
    return label + hashlib.sha256(context + b"".join(parts)).digest()


def _share_info(contracts: Contracts, escrow: EscrowView, index: int) -> bytes:
    return _info(
        b"carechain/escrow-share/v1",
        contracts,
        bytes.fromhex(escrow.patient.removeprefix("0x")),
        struct.pack(">BIB", int(escrow.kind), escrow.epoch, index),
    )


def _release_info(
    contracts: Contracts, patient: str, kind: EscrowKind, request_id: bytes, index: int
) -> bytes:
    return _info(
        b"carechain/escrow-release/v1",
        contracts,
        bytes.fromhex(patient.removeprefix("0x")),
        struct.pack(">B", int(kind)),
        request_id,
        struct.pack(">B", index),
    )


# --------------------------------------------------------------------------- set up


def _checked_holders(
    contracts: Contracts, patient: str, kind: EscrowKind, holders: Sequence[str], threshold: int
) -> tuple[list[str], list[tuple[KemSuite, bytes]]]:
    """The holders (checksummed) and their published keys, after every check the contract
    makes and more: the threshold, distinct holders who are not the patient, emergency
    holders' role, and a published key for each (else nothing can be encrypted to them)."""
    holders = [to_checksum_address(h) for h in holders]
    _check_threshold(threshold, len(holders))
    for position, holder in enumerate(holders):
        if holder == patient or holder in holders[:position]:
            raise ValueError(
                f"{holder} is listed twice or is the patient: each share needs its own holder"
            )
        if kind is EscrowKind.EMERGENCY and not contracts.registry.has_role("emergency", holder):
            raise NotAuthorizedError(
                f"{holder} is not an emergency institution (emergency role): only institutions "
                "the governor admitted may hold emergency shares"
            )
    return holders, [contracts.reader_key(h) for h in holders]  # all published, or stop here


def create_escrow(
    contracts: Contracts,
    ipfs: IPFSClient,
    patient: object,
    kind: EscrowKind,
    escrowed: KeyPair,
    holders: Sequence[str],
    threshold: int,
    keys_digest: bytes = bytes(32),
) -> EscrowView:
    """Back up ``escrowed``'s private key: split among ``holders`` (``threshold`` needed),
    each share sealed to the holder's published key, the shares object added to IPFS, and
    the escrow set up on-chain with a commitment per share; a later call is a re-share (a
    new epoch). (Emergency escrow splits data keys instead: :func:`create_emergency_escrow`.)

    Everything is checked before anything is stored; if the chain then refuses, what was
    added to IPFS is unpinned again."""
    if kind is not EscrowKind.BACKUP:
        raise ValueError("an emergency escrow has no key to split: use create_emergency_escrow")
    address = to_checksum_address(str(patient.address))  # type: ignore[attr-defined]
    holders, holder_keys = _checked_holders(contracts, address, kind, holders, threshold)
    epoch = contracts.escrow.next_epoch(address, kind)
    shares = split_secret(escrowed.private_bytes(), threshold, len(holders))
    draft = EscrowView(
        address,
        kind,
        epoch,
        threshold,
        holders,
        [],
        int(escrowed.suite),
        escrowed.public_key,
        b"",
        keys_digest,
    )
    commitments, entries = [], []
    for index, (holder, (suite, public_key), share) in enumerate(
        zip(holders, holder_keys, shares, strict=True)
    ):
        held = HeldShare(index, os.urandom(_SALT), share)
        commitments.append(share_commitment(address, kind, epoch, index, held.salt, held.share))
        sealed = seal_to(suite, public_key, held.payload(), _share_info(contracts, draft, index))
        entries.append((index, holder, sealed))
    added = ipfs.add(encode_shares_object(entries))
    try:
        contracts.escrow.create(
            patient,
            kind,
            threshold,
            holders,
            commitments,
            int(escrowed.suite),
            escrowed.public_key,
            added.digest,
        )
    except (CarechainError, ValueError):
        ipfs.unpin(added.digest)
        raise
    log.info("key backup set up: epoch %d, %d of %d", epoch, threshold, len(holders))
    view = contracts.escrow.escrow(address, kind)
    assert view is not None  # just created
    return view


def emergency_recipient(
    contracts: Contracts, patient: str, institutions: Sequence[str], threshold: int
) -> tuple[list[str], EmergencyShares]:
    """Check ``institutions`` as emergency holders of ``patient``'s data keys (admitted,
    distinct, keys published, a sound threshold) and return them with the recipient that
    splits a data key among them."""
    holders, keys = _checked_holders(
        contracts, to_checksum_address(patient), EscrowKind.EMERGENCY, institutions, threshold
    )
    return holders, EmergencyShares(threshold, tuple(keys))


def create_emergency_escrow(
    contracts: Contracts,
    patient: object,
    institutions: Sequence[str],
    threshold: int,
    keys_digest: bytes,
) -> EscrowView:
    """Enrol ``patient`` in emergency escrow on-chain: ``institutions`` hold, ``threshold``
    of them needed, shares of every record's data key; ``keys_digest`` is the key object
    with the shares of records anchored before (built with :func:`emergency_recipient`'s
    recipient). Hospitals split new records' data keys among the same institutions."""
    address = to_checksum_address(str(patient.address))  # type: ignore[attr-defined]
    holders, _ = _checked_holders(contracts, address, EscrowKind.EMERGENCY, institutions, threshold)
    contracts.escrow.create(
        patient, EscrowKind.EMERGENCY, threshold, holders, [], 0, b"", bytes(32), keys_digest
    )
    view = contracts.escrow.escrow(address, EscrowKind.EMERGENCY)
    assert view is not None  # just created
    log.info("emergency escrow set up: epoch %d, %d of %d", view.epoch, threshold, len(holders))
    return view


def require_escrow(contracts: Contracts, patient: str, kind: EscrowKind) -> EscrowView:
    """``patient``'s current escrow of ``kind``, or a clear error."""
    view = contracts.escrow.escrow(patient, kind)
    if view is None:
        if kind is EscrowKind.BACKUP:
            raise KeyNotFoundError(
                f"{patient} has no key backup: back the key up first (carechain keys backup)"
            )
        raise KeyNotFoundError(f"{patient} has no emergency escrow (never enrolled, or opted out)")
    return view


# --------------------------------------------------------------------------- holders


def held_share(
    contracts: Contracts,
    ipfs: IPFSClient,
    holder_keys: KeyPair,
    holder: str,
    escrow: EscrowView,
) -> HeldShare:
    """The share ``holder`` holds in ``escrow``, opened with its key and proven genuine
    against the on-chain commitment (:class:`IntegrityError` if it is not)."""
    holder = to_checksum_address(holder)
    if holder not in escrow.holders:
        raise NotAuthorizedError(
            f"{holder} holds no share of {escrow.patient}'s current "
            f"{escrow.kind.name.lower()} escrow (epoch {escrow.epoch})"
        )
    index = escrow.holders.index(holder)
    entries = decode_shares_object(ipfs.cat(escrow.shares_digest))
    if index not in entries or entries[index][0] != holder:
        raise IntegrityError(f"the shares object has no share {index} for {holder}")
    payload = open_sealed_to(entries[index][1], holder_keys, _share_info(contracts, escrow, index))
    share = HeldShare.from_payload(index, payload)
    if not share.matches(escrow):
        raise IntegrityError(
            f"share {index} does not match its on-chain commitment: the shares object was "
            "altered; ask the patient to re-share"
        )
    return share


def release_share(
    contracts: Contracts,
    ipfs: IPFSClient,
    holder_account: object,
    holder_keys: KeyPair,
    escrow: EscrowView,
    request_id: bytes,
    recipient_key: tuple[KemSuite, bytes],
) -> bytes:
    """Seal the holder's (verified) share to ``recipient_key`` for ``request_id``, add it to
    IPFS and record the release on-chain; returns the release's digest. The caller has
    checked that the request is open (the contract checks again)."""
    holder = str(holder_account.address)  # type: ignore[attr-defined]
    share = held_share(contracts, ipfs, holder_keys, holder, escrow)
    suite, public_key = recipient_key
    info = _release_info(contracts, escrow.patient, escrow.kind, request_id, share.index)
    added = ipfs.add(seal_to(suite, public_key, share.payload(), info))
    try:
        contracts.escrow.release(
            holder_account, escrow.patient, escrow.kind, request_id, share.index, added.digest
        )
    except (CarechainError, ValueError):
        ipfs.unpin(added.digest)
        raise
    return added.digest


# --------------------------------------------------------------------------- recipients


def rebuild_key(
    contracts: Contracts,
    ipfs: IPFSClient,
    recipient_keys: KeyPair,
    escrow: EscrowView,
    request_id: bytes,
) -> KeyPair:
    """Rebuild ``escrow``'s key pair from the shares released for ``request_id``, each
    opened with ``recipient_keys`` and checked against its commitment. A share that fails
    (forged, swapped, of another epoch, not for this recipient) is left out and reported;
    fewer than the threshold of good ones raise :class:`RecoveryError`, naming the bad
    ones."""
    good: dict[int, HeldShare] = {}
    problems: list[str] = []
    for release in contracts.escrow.releases(escrow.patient, escrow.kind, request_id):
        if release.epoch != escrow.epoch or release.index in good:
            continue
        info = _release_info(contracts, escrow.patient, escrow.kind, request_id, release.index)
        try:
            share = HeldShare.from_payload(
                release.index,
                open_sealed_to(ipfs.cat(release.release_digest), recipient_keys, info),
            )
        except (DecryptionError, IPFSError) as exc:
            problems.append(f"share {release.index} from {release.holder}: {exc}")
            continue
        if not share.matches(escrow):
            problems.append(
                f"share {release.index} from {release.holder} does not match its on-chain "
                "commitment (forged or wrong): left out"
            )
            continue
        good[release.index] = share
    for problem in problems:
        log.warning("recovery: %s", problem)
    try:
        secret = combine_shares([s.share for s in good.values()], escrow.threshold)
    except RecoveryError as exc:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise RecoveryError(f"{exc}{detail}") from exc
    try:
        rebuilt = KeyPair(KemSuite(escrow.kem_id), secret)
    except ValueError as exc:
        raise RecoveryError(f"the rebuilt secret is not a key pair ({exc})") from exc
    if key_commitment(int(rebuilt.suite), rebuilt.public_key) != key_commitment(
        escrow.kem_id, escrow.public_key
    ):
        raise RecoveryError("the rebuilt key is not the escrowed one")
    return rebuilt


def _record_release_info(
    contracts: Contracts, patient: str, access_id: bytes, record: RecordVersion, index: int
) -> bytes:
    return _info(
        b"carechain/emergency-release/v1",
        contracts,
        bytes.fromhex(patient.removeprefix("0x")),
        access_id,
        record.record_id,
        struct.pack(">IB", record.version, index),
    )


@dataclass(frozen=True)
class EmergencyRelease:
    """What an institution released for one break-glass: the release's digest on IPFS, how
    many records' shares it holds, and the records it had to leave out (with why)."""

    digest: bytes
    records: int
    left_out: list[str]


def release_emergency_shares(
    contracts: Contracts,
    ipfs: IPFSClient,
    holder_account: object,
    holder_keys: KeyPair,
    escrow: EscrowView,
    access_id: bytes,
    clinician_key: tuple[KemSuite, bytes],
) -> EmergencyRelease:
    """As an emergency institution, re-encrypt my shares of the data keys of ``escrow``'s
    patient's records (each record's latest version) to the clinician of break-glass
    ``access_id``, add them to IPFS as one key object and record the release on-chain. The
    caller has checked that the access is open (the contract checks again); releasing
    again while it is open covers records anchored since.

    Each record's share comes from the current enrolment's key object (every record anchored
    before it, split among the current institutions) or else from the record's envelope
    (anchored since). Records whose key was not split to this institution (anchored while
    the patient was not enrolled) are not in the release; a record that cannot be read (its
    content missing, or not a carechain envelope — any provider can anchor junk for any
    patient) is left out and reported, and never stops the others."""
    holder = to_checksum_address(str(holder_account.address))  # type: ignore[attr-defined]
    if holder not in escrow.holders:
        raise NotAuthorizedError(
            f"{holder} holds no share of {escrow.patient}'s records' data keys (not one of the "
            f"institutions of their emergency escrow, epoch {escrow.epoch})"
        )
    index = escrow.holders.index(holder)
    older = decode_key_object(ipfs.cat(escrow.keys_digest))
    suite, public_key = clinician_key
    entries, left_out = [], []
    for record in contracts.registry.records_of(escrow.patient):
        context = contracts.record_context(escrow.patient, record.record_id, record.version)
        try:
            wrapped = older.get((record.record_id, record.version))
            if wrapped is None:
                wrapped = envelope_entry(ipfs.cat(record.cid_digest), EMERGENCY_ENTRY)
            if wrapped is None:
                continue  # anchored while the patient was not enrolled
            share = open_emergency_share(wrapped, holder_keys, context)
        except KeyNotFoundError:
            continue  # split among other institutions (an earlier enrolment)
        except CarechainError as exc:
            left_out.append(f"record 0x{record.record_id.hex()}: {exc}")
            continue
        info = _record_release_info(contracts, escrow.patient, access_id, record, index)
        entries.append((record.record_id, record.version, seal_to(suite, public_key, share, info)))
    for problem in left_out:
        log.warning("emergency release: left out %s", problem)
    added = ipfs.add(encode_key_object(entries))
    try:
        contracts.escrow.release(
            holder_account, escrow.patient, EscrowKind.EMERGENCY, access_id, index, added.digest
        )
    except (CarechainError, ValueError):
        ipfs.unpin(added.digest)
        raise
    log.info("emergency shares released: %d record(s), share %d", len(entries), index)
    return EmergencyRelease(added.digest, len(entries), left_out)


def emergency_data_key(
    contracts: Contracts,
    ipfs: IPFSClient,
    clinician_keys: KeyPair,
    access_id: bytes,
    record: RecordVersion,
    envelope: bytes,
) -> bytes:
    """A record version's data key for the clinician of break-glass ``access_id``, rebuilt
    from the shares emergency institutions released to them for it. Shares are grouped by
    the split they name (a re-enrolment splits a record again), and each combination of a
    split's threshold is checked by what it opens (SLIP-39's digest, then the record's
    AES-GCM tag): a forged or altered share is left out and named, never trusted. Too few
    good shares raise :class:`RecoveryError` saying how many more institutions must
    release."""
    patient = record.patient
    context = contracts.record_context(patient, record.record_id, record.version)
    shares: dict[str, bytes] = {}  # institution -> its share of this record
    problems: list[str] = []
    for release in contracts.escrow.releases(patient, EscrowKind.EMERGENCY, access_id):
        if release.holder in shares:
            continue  # an earlier release of this institution already held it
        try:
            sealed = decode_key_object(ipfs.cat(release.release_digest)).get(
                (record.record_id, record.version)
            )
            if sealed is None:
                continue  # that release holds no share of this record version
            info = _record_release_info(contracts, patient, access_id, record, release.index)
            share = open_sealed_to(sealed, clinician_keys, info)
        except (DecryptionError, IPFSError, IntegrityError) as exc:
            problems.append(f"the release of {release.holder}: {exc}")
            continue
        if len(share) <= SHARE_HEAD.size:
            problems.append(f"the share of {release.holder} is too short")
            continue
        shares[release.holder] = share
    splits: dict[tuple[int, int], list[tuple[str, bytes]]] = {}
    for holder, share in shares.items():
        identifier, _, threshold = SHARE_HEAD.unpack_from(share)
        splits.setdefault((identifier, threshold), []).append((holder, share))
    needed = None
    for (_, threshold), members in sorted(splits.items(), key=lambda item: -len(item[1])):
        if threshold < 2:
            problems.append(
                f"the share of {', '.join(h for h, _ in members)} claims a threshold of "
                f"{threshold} (forged: carechain splits 2 or more)"
            )
            continue
        if len(members) < threshold:
            needed = (
                threshold - len(members)
                if needed is None
                else min(needed, threshold - len(members))
            )
            continue
        for combination in itertools.combinations(members, threshold):
            try:
                data_key = combine_data_key([share for _, share in combination])
                open_envelope(envelope, data_key, context)
            except DecryptionError as exc:
                names = ", ".join(holder for holder, _ in combination)
                problems.append(f"the shares of {names} do not open the record ({exc})")
                continue
            strays = [h for h in shares if h not in dict(combination)]
            if strays:
                problems.append(
                    f"the shares of {', '.join(strays)} are not of the split that opened it "
                    "(forged, or released by an institution of an earlier enrolment)"
                )
            _report(problems, f"record 0x{record.record_id.hex()}")
            return data_key
    if len(splits) > 1:
        problems.append(
            f"the {len(shares)} shares belong to {len(splits)} different splits (one is forged, "
            "or an institution released from an earlier enrolment): "
            + "; ".join(", ".join(h for h, _ in members) for members in splits.values())
        )
    _report(problems, f"record 0x{record.record_id.hex()}")
    detail = f" ({'; '.join(problems)})" if problems else ""
    where = f"record 0x{record.record_id.hex()} version {record.version}"
    if needed is not None or not shares:
        more = needed if needed is not None else 2
        raise RecoveryError(
            f"{len(shares)} emergency institution(s) released a share of {where} for this "
            f"access; {more} more must release theirs (carechain emergency release — again, if "
            f"the record was anchored after their release){detail}"
        )
    raise RecoveryError(
        f"no combination of the {len(shares)} released shares opens {where}: a released "
        f"share is forged or altered; ask another institution to release{detail}"
    )


def _report(problems: list[str], what: str) -> None:
    """Name every failed share, also when the record opened anyway (a lying institution
    must be visible whether or not it got in the way)."""
    for problem in problems:
        log.warning("emergency read of %s: %s", what, problem)


__all__ = [
    "MAX_HOLDERS",
    "RECOVERY_TTL",
    "EmergencyRelease",
    "HeldShare",
    "combine_shares",
    "create_emergency_escrow",
    "create_escrow",
    "emergency_data_key",
    "emergency_recipient",
    "held_share",
    "rebuild_key",
    "release_emergency_shares",
    "release_share",
    "require_escrow",
    "share_commitment",
    "split_secret",
]
