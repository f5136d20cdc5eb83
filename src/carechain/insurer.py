"""The insurer client: escrow, policies, claims review through consented reads, settlement."""

from __future__ import annotations

from typing import Any

from .crypto import RecordContext, decrypt_record
from .fhir import Category, parse_resource
from .fhir_claims import claim_response
from .model import ClaimStatus, ClaimView, PolicyTerms, ProgressCallback, Purpose
from .records import DecryptedRecord, Party


class Insurer(Party):
    """An admitted insurer: funds an escrow, issues policies, adjudicates and settles claims.
    Evidence is read with ``read_record(..., purpose=PAYMENT)``: consented and logged."""

    def fund_escrow(self, amount: int) -> Any:
        """Deposit ``amount`` tokens into this insurer's escrow."""
        return self.contracts.claims.deposit(self.account, amount)

    def withdraw(self, amount: int) -> Any:
        """Withdraw escrow not reserved for approved claims."""
        return self.contracts.claims.withdraw(self.account, amount)

    def escrow(self) -> tuple[int, int]:
        """(balance, reserved) of this insurer's escrow."""
        return self.contracts.claims.escrow(self.address)

    def issue_policy(
        self,
        patient: str,
        limit: int,
        deductible: int,
        copay_bps: int,
        covered: set[Category],
        start: int,
        end: int,
        auto_approve_below: int = 0,
    ) -> int:
        """Issue a policy to ``patient``; returns its id."""
        terms = PolicyTerms(
            patient,
            limit,
            deductible,
            copay_bps,
            frozenset(covered),
            start,
            end,
            auto_approve_below,
        )
        return self.contracts.claims.issue_policy(self.account, terms)

    def claims(self, status: ClaimStatus | None = None) -> list[ClaimView]:
        """Claims against this insurer's policies, optionally only those in ``status``."""
        views = self.contracts.claims.claims_under(insurer=self.address)
        return [v for v in views if status is None or v.status is status]

    def open_claim(self, view: ClaimView, patient: str) -> dict[str, Any]:
        """Decrypt the FHIR Claim a provider submitted (encrypted to this insurer)."""
        context = RecordContext(
            self.contracts.chain_id, self.contracts.claims.address, patient, view.claim_id, 1
        )
        plaintext = decrypt_record(self.ipfs.cat(view.claim_digest), self.key_pair, context)
        return parse_resource(plaintext)

    def open_evidence(self, view: ClaimView) -> list[DecryptedRecord]:
        """Read every record a claim cites, under the patient's payment consent (logged)."""
        return [self.read_record(r, purpose=Purpose.PAYMENT) for r in view.record_ids]

    def approve(self, claim_id: bytes, amount: int) -> Any:
        """Approve ``amount``; the chain computes what the insurer pays and the patient owes."""
        return self.contracts.claims.approve(self.account, claim_id, amount)

    def deny(self, claim_id: bytes, reason: str) -> Any:
        """Deny a claim with a reason code."""
        return self.contracts.claims.deny(self.account, claim_id, reason)

    def settle(
        self,
        claim_ids: list[bytes] | None = None,
        batch_size: int = 50,
        progress: ProgressCallback | None = None,
    ) -> list[Any]:
        """Pay approved claims (all of them by default) in batches; returns the receipts.
        ``progress(done, total)`` is called after each batch."""
        receipts, _, _ = self.contracts.claims.settle_all(
            self.account, claim_ids, batch_size, progress
        )
        return receipts

    def claim_response(self, view: ClaimView, patient: str) -> dict[str, Any]:
        """The FHIR ClaimResponse for a claim's on-chain outcome."""
        return claim_response(view, patient, self.address)
