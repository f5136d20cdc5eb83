"""Envelope encryption of records, and HPKE key wrapping to each reader.

Every record version gets a fresh random 256-bit data key. The FHIR JSON is sealed with
AES-256-GCM, and the associated data binds the chain id, the registry address, the patient,
the record id and the version, so a ciphertext cannot be replayed as another record, for
another patient, or on another deployment. The data key is wrapped to each reader's public
key with HPKE (RFC 9180): DHKEM(X25519) by default, or the post-quantum hybrid
ML-KEM-768 + X25519 for records that must stay secret for decades.
"""

from __future__ import annotations

import enum
import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError, KeyNotFoundError

_MAGIC = b"CCR1"  # carechain record, format 1
_NONCE_SIZE = 12
_KEY_SIZE = 32


class KemSuite(enum.IntEnum):
    """HPKE KEMs carechain supports; the values are the RFC 9180 / draft KEM ids."""

    X25519 = 0x0020
    MLKEM768_X25519 = 0x647A

    @property
    def public_key_size(self) -> int:
        """Length of a raw public key for this KEM."""
        return 32 if self is KemSuite.X25519 else 1184 + 32

    def _suite(self) -> hpke.Suite:
        kem = hpke.KEM.X25519 if self is KemSuite.X25519 else hpke.KEM.MLKEM768_X25519
        return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class RecordContext:
    """What a ciphertext is bound to; any difference makes decryption fail."""

    chain_id: int
    registry: str
    patient: str
    record_id: bytes
    version: int

    def associated_data(self) -> bytes:
        """The canonical bytes of this context, used as AES-GCM associated data."""
        if len(self.record_id) != 32:
            raise ValueError("record ids are 32 bytes")
        return b"".join(
            [
                b"carechain/record/v1",
                struct.pack(">Q", self.chain_id),
                bytes.fromhex(self.registry.removeprefix("0x").lower()),
                bytes.fromhex(self.patient.removeprefix("0x").lower()),
                self.record_id,
                struct.pack(">I", self.version),
            ]
        )


class KeyPair:
    """A party's HPKE key pair. The private part never leaves this object except through
    :meth:`private_bytes`, for the caller's own key storage."""

    def __init__(self, suite: KemSuite, private_bytes: bytes) -> None:
        self.suite = suite
        self._secret = private_bytes
        if suite is KemSuite.X25519:
            if len(private_bytes) != 32:
                raise ValueError("an X25519 private key is 32 bytes")
            self._private: object = x25519.X25519PrivateKey.from_private_bytes(private_bytes)
            self._public_bytes = self._private.public_key().public_bytes_raw()  # type: ignore[attr-defined]
        else:
            if len(private_bytes) != 64 + 32:
                raise ValueError("an ML-KEM-768+X25519 private key is 96 bytes (seed + X25519)")
            pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(private_bytes[:64])
            classic = x25519.X25519PrivateKey.from_private_bytes(private_bytes[64:])
            self._private = hpke.MLKEM768X25519PrivateKey(pq, classic)
            self._public_bytes = (
                pq.public_key().public_bytes_raw() + classic.public_key().public_bytes_raw()
            )

    @classmethod
    def generate(cls, suite: KemSuite = KemSuite.X25519) -> KeyPair:
        """A fresh random key pair."""
        size = 32 if suite is KemSuite.X25519 else 96
        return cls(suite, os.urandom(size))

    @property
    def public_key(self) -> bytes:
        """The raw public key, as published in the KeyDirectory."""
        return self._public_bytes

    def private_bytes(self) -> bytes:
        """The raw private key, for the owner's key store. Never log or publish it."""
        return self._secret

    def __repr__(self) -> str:  # never show the secret
        return f"KeyPair({self.suite.name}, public={self._public_bytes[:6].hex()}...)"


def _public_key_object(suite: KemSuite, public_key: bytes) -> object:
    if len(public_key) != suite.public_key_size:
        raise ValueError(
            f"a {suite.name} public key is {suite.public_key_size} bytes, got {len(public_key)}"
        )
    if suite is KemSuite.X25519:
        return x25519.X25519PublicKey.from_public_bytes(public_key)
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(public_key[:1184]),
        x25519.X25519PublicKey.from_public_bytes(public_key[1184:]),
    )


def _wrap_info(context: RecordContext) -> bytes:
    return b"carechain/key-wrap/v1" + hashlib.sha256(context.associated_data()).digest()


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def seal(plaintext: bytes, data_key: bytes, context: RecordContext) -> bytes:
    """Encrypt a record with its data key; the output is what goes to IPFS."""
    nonce = os.urandom(_NONCE_SIZE)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, context.associated_data())
    return _MAGIC + nonce + sealed


