"""ClaimsManager: escrow, policies, consent-gated claims, adjudication, settlement, disputes."""

import ape
import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from tests.helpers import random_id

USD = 10**6
DAY = 86400
OBSERVATION, MENTAL_HEALTH = 2, 10
TREATMENT, PAYMENT, ALL = 0, 1, 2
ZERO = b"\x00" * 32
SUBMITTED, APPROVED, DENIED, DISPUTED, PAID = 1, 2, 3, 4, 5


def today(chain):
    return chain.blocks.head.timestamp // DAY


@pytest.fixture
def setup(registry, consent, claims, stablecoin, hospital, patient, insurer, chain):
    """Escrow of 100,000; a policy (limit 10,000, deductible 500, 20% co-pay, observations
    covered, auto-approve up to 300); two of the patient's records; payment consent."""
    claims.deposit(100_000 * USD, sender=insurer)
    now = chain.blocks.head.timestamp
    terms = (
        patient.address,
        10_000 * USD,
        500 * USD,
        2_000,
        1 << OBSERVATION,
        now - DAY,
        now + 365 * DAY,
        300 * USD,
    )
    tx = claims.issuePolicy(terms, sender=insurer)
    policy_id = tx.decode_logs(claims.PolicyIssued)[0].policyId
    observation, note = random_id(), random_id()
    registry.anchor(observation, patient, OBSERVATION, random_id(), sender=hospital)
    registry.anchor(note, patient, MENTAL_HEALTH, random_id(), sender=hospital)
    consent.grant(insurer, ALL, ZERO, PAYMENT, now + 365 * DAY, ZERO, sender=patient)
    consent.grant(hospital, ALL, ZERO, TREATMENT, now + 365 * DAY, ZERO, sender=patient)
    return {"policy": policy_id, "observation": observation, "note": note, "registry": registry}


def submit(claims, setup, patient, hospital, chain, amount, records=None, codes=None, day=None):
    """Submit a claim; by default citing a fresh observation of the patient's (a record backs
    at most one claim)."""
    if records is None:
        records = [random_id()]
        setup["registry"].anchor(records[0], patient, OBSERVATION, random_id(), sender=hospital)
    request = (
        setup["policy"],
        patient.address,
        amount,
        day or today(chain),
        codes or random_id(),
        records,
        random_id(),
    )
    tx = claims.submitClaim(request, sender=hospital)
    return bytes(tx.decode_logs(claims.ClaimSubmitted)[0].claimId), tx


def test_deposit_and_withdraw_only_unreserved(
    claims, stablecoin, insurer, setup, patient, hospital, chain
):
    """Escrow counts what arrived; withdrawal leaves what approved claims reserve."""
    assert claims.escrowOf(insurer).balance == 100_000 * USD
    claim_id, _ = submit(claims, setup, patient, hospital, chain, 5_000 * USD)
    claims.approveClaim(claim_id, 5_000 * USD, sender=insurer)
    reserved = claims.escrowOf(insurer).reserved
    assert reserved == (5_000 - 500) * 8 // 10 * USD  # deductible, then 20% co-pay
    available = 100_000 * USD - reserved
    with ape.reverts(claims.InsufficientEscrow, available=available, needed=available + 1):
        claims.withdraw(available + 1, sender=insurer)
    before = stablecoin.balanceOf(insurer)
    claims.withdraw(available, sender=insurer)
    assert stablecoin.balanceOf(insurer) - before == available


def test_submit_stores_and_events_the_claim(claims, setup, patient, hospital, chain):
    claim_id, tx = submit(
        claims, setup, patient, hospital, chain, 1_000 * USD, [setup["observation"]]
    )
    [event] = tx.decode_logs(claims.ClaimSubmitted)
    assert [bytes(r) for r in event.recordIds] == [setup["observation"]]
    assert event.amount == 1_000 * USD
    claim = claims.getClaim(claim_id)
    assert (claim.status, claim.amount, claim.policyId) == (SUBMITTED, 1_000 * USD, setup["policy"])


def test_small_covered_claim_is_approved_on_submit(
    claims, setup, patient, hospital, insurer, chain
):
    """200 is under the auto-approve threshold: all of it falls in the deductible."""
    claim_id, tx = submit(claims, setup, patient, hospital, chain, 200 * USD)
    [approved] = tx.decode_logs(claims.ClaimApproved)
    assert approved.automatic and approved.approved == 0 and approved.patientShare == 200 * USD
    assert claims.getClaim(claim_id).status == APPROVED


def test_uncovered_category_is_never_auto_approved(claims, setup, patient, hospital, chain):
    claim_id, tx = submit(
        claims, setup, patient, hospital, chain, 100 * USD, records=[setup["note"]]
    )
    assert tx.decode_logs(claims.ClaimApproved) == []
    assert claims.getClaim(claim_id).status == SUBMITTED


