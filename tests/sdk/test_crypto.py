"""Envelope encryption: round trips for both HPKE suites, and every way it must fail."""

import dataclasses
import os

import pytest

from carechain import DecryptionError, KemSuite, KeyNotFoundError, KeyPair
from carechain.crypto import (
    RecordContext,
    decrypt_record,
    encrypt_record,
    envelope_readers,
    key_fingerprint,
    new_data_key,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)

RECORD = b'{"resourceType":"Observation","status":"final"}'


@pytest.fixture
def context():
    return RecordContext(
        chain_id=31337,
        registry="0x" + "ab" * 20,
        patient="0x" + "cd" * 20,
        record_id=os.urandom(32),
        version=1,
    )


@pytest.mark.parametrize("suite", list(KemSuite))
def test_round_trip_for_each_suite(suite, context):
    """What the patient's key pair opens is exactly what was sealed."""
    reader = KeyPair.generate(suite)
    envelope = encrypt_record(RECORD, context, [(suite, reader.public_key)])
    assert RECORD not in envelope
    assert decrypt_record(envelope, reader, context) == RECORD


def test_every_recipient_can_open_and_nobody_else(context):
    """A record wrapped to a patient (post-quantum) and a hospital (X25519) opens for both."""
    patient = KeyPair.generate(KemSuite.MLKEM768_X25519)
    hospital = KeyPair.generate()
    envelope = encrypt_record(
        RECORD, context, [(p.suite, p.public_key) for p in (patient, hospital)]
    )
    assert envelope_readers(envelope) == {
        key_fingerprint(patient.public_key),
        key_fingerprint(hospital.public_key),
    }
    assert decrypt_record(envelope, patient, context) == RECORD
    assert decrypt_record(envelope, hospital, context) == RECORD
    with pytest.raises(KeyNotFoundError, match="ask the patient for access"):
        decrypt_record(envelope, KeyPair.generate(), context)


@pytest.mark.parametrize("suite", list(KemSuite))
def test_wrong_key_cannot_unwrap(suite, context):
    """A data key wrapped to one key pair does not unwrap with another of the same suite."""
    wrapped = wrap_key(new_data_key(), suite, KeyPair.generate(suite).public_key, context)
    with pytest.raises(DecryptionError, match="not wrapped to this key pair"):
        unwrap_key(wrapped, KeyPair.generate(suite), context)


def test_wrong_suite_is_named(context):
    wrapped = wrap_key(new_data_key(), KemSuite.X25519, KeyPair.generate().public_key, context)
    with pytest.raises(DecryptionError, match="KEM 0x0020"):
        unwrap_key(wrapped, KeyPair.generate(KemSuite.MLKEM768_X25519), context)


@pytest.mark.parametrize("position", [0, 3, 16, 30, -1])
def test_any_tampered_byte_is_rejected(context, position):
    """Flipping one bit anywhere in the sealed record (header, nonce, body, tag) fails."""
    key = new_data_key()
    sealed = bytearray(seal(RECORD, key, context))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_sealed(bytes(sealed), key, context)


def test_truncated_ciphertext_is_rejected(context):
    key = new_data_key()
    sealed = seal(RECORD, key, context)
    for cut in (5, len(sealed) - 1):
        with pytest.raises(DecryptionError):
            open_sealed(sealed[:cut], key, context)


def test_wrong_data_key_is_rejected(context):
    sealed = seal(RECORD, new_data_key(), context)
    with pytest.raises(DecryptionError, match="authentication"):
        open_sealed(sealed, new_data_key(), context)


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": 1},
        {"registry": "0x" + "ef" * 20},
        {"patient": "0x" + "01" * 20},
        {"record_id": b"\x00" * 32},
        {"version": 2},
    ],
    ids=["chain", "registry", "patient", "record", "version"],
)
def test_wrong_context_is_rejected(context, change):
    """A ciphertext replayed on another chain, registry, patient, record or version fails,
    both at the key wrap and at the record itself."""
    reader = KeyPair.generate()
    envelope = encrypt_record(RECORD, context, [(reader.suite, reader.public_key)])
    other = dataclasses.replace(context, **change)
    with pytest.raises(DecryptionError):
        decrypt_record(envelope, reader, other)

    key = new_data_key()
    with pytest.raises(DecryptionError):
        open_sealed(seal(RECORD, key, context), key, other)


def test_garbage_envelope_is_rejected(context):
    with pytest.raises(DecryptionError, match="not a carechain record envelope"):
        decrypt_record(b"not an envelope", KeyPair.generate(), context)
    reader = KeyPair.generate()
    envelope = encrypt_record(RECORD, context, [(reader.suite, reader.public_key)])
    with pytest.raises(DecryptionError):
        decrypt_record(envelope[:40], reader, context)


@pytest.mark.parametrize("suite", list(KemSuite))
def test_key_pair_restores_from_private_bytes(suite):
    """A stored private key gives back the same public key; repr never shows the secret."""
    pair = KeyPair.generate(suite)
    restored = KeyPair(suite, pair.private_bytes())
    assert restored.public_key == pair.public_key
    assert len(pair.public_key) == suite.public_key_size
    assert pair.private_bytes().hex() not in repr(pair)


def test_every_record_gets_a_fresh_data_key(context):
    """Two encryptions of the same record share nothing but their length."""
    reader = KeyPair.generate()
    first = encrypt_record(RECORD, context, [(reader.suite, reader.public_key)])
    second = encrypt_record(RECORD, context, [(reader.suite, reader.public_key)])
    assert first != second
    assert first[-len(RECORD) :] != second[-len(RECORD) :]