def open_sealed(ciphertext: bytes, data_key: bytes, context: RecordContext) -> bytes:
    """Decrypt a record; tampered bytes, a wrong key or a wrong context raise."""
    if len(ciphertext) < len(_MAGIC) + _NONCE_SIZE + 16 or not ciphertext.startswith(_MAGIC):
        raise DecryptionError("this is not a carechain record ciphertext (bad header or too short)")
    if len(data_key) != _KEY_SIZE:
        raise DecryptionError("a data key is 32 bytes")
    nonce = ciphertext[len(_MAGIC) : len(_MAGIC) + _NONCE_SIZE]
    try:
        return AESGCM(data_key).decrypt(
            nonce, ciphertext[len(_MAGIC) + _NONCE_SIZE :], context.associated_data()
        )
    except InvalidTag as exc:
        raise DecryptionError(
            "record failed authentication: the ciphertext was altered, the data key is wrong, "
            "or it belongs to another record, version, patient or deployment"
        ) from exc


def seal_to(suite: KemSuite, public_key: bytes, plaintext: bytes, info: bytes) -> bytes:
    """Encrypt a small secret to a public key (HPKE base mode; ``info`` says what it is for
    and binds it there). The output names its KEM: u16 KEM id | HPKE encapsulation+ciphertext.
    """
    recipient = _public_key_object(suite, public_key)
    sealed = suite._suite().encrypt(plaintext, recipient, info=info)  # type: ignore[arg-type]
    return struct.pack(">H", suite) + sealed


def open_sealed_to(sealed: bytes, key_pair: KeyPair, info: bytes) -> bytes:
    """Open what :func:`seal_to` encrypted to ``key_pair`` with the same ``info``; a wrong key,
    a wrong ``info`` or altered bytes raise :class:`DecryptionError`."""
    _check_kem(sealed, key_pair, "this was encrypted")
    try:
        return key_pair.suite._suite().decrypt(
            sealed[2:],
            key_pair._private,  # type: ignore[arg-type]
            info=info,
        )
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(
            "cannot open it: it was not encrypted to this key pair, or for this purpose"
        ) from exc


def _check_kem(sealed: bytes, key_pair: KeyPair, what: str) -> None:
    if len(sealed) < 2:
        raise DecryptionError("wrapped key is truncated")
    (kem_id,) = struct.unpack(">H", sealed[:2])
    if kem_id != key_pair.suite:
        raise DecryptionError(
            f"{what} for KEM 0x{kem_id:04x}, but the key pair is {key_pair.suite.name}"
        )


def wrap_key(data_key: bytes, suite: KemSuite, public_key: bytes, context: RecordContext) -> bytes:
    """Wrap a data key to a reader's public key (HPKE base mode, info bound to context)."""
    return seal_to(suite, public_key, data_key, _wrap_info(context))


def unwrap_key(wrapped: bytes, key_pair: KeyPair, context: RecordContext) -> bytes:
    """Recover a data key wrapped to ``key_pair``; a wrong key or context raises."""
    _check_kem(wrapped, key_pair, "this key was wrapped")
    try:
        return open_sealed_to(wrapped, key_pair, _wrap_info(context))
    except DecryptionError as exc:
        raise DecryptionError(
            "cannot unwrap the data key: it was not wrapped to this key pair, or for this record"
        ) from exc


# --------------------------------------------------------------------------- envelopes
#
# What goes to IPFS for one record version:
#   "CCE1" | u16 count | count x (32-byte key fingerprint | u16 length | wrapped key)
#   | sealed record ("CCR1" | nonce | AES-GCM ciphertext+tag)
# The wrapped keys are not secret; the fingerprint lets a reader find its own entry.

_ENVELOPE_MAGIC = b"CCE1"


def key_fingerprint(public_key: bytes) -> bytes:
    """A 32-byte identifier of a public key (sha256), as used in envelopes."""
    return hashlib.sha256(public_key).digest()


def encrypt_record(
    plaintext: bytes,
    context: RecordContext,
    recipients: list[Recipient],
) -> bytes:
    """Seal ``plaintext`` under a fresh data key wrapped to every recipient's public key
    (an :class:`EmergencyShares` recipient gets the data key split among its holders)."""
    if not recipients:
        raise ValueError("a record needs at least one recipient (the patient)")
    data_key = new_data_key()
    parts = [_ENVELOPE_MAGIC, struct.pack(">H", len(recipients))]
    for recipient in recipients:
        if isinstance(recipient, EmergencyShares):
            fingerprint, wrapped = EMERGENCY_ENTRY, recipient.wrap(data_key, context)
        else:
            suite, public_key = recipient
            fingerprint, wrapped = (
                key_fingerprint(public_key),
                wrap_key(data_key, suite, public_key, context),
            )
        parts += [fingerprint, struct.pack(">H", len(wrapped)), wrapped]
    parts.append(seal(plaintext, data_key, context))
    return b"".join(parts)