def test_shares_follow_deductible_copay_and_limit(claims, setup, patient, hospital, insurer, chain):
    """First claim eats the deductible; co-pay applies after; the limit caps the insurer."""
    first, _ = submit(claims, setup, patient, hospital, chain, 2_500 * USD)
    tx = claims.approveClaim(first, 2_500 * USD, sender=insurer)
    event = tx.decode_logs(claims.ClaimApproved)[0]
    assert (event.approved, event.patientShare) == (1_600 * USD, 900 * USD)
    second, _ = submit(claims, setup, patient, hospital, chain, 20_000 * USD)
    tx = claims.approveClaim(second, 20_000 * USD, sender=insurer)
    event = tx.decode_logs(claims.ClaimApproved)[0]
    assert event.approved == 8_400 * USD  # the 10,000 limit less the 1,600 already committed
    assert event.patientShare == 11_600 * USD
    _, _, usage = claims.policy(setup["policy"])
    assert usage[0] == 10_000 * USD  # approvedTotal


def test_duplicate_claim_is_refused(claims, setup, patient, hospital, chain):
    codes = random_id()
    submit(claims, setup, patient, hospital, chain, 1_000 * USD, codes=codes)
    claim_id = bytes(claims.claimIdOf(setup["policy"], patient, hospital, today(chain), codes))
    with ape.reverts(claims.DuplicateClaim, claimId=claim_id):
        submit(claims, setup, patient, hospital, chain, 999 * USD, codes=codes)


def test_claim_needs_payment_consent_for_every_record(
    claims, consent, setup, patient, hospital, insurer, chain
):
    grant_id = consent.grantIdOf(patient, insurer, ALL, ZERO, PAYMENT)
    consent.revoke(grant_id, sender=patient)
    with ape.reverts(
        claims.NoPaymentConsent, recordId=setup["observation"], insurer=insurer.address
    ):
        submit(claims, setup, patient, hospital, chain, 1_000 * USD, [setup["observation"]])


@pytest.mark.parametrize(
    "case",
    [
        "other-patients-record",
        "wrong-patient",
        "no-evidence",
        "unknown-policy",
        "outside-period",
        "future-service",
        "zero-amount",
        "amount-over-48-bits",
    ],
)
def test_bad_claims_are_refused(
    claims, registry, setup, patient, second_patient, hospital, chain, case
):
    foreign = random_id()
    registry.anchor(foreign, second_patient, OBSERVATION, random_id(), sender=hospital)
    request = [
        setup["policy"],
        patient.address,
        1_000 * USD,
        today(chain),
        random_id(),
        [setup["observation"]],
        random_id(),
    ]
    error = {
        "other-patients-record": ("RecordNotOfPatient", 5, [foreign]),
        "wrong-patient": ("WrongPatient", 1, second_patient.address),
        "no-evidence": ("NoEvidence", 5, []),
        "unknown-policy": ("UnknownPolicy", 0, 999),
        "outside-period": ("PolicyNotActive", 3, today(chain) - 5),
        "future-service": ("ServiceDateInFuture", 3, today(chain) + 1),
        "zero-amount": ("InvalidAmount", 2, 0),
        "amount-over-48-bits": ("InvalidAmount", 2, 2**48),  # a patient share is 48 bits
    }[case]
    request[error[1]] = error[2]
    with ape.reverts() as revert:
        claims.submitClaim(tuple(request), sender=hospital)
    assert error[0] in repr(revert.value)


def test_settlement_pays_each_claim_once(
    claims, stablecoin, setup, patient, hospital, insurer, chain
):
    ids = []
    for amount in (1_000, 2_000, 3_000):
        claim_id, _ = submit(claims, setup, patient, hospital, chain, amount * USD)
        claims.approveClaim(claim_id, amount * USD, sender=insurer)
        ids.append(claim_id)
    owed = sum(claims.getClaim(i).approved for i in ids)
    before = stablecoin.balanceOf(hospital)
    tx = claims.settle(ids, sender=insurer)
    assert len(tx.decode_logs(claims.ClaimPaid)) == 3
    assert stablecoin.balanceOf(hospital) - before == owed
    assert claims.escrowOf(insurer).reserved == 0
    with ape.reverts(claims.WrongStatus):
        claims.settle(ids[:1], sender=insurer)
    assert stablecoin.balanceOf(hospital) - before == owed


def test_states_only_move_forward(claims, setup, patient, hospital, insurer, chain):
    claim_id, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    with ape.reverts(claims.WrongStatus):
        claims.settle([claim_id], sender=insurer)
    claims.denyClaim(claim_id, random_id(), sender=insurer)
    with ape.reverts(claims.WrongStatus):
        claims.approveClaim(claim_id, 1_000 * USD, sender=insurer)
    with ape.reverts(claims.WrongStatus):
        claims.denyClaim(claim_id, random_id(), sender=insurer)


