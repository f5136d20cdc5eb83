"""Random sequences of deposits, policies, claims, adjudications, disputes, settlements and
withdrawals against a model; the accounting invariants are checked after every step."""

import ape
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.helpers import random_id

USD = 10**6
DAY = 86400
SUBMITTED, APPROVED, DENIED, DISPUTED, PAID = 1, 2, 3, 4, 5
ORDER = {SUBMITTED: 0, APPROVED: 1, DENIED: 1, DISPUTED: 2, PAID: 3}


def test_claims_accounting_invariants(
    project,
    registry,
    consent,
    claims,
    stablecoin,
    governor,
    hospital,
    patient,
    insurer,
    arbitrator,
    chain,
):
    class ClaimsMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = chain.snapshot()
            now = chain.blocks.head.timestamp
            self.today = now // DAY
            consent.grant(insurer, 2, b"\x00" * 32, 1, now + 90 * DAY, b"\x00" * 32, sender=patient)
            consent.grant(
                hospital, 2, b"\x00" * 32, 0, now + 90 * DAY, b"\x00" * 32, sender=patient
            )
            self.deposited = self.withdrawn = 0
            self.paid_to_provider = stablecoin.balanceOf(hospital)
            self.policies: dict[int, int] = {}  # policy id -> limit
            self.claims: dict[bytes, int] = {}  # claim id -> last seen status
            self.paid: set[bytes] = set()

        def teardown(self):
            chain.restore(self.snapshot)

        @rule(amount=st.integers(1, 50_000))
        def deposit(self, amount):
            claims.deposit(amount * USD, sender=insurer)
            self.deposited += amount * USD

        @rule(
            limit=st.integers(1, 20_000),
            deductible=st.integers(0, 1_000),
            copay=st.integers(0, 10_000),
            auto=st.integers(0, 2_000),
        )
        def issue_policy(self, limit, deductible, copay, auto):
            deductible = min(deductible, limit)  # a larger one is refused (InvalidPolicy)
            now = chain.blocks.head.timestamp
            terms = (
                patient.address,
                limit * USD,
                deductible * USD,
                copay,
                1 << 2,
                now - DAY,
                now + 60 * DAY,
                auto * USD,
            )
            tx = claims.issuePolicy(terms, sender=insurer)
            self.policies[tx.decode_logs(claims.PolicyIssued)[0].policyId] = limit * USD

        @precondition(lambda self: self.policies)
        @rule(data=st.data(), amount=st.integers(1, 15_000))
        def submit(self, data, amount):
            policy_id = data.draw(st.sampled_from(sorted(self.policies)))
            record = random_id()  # a record backs at most one claim
            registry.anchor(record, patient, 2, random_id(), sender=hospital)
            request = (
                policy_id,
                patient.address,
                amount * USD,
                self.today,
                random_id(),
                [record],
                random_id(),
            )
            tx = claims.submitClaim(request, sender=hospital)
            self.claims[bytes(tx.decode_logs(claims.ClaimSubmitted)[0].claimId)] = SUBMITTED

        def _in(self, *statuses):
            return sorted(c for c in self.claims if claims.getClaim(c).status in statuses)

        @precondition(lambda self: self.claims)
        @rule(data=st.data(), share=st.floats(0.01, 1.0))
        def approve(self, data, share):
            pending = self._in(SUBMITTED)
            if not pending:
                return
            claim_id = data.draw(st.sampled_from(pending))
            amount = max(1, int(claims.getClaim(claim_id).amount * share))
            escrow = claims.escrowOf(insurer)
            try:
                claims.approveClaim(claim_id, amount, sender=insurer)
            except ape.exceptions.ContractLogicError as exc:
                assert "InsufficientEscrow" in repr(exc), repr(exc)
                assert claims.escrowOf(insurer) == escrow

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def deny_and_maybe_dispute(self, data):
            pending = self._in(SUBMITTED)
            if not pending:
                return
            claim_id = data.draw(st.sampled_from(pending))
            escrow = claims.escrowOf(insurer)
            try:  # a denial reserves what a dispute could award
                claims.denyClaim(claim_id, random_id(), sender=insurer)
            except ape.exceptions.ContractLogicError as exc:
                assert "InsufficientEscrow" in repr(exc), repr(exc)
                assert claims.escrowOf(insurer) == escrow
                return
            if data.draw(st.booleans()):
                claims.disputeClaim(claim_id, sender=hospital)
                if data.draw(st.booleans()):
                    claims.resolveDispute(claim_id, False, 0, random_id(), sender=arbitrator)
                else:
                    # never refused for want of escrow: the denial reserved the most it can award
                    claims.resolveDispute(
                        claim_id,
                        True,
                        claims.getClaim(claim_id).amount,
                        b"\x00" * 32,
                        sender=arbitrator,
                    )

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def settle(self, data):
            ready = self._in(APPROVED)
            if not ready:
                return
            batch = data.draw(st.lists(st.sampled_from(ready), min_size=1, unique=True))
            owed = sum(claims.getClaim(c).approved for c in batch)
            before = stablecoin.balanceOf(hospital)
            claims.settle(batch, sender=insurer)
            assert stablecoin.balanceOf(hospital) - before == owed
            self.paid |= set(batch)

        @precondition(lambda self: self.paid)
        @rule(data=st.data())
        def settle_again_is_refused(self, data):
            claim_id = data.draw(st.sampled_from(sorted(self.paid)))
            before = stablecoin.balanceOf(hospital)
            try:
                claims.settle([claim_id], sender=insurer)
                raise AssertionError("a paid claim was settled again")
            except ape.exceptions.ContractLogicError as exc:
                assert "WrongStatus" in repr(exc)
            assert stablecoin.balanceOf(hospital) == before

        @rule(fraction=st.floats(0.0, 1.0))
        def withdraw(self, fraction):
            escrow = claims.escrowOf(insurer)
            amount = int((escrow.balance - escrow.reserved) * fraction)
            if amount:
                claims.withdraw(amount, sender=insurer)
                self.withdrawn += amount

        @invariant()
        def escrow_plus_paid_is_deposited_minus_withdrawn(self):
            if not hasattr(self, "deposited"):
                return
            escrow = claims.escrowOf(insurer)
            paid = stablecoin.balanceOf(hospital) - self.paid_to_provider
            assert escrow.balance + paid == self.deposited - self.withdrawn
            assert escrow.reserved <= escrow.balance
            assert stablecoin.balanceOf(claims) >= escrow.balance
            unpaid = sum(claims.getClaim(c).approved for c in self._in(APPROVED))
            disputable = sum(claims.denialOf(c)[0] for c in self._in(DENIED, DISPUTED))
            assert escrow.reserved == unpaid + disputable

        @invariant()
        def no_policy_pays_beyond_its_limit(self):
            for policy_id, limit in getattr(self, "policies", {}).items():
                _, _, usage = claims.policy(policy_id)
                assert usage[0] <= limit

        @invariant()
        def states_never_go_backwards(self):
            for claim_id, seen in getattr(self, "claims", {}).items():
                now = claims.getClaim(claim_id).status
                assert ORDER[now] >= ORDER[seen] or (seen == DISPUTED and now in (APPROVED, DENIED))
                self.claims[claim_id] = now

    ClaimsMachine.TestCase.settings = settings(
        max_examples=8,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    run_state_machine_as_test(ClaimsMachine, settings=ClaimsMachine.TestCase.settings)