def _parse_envelope(envelope: bytes) -> tuple[dict[bytes, bytes], bytes]:
    try:
        if not envelope.startswith(_ENVELOPE_MAGIC):
            raise ValueError("bad magic")
        (count,) = struct.unpack_from(">H", envelope, 4)
        offset = 6
        keys: dict[bytes, bytes] = {}
        for _ in range(count):
            fingerprint = envelope[offset : offset + 32]
            (length,) = struct.unpack_from(">H", envelope, offset + 32)
            offset += 34
            wrapped = envelope[offset : offset + length]
            if len(fingerprint) != 32 or len(wrapped) != length:
                raise ValueError("truncated key entry")
            keys[fingerprint] = wrapped
            offset += length
    except (ValueError, struct.error) as exc:
        raise DecryptionError(f"not a carechain record envelope ({exc})") from exc
    return keys, envelope[offset:]


def envelope_entry(envelope: bytes, fingerprint: bytes) -> bytes | None:
    """The wrapped entry an envelope keeps under ``fingerprint`` (None if it has none)."""
    return _parse_envelope(envelope)[0].get(fingerprint)


def envelope_readers(envelope: bytes) -> set[bytes]:
    """Fingerprints of the keys an envelope's data key is wrapped to."""
    return set(_parse_envelope(envelope)[0])


def envelope_data_key(envelope: bytes, key_pair: KeyPair, context: RecordContext) -> bytes:
    """The data key of an envelope, unwrapped with the reader's key pair."""
    keys, _ = _parse_envelope(envelope)
    wrapped = keys.get(key_fingerprint(key_pair.public_key))
    if wrapped is None:
        raise KeyNotFoundError(
            "this record's data key is not wrapped to your key: ask the patient for access "
            "(or check that you loaded the right key pair)"
        )
    return unwrap_key(wrapped, key_pair, context)


def open_envelope(envelope: bytes, data_key: bytes, context: RecordContext) -> bytes:
    """Decrypt an envelope's record with its data key (however the key was obtained)."""
    return open_sealed(_parse_envelope(envelope)[1], data_key, context)


def decrypt_record(envelope: bytes, key_pair: KeyPair, context: RecordContext) -> bytes:
    """Open an envelope with the reader's key pair; raises if it is not for this reader."""
    return open_envelope(envelope, envelope_data_key(envelope, key_pair, context), context)


# --------------------------------------------------------------------------- key objects
#
# What a grant publishes on IPFS: the data keys of the records in its scope, each wrapped
# to the grantee's public key (HPKE, info bound to that record version's context):
#   "CCK1" | u16 count | count x (record id 32 | u32 version | u16 length | wrapped key)

_KEYS_MAGIC = b"CCK1"


def encode_key_object(entries: list[tuple[bytes, int, bytes]]) -> bytes:
    """Serialise (record id, version, wrapped data key) entries."""
    parts = [_KEYS_MAGIC, struct.pack(">H", len(entries))]
    for record_id, version, wrapped in entries:
        parts += [record_id, struct.pack(">IH", version, len(wrapped)), wrapped]
    return b"".join(parts)


def decode_key_object(data: bytes) -> dict[tuple[bytes, int], bytes]:
    """Parse a key object into {(record id, version): wrapped data key}."""
    try:
        if not data.startswith(_KEYS_MAGIC):
            raise ValueError("bad magic")
        (count,) = struct.unpack_from(">H", data, 4)
        offset, out = 6, {}
        for _ in range(count):
            record_id = data[offset : offset + 32]
            version, length = struct.unpack_from(">IH", data, offset + 32)
            offset += 38
            wrapped = data[offset : offset + length]
            if len(record_id) != 32 or len(wrapped) != length:
                raise ValueError("truncated entry")
            out[(record_id, version)] = wrapped
            offset += length
    except (ValueError, struct.error) as exc:
        raise DecryptionError(f"not a carechain key object ({exc})") from exc
    return out


