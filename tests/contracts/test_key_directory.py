"""KeyDirectory: parties publish, rotate and revoke HPKE public keys."""

import ape
from eth_abi import encode
from eth_utils import keccak

from carechain import KemSuite, KeyPair


def commitment(kem_id, version, key):
    return keccak(encode(["uint16", "uint32", "bytes"], [kem_id, version, key]))


def test_publish_emits_key_and_stores_commitment(key_directory, patient):
    """The full key goes in the event; storage holds only its 32-byte commitment."""
    key = KeyPair.generate(KemSuite.MLKEM768_X25519).public_key
    tx = key_directory.publishKey(KemSuite.MLKEM768_X25519, key, sender=patient)
    [event] = tx.decode_logs(key_directory.KeyPublished)
    assert (event.party, event.kemId, event.keyVersion) == (patient.address, 0x647A, 1)
    assert bytes(event.publicKey) == key
    stored, version = key_directory.keyCommitment(patient, KemSuite.MLKEM768_X25519)
    assert (bytes(stored), version) == (commitment(0x647A, 1, key), 1)


def test_rotation_replaces_the_key(key_directory, patient):
    """Publishing again rotates: a new version, a new commitment."""
    first, second = KeyPair.generate().public_key, KeyPair.generate().public_key
    key_directory.publishKey(KemSuite.X25519, first, sender=patient)
    key_directory.publishKey(KemSuite.X25519, second, sender=patient)
    stored, version = key_directory.keyCommitment(patient, KemSuite.X25519)
    assert (bytes(stored), version) == (commitment(0x20, 2, second), 2)


def test_wrong_length_and_unknown_kem_are_refused(key_directory, patient):
    with ape.reverts(key_directory.InvalidKeyLength, kemId=0x20, length=31, expected=32):
        key_directory.publishKey(KemSuite.X25519, b"\x01" * 31, sender=patient)
    with ape.reverts(key_directory.UnsupportedKem, kemId=0x10):
        key_directory.publishKey(0x10, b"\x01" * 65, sender=patient)


def test_revocation_clears_the_commitment(key_directory, patient):
    """A revoked key is no longer offered; revoking twice names the missing key."""
    key_directory.publishKey(KemSuite.X25519, KeyPair.generate().public_key, sender=patient)
    tx = key_directory.revokeKey(KemSuite.X25519, sender=patient)
    assert len(tx.decode_logs(key_directory.KeyRevoked)) == 1
    stored, version = key_directory.keyCommitment(patient, KemSuite.X25519)
    assert (bytes(stored), version) == (b"\x00" * 32, 1)
    with ape.reverts(key_directory.NoKey):
        key_directory.revokeKey(KemSuite.X25519, sender=patient)