def test_dispute_within_window_and_arbitration(
    claims, setup, patient, hospital, insurer, arbitrator, stranger, chain
):
    claim_id, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    claims.denyClaim(claim_id, random_id(), sender=insurer)
    with ape.reverts(claims.NotPartyToClaim):
        claims.disputeClaim(claim_id, sender=stranger)
    claims.disputeClaim(claim_id, sender=patient)
    with ape.reverts(claims.AccessControlUnauthorizedAccount, account=insurer.address):
        claims.resolveDispute(claim_id, True, 1_000 * USD, ZERO, sender=insurer)
    tx = claims.resolveDispute(claim_id, True, 1_000 * USD, ZERO, sender=arbitrator)
    assert tx.decode_logs(claims.ClaimApproved)[0].approved == 400 * USD
    assert claims.getClaim(claim_id).status == APPROVED


def test_dispute_after_window_or_after_final_denial_is_refused(
    claims, setup, patient, hospital, insurer, arbitrator, chain
):
    late, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    claims.denyClaim(late, random_id(), sender=insurer)
    chain.mine(timestamp=chain.blocks.head.timestamp + 15 * DAY)
    with ape.reverts(claims.DisputeWindowClosed):
        claims.disputeClaim(late, sender=hospital)

    final, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    claims.denyClaim(final, random_id(), sender=insurer)
    claims.disputeClaim(final, sender=hospital)
    claims.resolveDispute(final, False, 0, random_id(), sender=arbitrator)
    with ape.reverts(claims.DisputeWindowClosed):
        claims.disputeClaim(final, sender=hospital)


def test_only_the_policys_insurer_adjudicates_and_settles(
    claims, registry, setup, patient, hospital, insurer, governor, stranger, chain
):
    from carechain.model import INSURER_ROLE

    registry.grantRole(INSURER_ROLE, stranger, sender=governor)
    claim_id, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    for call in (
        lambda: claims.approveClaim(claim_id, 1, sender=stranger),
        lambda: claims.denyClaim(claim_id, ZERO, sender=stranger),
        lambda: claims.settle([claim_id], sender=stranger),
    ):
        with ape.reverts(claims.NotPolicyInsurer, caller=stranger.address):
            call()


def test_non_insurers_cannot_fund_or_issue(claims, patient, stranger, chain):
    with ape.reverts(claims.AccessControlUnauthorizedAccount, account=stranger.address):
        claims.deposit(1, sender=stranger)
    terms = (patient.address, 1, 0, 0, 1, 0, chain.blocks.head.timestamp + DAY, 0)
    with ape.reverts(claims.AccessControlUnauthorizedAccount):
        claims.issuePolicy(terms, sender=stranger)


def test_non_providers_cannot_submit(claims, setup, patient, stranger, chain):
    with ape.reverts(claims.AccessControlUnauthorizedAccount, account=stranger.address):
        submit(claims, setup, patient, stranger, chain, 1_000 * USD, [setup["observation"]])


def test_gas_targets(claims, stablecoin, setup, patient, hospital, other_hospital, insurer, chain):
    """Settlement ≤ 35,000 per claim in a batch of 50 to already-funded providers (the
    claims issue's target). Submitting with one cited record under all-records consents
    stays ≤ 120,000, within 1.25x of its floor of ~96,000: two fresh slots (the claim and
    the record's binding to it), ten cold reads the rules require (the provider, the policy,
    the record, three scope lookups each for the insurer's payment and the provider's
    treatment consent) and the event (see bench/README.md's gas table)."""
    _, tx = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
    assert tx.gas_used <= 120_000
    stablecoin.mint(hospital, 1, sender=insurer)
    ids = []
    for _ in range(50):
        claim_id, _ = submit(claims, setup, patient, hospital, chain, 1_000 * USD)
        claims.approveClaim(claim_id, 100 * USD, sender=insurer)
        ids.append(claim_id)
    tx = claims.settle(ids, sender=insurer)
    assert tx.gas_used / 50 <= 35_000


def test_a_token_without_six_decimals_is_refused_before_anything_is_deployed(
    project, registry, consent, governor, chain
):
    """deploy() checks the settlement token first: amounts are 64-bit token units, so an
    18-decimal stablecoin would cap a claim at 18.4 tokens; the ClaimsManager refuses it too."""
    from carechain import ConfigurationError, deploy

    e18 = project.EighteenDecimalToken.deploy(sender=governor)
    height = chain.blocks.height
    with pytest.raises(ConfigurationError, match=r"has 18 decimals.*18\.45 tokens"):
        deploy(governor, token=str(e18.address))
    with pytest.raises(ConfigurationError, match="does not answer decimals"):
        deploy(governor, token=str(registry.address))  # a contract, but no token
    assert chain.blocks.height == height  # nothing deployed
    with ape.reverts() as revert:
        project.ClaimsManager.deploy(registry, consent, e18, sender=governor)
    # a constructor's revert is not decoded by Ape: compare the raw error data
    expected = keccak(text="UnsupportedToken(address,uint8)")[:4] + abi_encode(
        ["address", "uint8"], [e18.address, 18]
    )
    assert str(revert.value.message) == "0x" + expected.hex()
