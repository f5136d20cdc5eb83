"""Claims end to end through the SDK: policy, consent, FHIR Claim, review, settlement."""

import pytest

from carechain import (
    ChainError,
    ClaimStatus,
    Hospital,
    KeyPair,
    NotAuthorizedError,
    Purpose,
)
from carechain.samples import chart
from tests.helpers import USD, claim_for

pytestmark = pytest.mark.integration


def test_claim_lifecycle(hospital_client, patient_client, insurer_client, covered, contracts):
    """Submit; the insurer reads the Claim and the evidence under consent; approves; settles;
    the provider is paid; the patient sees what they owe; a ClaimResponse says so."""
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 1_100 * USD, "99214"
    )
    [view] = insurer_client.claims(ClaimStatus.SUBMITTED)
    assert view.claim_id == claim_id
    assert view.provider == hospital_client.address
    fhir_claim = insurer_client.open_claim(view, patient_client.address)
    assert fhir_claim["item"][0]["productOrService"]["coding"][0]["code"] == "99214"
    evidence = insurer_client.open_evidence(view)
    assert evidence[0].resource["resourceType"] == "Encounter"
    assert len(insurer_client.receipts.pending) == 1

    insurer_client.approve(claim_id, 1_100 * USD)
    before = contracts.claims.balance_of(hospital_client.address)
    insurer_client.settle()
    paid = contracts.claims.balance_of(hospital_client.address) - before
    assert paid == 900 * USD  # 1,100 - 100 deductible, less 10% co-pay
    [mine] = patient_client.claims()
    assert mine.status is ClaimStatus.PAID
    assert patient_client.amount_owed() == 200 * USD
    response = insurer_client.claim_response(mine, patient_client.address)
    assert response["outcome"] == "complete"
    assert response["payment"]["amount"]["value"] == 900.0


def test_small_claim_is_auto_approved_and_duplicate_refused(
    hospital_client, patient_client, insurer_client, covered
):
    policy_id, refs = covered
    claim_for(hospital_client, patient_client, insurer_client, policy_id, refs, 150 * USD, "99212")
    [view] = patient_client.claims()
    assert view.status is ClaimStatus.APPROVED
    with pytest.raises(ChainError, match="DuplicateClaim"):
        claim_for(
            hospital_client, patient_client, insurer_client, policy_id, refs, 150 * USD, "99212"
        )


def test_claim_without_payment_consent_is_refused_and_unpinned(
    hospital_client, patient_client, insurer_client, covered, ipfs
):
    policy_id, refs = covered
    for consent in patient_client.consents():
        if consent.purpose is Purpose.PAYMENT:
            patient_client.revoke_access(consent.grant_id)
    pins = ipfs.pins()
    with pytest.raises(ChainError, match="NoPaymentConsent"):
        hospital_client.bill(
            policy_id,
            insurer_client.address,
            patient_client.address,
            [("99213", "Office visit", 500 * USD)],
            [refs[1].record_id],
        )
    assert ipfs.pins() == pins


def test_denied_claim_is_disputed_by_the_provider(
    hospital_client, patient_client, insurer_client, covered, contracts
):
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 800 * USD, "99215"
    )
    insurer_client.deny(claim_id, "not-medically-necessary")
    contracts.claims.dispute(hospital_client.account, claim_id)
    [view] = patient_client.claims()
    assert view.status is ClaimStatus.DISPUTED
    assert insurer_client.claim_response(view, patient_client.address)["outcome"] == "partial"


def test_a_provider_bills_only_for_records_it_treats(
    hospital_client, patient_client, insurer_client, covered, contracts, ipfs, governor, doctor,
    chain,
):  # fmt: skip
    """Another admitted hospital cites the patient's record (or anchors one of its own under
    her address): refused before anything is stored, and on-chain if sent anyway."""
    policy_id, refs = covered
    contracts.registry.admit(governor, "provider", doctor)
    rogue = Hospital(doctor, contracts, ipfs, KeyPair.generate())
    rogue.publish_key()
    [fabricated] = rogue.anchor_records([(patient_client.address, chart(77, "MRN-77")[1])])
    pins = ipfs.pins()
    for record in (refs[1], fabricated):
        with pytest.raises(NotAuthorizedError, match="NoCareRelationship"):
            rogue.bill(
                policy_id,
                insurer_client.address,
                patient_client.address,
                [("99213", "Office visit", 150 * USD)],
                [record.record_id],
            )
    assert ipfs.pins() == pins
    # sent anyway, around the SDK: the contract refuses it the same way
    day = chain.blocks.head.timestamp // 86400
    request = (
        policy_id, patient_client.address, 150 * USD, day, bytes(32), [refs[1].record_id],
        bytes(32),
    )  # fmt: skip
    with pytest.raises(NotAuthorizedError, match="NoCareRelationship"):
        contracts.claims.submit(doctor, request)
    providers = {view.provider for view in patient_client.claims()}
    assert doctor.address not in providers
    assert providers <= {hospital_client.address}


def test_a_record_backs_one_claim(
    hospital_client, patient_client, insurer_client, covered, contracts, ipfs
):
    """The same visit re-billed under other codes is refused with the claim it backs."""
    policy_id, refs = covered
    first, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 150 * USD, "99212"
    )
    [view] = patient_client.claims()
    pins = ipfs.pins()
    with pytest.raises(ChainError, match=f"EvidenceAlreadyClaimed.*0x{first.hex()}"):
        hospital_client.bill(
            policy_id,
            insurer_client.address,
            patient_client.address,
            [("99213", "Office visit, re-coded", 150 * USD)],
            view.record_ids,
        )
    assert ipfs.pins() == pins
    assert contracts.claims.evidence_claim(view.record_ids[0]) == first
