"""Secret sharing (carechain.escrow): SLIP-39 through shamir-mnemonic, checked against the
SLIP's published test vectors, the share commitments, and the shares object format."""

import json
import secrets
from pathlib import Path

import pytest

from carechain.crypto import KemSuite, KeyPair, open_sealed_to, seal_to
from carechain.errors import DecryptionError, RecoveryError
from carechain.escrow import (
    HeldShare,
    combine_shares,
    decode_shares_object,
    encode_shares_object,
    share_commitment,
    split_secret,
)
from carechain.model import EscrowKind, EscrowView

#: Entries of SLIP-0039's test vectors (vectors.json of trezor/python-shamir-mnemonic, MIT,
#: Copyright 2019 SatoshiLabs): [description, mnemonics, master secret hex (empty: must fail),
#: BIP-32 key]. They were generated with the passphrase "TREZOR".
VECTORS = json.loads((Path(__file__).parent / "data" / "slip39_vectors.json").read_text())
PATIENT = "0x" + "a1" * 20


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_published_slip39_vectors(vector):
    """Valid sets rebuild the published master secret; invalid ones (one share of 2, shares
    whose digest does not match) are refused, not combined into a wrong secret."""
    _description, mnemonics, secret_hex, _ = vector
    if secret_hex:
        assert combine_shares(mnemonics, len(mnemonics), b"TREZOR").hex() == secret_hex
    else:
        with pytest.raises(RecoveryError):
            combine_shares(mnemonics, len(mnemonics), b"TREZOR")


@pytest.mark.parametrize("suite", list(KemSuite))
def test_any_two_of_three_rebuild_a_key(suite):
    """Every KEM's private key (32 or 96 bytes) splits 2 of 3 and any two shares rebuild it."""
    pair = KeyPair.generate(suite)
    shares = split_secret(pair.private_bytes(), 2, 3)
    assert len(set(shares)) == 3
    for chosen in ([0, 1], [0, 2], [2, 1]):
        secret = combine_shares([shares[i] for i in chosen], 2)
        assert KeyPair(suite, secret).public_key == pair.public_key


def test_too_few_shares_say_how_many_more():
    shares = split_secret(secrets.token_bytes(32), 3, 5)
    with pytest.raises(RecoveryError, match=r"2 valid share\(s\), but 3 are needed.*1 more"):
        combine_shares(shares[:2], 3)


def test_shares_of_different_splits_do_not_combine():
    """A share of another split of the same secret is refused (SLIP-39's identifier)."""
    secret = secrets.token_bytes(32)
    first, second = split_secret(secret, 2, 3), split_secret(secret, 2, 3)
    with pytest.raises(RecoveryError, match="do not combine"):
        combine_shares([first[0], second[1]], 2)


@pytest.mark.parametrize("threshold,count", [(1, 3), (4, 3), (2, 17), (0, 0)])
def test_thresholds_outside_2_to_n_are_refused(threshold, count):
    with pytest.raises(ValueError, match="one holder alone must learn nothing"):
        split_secret(secrets.token_bytes(32), threshold, count)


def escrow_view(commitments):
    return EscrowView(
        PATIENT, EscrowKind.BACKUP, 1, 2, ["0x" + "b1" * 20], commitments, 0x20, b"k", b"", b""
    )


def test_a_share_matches_only_its_own_commitment():
    """The commitment binds patient, kind, epoch, index and salt: the same share under any
    other of them, or another share, does not match."""
    share = HeldShare(0, secrets.token_bytes(32), split_secret(secrets.token_bytes(32), 2, 2)[0])
    good = share_commitment(PATIENT, EscrowKind.BACKUP, 1, 0, share.salt, share.share)
    assert share.matches(escrow_view([good]))
    for other in (
        share_commitment("0x" + "a2" * 20, EscrowKind.BACKUP, 1, 0, share.salt, share.share),
        share_commitment(PATIENT, EscrowKind.EMERGENCY, 1, 0, share.salt, share.share),
        share_commitment(PATIENT, EscrowKind.BACKUP, 2, 0, share.salt, share.share),
        share_commitment(PATIENT, EscrowKind.BACKUP, 1, 0, bytes(32), share.share),
    ):
        assert not share.matches(escrow_view([other]))
    assert not HeldShare(1, share.salt, share.share).matches(escrow_view([good]))
    assert "share=" not in repr(share) and share.share not in repr(share)


def test_shares_object_round_trip_and_sealing():
    holder = KeyPair.generate()
    payload = HeldShare(0, secrets.token_bytes(32), "word " * 20).payload()
    sealed = seal_to(holder.suite, holder.public_key, payload, b"info")
    entries = [(0, "0x" + "c3" * 20, sealed), (1, "0x" + "d4" * 20, b"x" * 40)]
    decoded = decode_shares_object(encode_shares_object(entries))
    assert decoded[0][1] == sealed and decoded[1][0].lower() == "0x" + "d4" * 20
    assert open_sealed_to(decoded[0][1], holder, b"info") == payload
    with pytest.raises(DecryptionError):
        open_sealed_to(sealed, holder, b"other use")  # bound to what it is for
    with pytest.raises(DecryptionError, match="not a carechain shares object"):
        decode_shares_object(encode_shares_object(entries)[:-5])