# --------------------------------------------------------------------------- emergency shares
#
# A record of a patient enrolled in emergency escrow has its data key split t-of-n among
# emergency institutions (SLIP-39, the same maintained implementation as key backups), each
# share sealed to its institution's published key. The envelope keeps them as one entry under
# EMERGENCY_ENTRY, itself in the envelope's entry format with no record after it:
#   "CCE1" | u16 n | n x (fingerprint of the institution's key | u16 length | sealed share)
# An institution opens only its own share, and only a threshold of shares rebuilds that one
# record's data key: nothing here opens any other record.

#: The envelope entry holding a record's emergency shares.
EMERGENCY_ENTRY = hashlib.sha256(b"carechain/emergency-shares/v1").digest()


def _emergency_info(context: RecordContext) -> bytes:
    return b"carechain/emergency-share/v1" + hashlib.sha256(context.associated_data()).digest()


#: A data-key share's head: SLIP-39 identifier, member index, member threshold.
SHARE_HEAD = struct.Struct(">HBB")


def split_data_key(data_key: bytes, threshold: int, count: int) -> list[bytes]:
    """Split a (random) data key into ``count`` SLIP-39 shares, ``threshold`` of which rebuild
    it (the maintained implementation key backups use). A data key is already uniformly
    random, so SLIP-39's passphrase encryption (PBKDF2, milliseconds a share) is skipped:
    the key is split as an "encrypted master secret" (``split_ems``, the library's public
    API for a secret encrypted beforehand). A share is kept in binary (identifier, index,
    threshold, value; one group, as carechain always splits) rather than as 33 words, whose
    checksum costs more than the split; :func:`combine_data_key` turns it back into a
    mnemonic, checksum and all."""
    from shamir_mnemonic import EncryptedMasterSecret, split_ems

    identifier = int.from_bytes(os.urandom(2), "big") & 0x7FFF  # SLIP-39 ids are 15 bits
    ems = EncryptedMasterSecret(identifier, True, 0, data_key)
    return [
        SHARE_HEAD.pack(share.identifier, share.index, share.member_threshold) + share.value
        for share in split_ems(1, [(threshold, count)], ems)[0]
    ]


def combine_data_key(shares: list[bytes]) -> bytes:
    """Rebuild a data key from shares :func:`split_data_key` made; too few, or shares that do
    not belong together (one altered, or of another split), raise :class:`DecryptionError`."""
    from shamir_mnemonic import MnemonicError, Share, decode_mnemonics, recover_ems

    try:
        mnemonics = []
        for share in shares:
            if len(share) <= SHARE_HEAD.size:
                raise MnemonicError("a share is too short")
            identifier, index, threshold = SHARE_HEAD.unpack_from(share)
            value = share[SHARE_HEAD.size :]
            mnemonics.append(
                Share(identifier, True, 0, 0, 1, 1, index, threshold, value).mnemonic()
            )
        return bytes(recover_ems(decode_mnemonics(mnemonics)).ciphertext)
    except (MnemonicError, ValueError) as exc:
        raise DecryptionError(f"the emergency shares do not combine: {exc}") from exc


@dataclass(frozen=True)
class EmergencyShares:
    """A recipient of :func:`encrypt_record` that is not one key: emergency institutions,
    ``threshold`` of which together rebuild the record's data key."""

    threshold: int
    holders: tuple[tuple[KemSuite, bytes], ...]

    def wrap(self, data_key: bytes, context: RecordContext) -> bytes:
        """``data_key`` split among the holders, each share sealed to its holder."""
        shares = split_data_key(data_key, self.threshold, len(self.holders))
        info = _emergency_info(context)
        parts = [_ENVELOPE_MAGIC, struct.pack(">H", len(shares))]
        for (suite, public_key), share in zip(self.holders, shares, strict=True):
            sealed = seal_to(suite, public_key, share, info)
            parts += [key_fingerprint(public_key), struct.pack(">H", len(sealed)), sealed]
        return b"".join(parts)


def open_emergency_share(wrapped: bytes, key_pair: KeyPair, context: RecordContext) -> bytes:
    """An institution's share of a record's data key, from the record's emergency entry
    (:meth:`EmergencyShares.wrap`) with the institution's key pair."""
    entries, _ = _parse_envelope(wrapped)
    sealed = entries.get(key_fingerprint(key_pair.public_key))
    if sealed is None:
        raise KeyNotFoundError(
            "this record's data key was not split to your key (you were not one of the "
            "patient's emergency institutions when it was anchored)"
        )
    return open_sealed_to(sealed, key_pair, _emergency_info(context))


#: Whom a record is encrypted to: one reader's (KEM, public key), or emergency institutions.
Recipient = tuple[KemSuite, bytes] | EmergencyShares
