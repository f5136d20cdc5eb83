"""Consent by EIP-712 signature, relayed by anyone: every replay and forgery refused.

Signatures here are built with eth_account's typed-data encoder, independently of the SDK.
"""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

ALL, TREATMENT = 2, 0
ZERO = b"\x00" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

GRANT_TYPES = {
    "Grant": [
        {"name": "patient", "type": "address"},
        {"name": "grantee", "type": "address"},
        {"name": "kind", "type": "uint8"},
        {"name": "value", "type": "bytes32"},
        {"name": "purpose", "type": "uint8"},
        {"name": "start", "type": "uint40"},
        {"name": "end", "type": "uint40"},
        {"name": "deny", "type": "bool"},
        {"name": "keysDigest", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
REVOKE_TYPES = {
    "Revoke": [
        {"name": "grantId", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def domain(chain_id, contract):
    return {
        "name": "carechain ConsentManager",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": str(contract),
    }


def sign(account, dom, types, message):
    signable = encode_typed_data(domain_data=dom, message_types=types, message_data=message)
    return bytes(Account.sign_message(signable, account.private_key).signature)


@pytest.fixture
def deadline(chain):
    return chain.blocks.head.timestamp + 3600


@pytest.fixture
def grant_request(doctor, chain):
    end = chain.blocks.head.timestamp + 30 * 86400
    return (doctor.address, ALL, ZERO, TREATMENT, 0, end, False, ZERO)


def grant_message(patient, req, nonce, deadline):
    grantee, kind, value, purpose, start, end, deny, keys = req
    return {
        "patient": patient.address,
        "grantee": grantee,
        "kind": kind,
        "value": value,
        "purpose": purpose,
        "start": start,
        "end": end,
        "deny": deny,
        "keysDigest": keys,
        "nonce": nonce,
        "deadline": deadline,
    }


def signed_grant(consent, chain, patient, req, deadline, chain_id=None, contract=None, nonce=None):
    dom = domain(chain_id or chain.chain_id, contract or consent.address)
    if nonce is None:  # the consent's current signature nonce
        grant_id = consent.grantIdOf(patient, *req[:4])
        nonce = consent.signatureNonce(patient, grant_id)
    return sign(patient, dom, GRANT_TYPES, grant_message(patient, req, nonce, deadline))


def test_relayed_signature_grants(
    consent, patient, stranger, doctor, grant_request, deadline, chain
):
    """A patient with no ETH signs; a stranger relays; the consent is the patient's."""
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    tx = consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)
    [event] = tx.decode_logs(consent.ConsentGranted)
    assert (event.patient, event.grantee) == (patient.address, doctor.address)
    # the consent's signature nonce moved on (the patient's epoch did not)
    assert consent.signatureNonce(patient, event.grantId) == 1
    assert consent.nonces(patient) == 0


def test_the_same_signature_twice_is_refused(
    consent, patient, stranger, grant_request, deadline, chain
):
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)
    with ape.reverts(consent.InvalidSignature, patient=patient.address):
        consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_another_chain_id_is_refused(consent, patient, stranger, grant_request, deadline, chain):
    signature = signed_grant(consent, chain, patient, grant_request, deadline, chain_id=1)
    with ape.reverts(consent.InvalidSignature):
        consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_another_contract_is_refused(consent, patient, stranger, grant_request, deadline, chain):
    other = "0x" + "5a" * 20
    signature = signed_grant(consent, chain, patient, grant_request, deadline, contract=other)
    with ape.reverts(consent.InvalidSignature):
        consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_cancel_all_outstanding_signatures(
    consent, patient, stranger, grant_request, deadline, chain
):
    """Bumping the nonce voids every signature made before it."""
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    tx = consent.cancelSignatures(5, sender=patient)
    assert tx.decode_logs(consent.SignaturesCancelled)[0].nonce == 5
    with ape.reverts(consent.InvalidSignature):
        consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)
    with ape.reverts(consent.InvalidNonce, current=5, requested=3):
        consent.cancelSignatures(3, sender=patient)
    # signed in the new epoch, it is valid
    assert (
        consent.signatureNonce(patient, consent.grantIdOf(patient, *grant_request[:4])) == 5 << 16
    )
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_expired_deadline_is_refused(consent, patient, stranger, grant_request, chain):
    deadline = chain.blocks.head.timestamp - 1
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    with ape.reverts(consent.SignatureExpired, deadline=deadline):
        consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_malleable_high_s_signature_is_refused(
    consent, patient, stranger, grant_request, deadline, chain
):
    """The mirror signature (n - s, flipped v) recovers the same key but is refused."""
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    mirror = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with ape.reverts(consent.InvalidSignature):
        consent.grantBySig(patient, grant_request, deadline, mirror, sender=stranger)
    consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)


def test_someone_elses_signature_is_refused(
    consent, patient, stranger, grant_request, deadline, chain
):
    dom = domain(chain.chain_id, consent.address)
    forged = sign(stranger, dom, GRANT_TYPES, grant_message(patient, grant_request, 0, deadline))
    with ape.reverts(consent.InvalidSignature, patient=patient.address):
        consent.grantBySig(patient, grant_request, deadline, forged, sender=stranger)


def test_a_changed_request_breaks_the_signature(
    consent, patient, stranger, grant_request, deadline, chain
):
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    widened = (*grant_request[:5], grant_request[5] + 86400, *grant_request[6:])
    with ape.reverts(consent.InvalidSignature):
        consent.grantBySig(patient, widened, deadline, signature, sender=stranger)


def test_revoke_by_signature(consent, patient, stranger, grant_request, deadline, chain):
    signature = signed_grant(consent, chain, patient, grant_request, deadline)
    tx = consent.grantBySig(patient, grant_request, deadline, signature, sender=stranger)
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    nonce = consent.signatureNonce(patient, grant_id)
    message = {"grantId": grant_id, "nonce": nonce, "deadline": deadline}
    revocation = sign(patient, domain(chain.chain_id, consent.address), REVOKE_TYPES, message)
    consent.revokeBySig(grant_id, deadline, revocation, sender=stranger)
    assert consent.getConsent(grant_id).end == 0
    with ape.reverts(consent.UnknownConsent):
        consent.revokeBySig(grant_id, deadline, revocation, sender=stranger)


def test_signatures_with_leading_zero_bytes_keep_their_length(accounts):
    """About 1 signature in 128 has an r or s below 2**248; Ape returns those shortened. The
    SDK's signatures stay 65 bytes and still recover to the signer."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from carechain.onchain.signer import sign_typed

    signer = accounts[3]
    for i in range(3000):
        message = encode_defunct(text=f"carechain {i}")
        raw = signer.sign_message(message)
        if min(len(bytes(raw.r)), len(bytes(raw.s))) < 32:
            break
    else:
        raise AssertionError("no short r or s in 3000 signatures")
    signature = sign_typed(signer, message)
    assert len(signature) == 65
    assert Account.recover_message(message, signature=signature) == signer.address
