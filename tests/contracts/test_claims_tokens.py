"""Claims with hostile and non-standard tokens: re-entrancy cannot pay twice; a token that
returns nothing from transfer works."""

import ape

from carechain.model import ARBITRATOR_ROLE, INSURER_ROLE
from tests.helpers import random_id

USD = 10**6
DAY = 86400


def deploy_with(project, registry, consent, token, governor, insurer, arbitrator):
    registry.grantRole(INSURER_ROLE, insurer, sender=governor)
    registry.grantRole(ARBITRATOR_ROLE, arbitrator, sender=governor)
    manager = project.ClaimsManager.deploy(registry, consent, token, sender=governor)
    token.mint(insurer, 100_000 * USD, sender=governor)
    token.approve(manager, 2**255, sender=insurer)
    return manager


def approved_claims(manager, registry, consent, hospital, patient, insurer, chain, count):
    now = chain.blocks.head.timestamp
    manager.deposit(50_000 * USD, sender=insurer)
    terms = (patient.address, 50_000 * USD, 0, 0, 1 << 2, now - DAY, now + 30 * DAY, 0)
    policy_id = (
        manager.issuePolicy(terms, sender=insurer).decode_logs(manager.PolicyIssued)[0].policyId
    )
    consent.grant(insurer, 2, b"\x00" * 32, 1, now + 30 * DAY, b"\x00" * 32, sender=patient)
    consent.grant(hospital, 2, b"\x00" * 32, 0, now + 30 * DAY, b"\x00" * 32, sender=patient)
    ids = []
    for _ in range(count):
        record = random_id()
        registry.anchor(record, patient, 2, random_id(), sender=hospital)
        request = (
            policy_id,
            patient.address,
            1_000 * USD,
            now // DAY,
            random_id(),
            [record],
            random_id(),
        )
        tx = manager.submitClaim(request, sender=hospital)
        claim_id = bytes(tx.decode_logs(manager.ClaimSubmitted)[0].claimId)
        manager.approveClaim(claim_id, 1_000 * USD, sender=insurer)
        ids.append(claim_id)
    return ids


def test_reentrant_token_cannot_pay_twice(
    project, registry, consent, governor, hospital, patient, insurer, arbitrator, chain
):
    """The token calls settle() again from inside its transfer; the guard refuses, and each
    claim is paid exactly once."""
    token = project.ReentrantToken.deploy(sender=governor)
    manager = deploy_with(project, registry, consent, token, governor, insurer, arbitrator)
    ids = approved_claims(manager, registry, consent, hospital, patient, insurer, chain, 2)
    token.arm(manager, ids, sender=governor)
    manager.settle(ids, sender=insurer)
    assert token.reentered()
    assert not token.reentrySucceeded()
    assert token.balanceOf(hospital) == 2_000 * USD
    assert manager.escrowOf(insurer).balance == 48_000 * USD
    with ape.reverts(manager.WrongStatus):
        manager.settle(ids, sender=insurer)


def test_token_returning_nothing_works(
    project, registry, consent, governor, hospital, patient, insurer, arbitrator, chain
):
    """SafeERC20 accepts a transfer() with no return value (USDT-style)."""
    token = project.NoReturnToken.deploy(sender=governor)
    manager = deploy_with(project, registry, consent, token, governor, insurer, arbitrator)
    ids = approved_claims(manager, registry, consent, hospital, patient, insurer, chain, 1)
    manager.settle(ids, sender=insurer)
    assert token.balanceOf(hospital) == 1_000 * USD
    manager.withdraw(1_000 * USD, sender=insurer)
    assert token.balanceOf(insurer) == 100_000 * USD - 50_000 * USD + 1_000 * USD


def test_a_provider_the_token_refuses_does_not_block_settlement(
    project, registry, consent, governor, hospital, other_hospital, patient, insurer, arbitrator,
    chain,
):  # fmt: skip
    """USDC-style blacklist: the blacklisted provider's payment is deferred (settled, its
    reserve released) and collected to another address; the batch's other claims are paid."""
    token = project.BlacklistToken.deploy(sender=governor)
    manager = deploy_with(project, registry, consent, token, governor, insurer, arbitrator)
    ids = approved_claims(manager, registry, consent, hospital, patient, insurer, chain, 2)
    token.setBlacklisted(hospital, True, sender=governor)
    tx = manager.settle(ids, sender=insurer)
    assert [bytes(e.claimId) for e in tx.decode_logs(manager.PaymentDeferred)] == ids
    assert all(manager.getClaim(i).status == 5 for i in ids)  # Paid
    assert manager.escrowOf(insurer).reserved == 0
    assert manager.owedTo(hospital) == 2_000 * USD
    manager.withdrawOwed(other_hospital, sender=hospital)
    assert token.balanceOf(other_hospital) == 2_000 * USD
    assert manager.owedTo(hospital) == 0
    with ape.reverts(manager.NothingOwed):
        manager.withdrawOwed(other_hospital, sender=hospital)
