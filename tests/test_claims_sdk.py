"""Claims end to end through the SDK: policy, consent, FHIR Claim, review, settlement."""

from datetime import date

import pytest

from carechain import (
    Category,
    ChainError,
    ClaimStatus,
    Insurer,
    KeyPair,
    Purpose,
    Scope,
)
from carechain.fhir_claims import build_claim
from carechain.samples import chart

pytestmark = pytest.mark.integration
USD = 10**6
DAY = 86400


@pytest.fixture
def insurer_client(insurer, governor, contracts, ipfs):
    contracts.registry.admit(governor, "insurer", insurer)
    client = Insurer(insurer, contracts, ipfs, KeyPair.generate())
    client.publish_key()
    contracts.claims.token.mint(insurer, 1_000_000 * USD, sender=governor)
    client.fund_escrow(100_000 * USD)
    return client


@pytest.fixture
def covered(hospital_client, patient_client, insurer_client, chain):
    """A policy, the patient's chart, and payment consent for the insurer."""
    now = chain.blocks.head.timestamp
    policy_id = insurer_client.issue_policy(
        patient_client.address,
        limit=5_000 * USD,
        deductible=100 * USD,
        copay_bps=1_000,
        covered={Category.OBSERVATION, Category.ENCOUNTER},
        start=now - DAY,
        end=now + 365 * DAY,
        auto_approve_below=200 * USD,
    )
    refs = hospital_client.anchor_records(
        [(patient_client.address, r) for r in chart(41, "MRN-41")], progress=False
    )
    patient_client.grant_access(
        insurer_client.address, Scope.all(), Purpose.PAYMENT, now + 365 * DAY
    )
    return policy_id, refs


def claim_for(hospital_client, patient_client, insurer_client, policy_id, refs, amount, code):
    fhir_claim = build_claim(
        patient_client.address,
        hospital_client.address,
        insurer_client.address,
        policy_id,
        date.today(),
        [(code, "Office visit", amount)],
        [refs[1].record_id],
    )
    return hospital_client.submit_claim(
        policy_id, insurer_client.address, fhir_claim, [refs[1].record_id], date.today()
    )


def test_claim_lifecycle(hospital_client, patient_client, insurer_client, covered, contracts):
    """Submit; the insurer reads the Claim and the evidence under consent; approves; settles;
    the provider is paid; the patient sees what they owe; a ClaimResponse says so."""
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 1_100 * USD, "99214"
    )
    [view] = insurer_client.claims(ClaimStatus.SUBMITTED)
    assert view.claim_id == claim_id
    fhir_claim = insurer_client.open_claim(view, patient_client.address)
    assert fhir_claim["item"][0]["productOrService"]["coding"][0]["code"] == "99214"
    evidence = insurer_client.open_evidence(view)
    assert evidence[0].resource["resourceType"] == "Encounter"
    assert len(insurer_client.receipts.pending) == 1

    insurer_client.approve(claim_id, 1_100 * USD)
    before = contracts.claims.balance_of(hospital_client.address)
    insurer_client.settle(progress=False)
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
        patient_client.revoke_access(consent.grant_id)
    pins = ipfs.pins()
    with pytest.raises(ChainError, match="NoPaymentConsent"):
        claim_for(
            hospital_client, patient_client, insurer_client, policy_id, refs, 500 * USD, "99213"
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
