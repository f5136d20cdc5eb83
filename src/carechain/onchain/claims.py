"""The ClaimsManager and the ERC-20 token claims settle in."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from ..errors import ChainError, ConfigurationError, NotAuthorizedError
from ..model import (
    INSURER_ROLE,
    LOCAL_CHAIN_IDS,
    ClaimStatus,
    ClaimView,
    PolicyTerms,
    ProgressCallback,
    reason_code,
)
from .contract import Contract, missing_role
from .rpc import Node


class ClaimsManager:
    """The ClaimsManager contract and the token it settles in."""

    def __init__(self, node: Node, address: str, token: str, since: int = 0) -> None:
        self.contract = Contract(node, "ClaimsManager", address, since)
        self.address = str(self.contract.address)
        # any ERC-20: only the standard part of the test stablecoin's ABI is used
        self.token = Contract(node, "MockStablecoin", token)

    def balance_of(self, account: str) -> int:
        """Token balance of ``account``."""
        return int(self.token.balanceOf(account))

    def deposit(self, insurer: Any, amount: int) -> Any:
        """Move ``amount`` of the insurer's tokens into its escrow (approves first). Nothing is
        sent, not even the approval, unless ``insurer`` holds the insurer role and the tokens."""
        registry = Contract(self.contract.node, "RecordRegistry", self.contract.registry())
        if not registry.hasRole(INSURER_ROLE, insurer.address):
            raise NotAuthorizedError(
                "refused before sending: " + missing_role(insurer.address, INSURER_ROLE)
            )
        held = self.balance_of(insurer.address)
        if held < amount:
            scale = 10**self.decimals
            raise ValueError(
                f"{insurer.address} holds {held / scale:,.2f} tokens, fewer than the "
                f"{amount / scale:,.2f} to deposit; buy or receive more (on a local chain: "
                "carechain claims faucet)"
            )
        if int(self.token.allowance(insurer.address, self.address)) < amount:
            self.token.approve(self.address, amount, sender=insurer)
        return self.contract.deposit(amount, sender=insurer)

    def mint_test_tokens(self, sender: Any, to: str, amount: int) -> Any:
        """Mint ``amount`` of the test stablecoin to ``to``: a faucet for local development
        chains only (anvil's chain ids), where ``ape run deploy`` deployed a test token
        anyone may mint. A real token (USDC on a live network) is never minted."""
        chain_id = self.contract.node.chain_id
        if chain_id not in LOCAL_CHAIN_IDS:
            raise ConfigurationError(
                f"the test-token faucet works only on a local development chain (chain ids "
                f"{sorted(LOCAL_CHAIN_IDS)}), not chain {chain_id}: buy or transfer the "
                "settlement token instead"
            )
        try:
            return self.token.mint(to, amount, sender=sender)
        except ChainError as exc:
            raise ChainError(
                f"the settlement token {self.token.address} cannot be minted here: it is not "
                f"the test stablecoin `ape run deploy` deploys ({exc})"
            ) from exc

    def withdraw(self, insurer: Any, amount: int) -> Any:
        """Take back escrow not reserved for approved claims."""
        return self.contract.withdraw(amount, sender=insurer)

    def escrow(self, insurer: str) -> tuple[int, int]:
        """(balance, reserved) of an insurer's escrow."""
        escrow = self.contract.escrowOf.call(insurer)
        return int(escrow.balance), int(escrow.reserved)

    def issue_policy(self, insurer: Any, terms: PolicyTerms) -> int:
        """Issue a policy; returns its id."""
        receipt = self.contract.issuePolicy(terms.as_tuple(), sender=insurer)
        return int(receipt.decode_logs(self.contract.PolicyIssued)[0].policyId)

    def claim_id(
        self, policy_id: int, patient: str, provider: str, service_day: int, codes_hash: bytes
    ) -> bytes:
        """The id a claim gets (the contract's ``claimIdOf``): it binds the policy."""
        return bytes(
            self.contract.claimIdOf.call(policy_id, patient, provider, service_day, codes_hash)
        )

    def status(self, claim_id: bytes) -> ClaimStatus:
        """Where a claim stands (``NONE`` if it was never submitted)."""
        return ClaimStatus(int(self.contract.getClaim.call(claim_id).status))

    def evidence_claim(self, record_id: bytes) -> bytes | None:
        """The claim a record already backs, or None (a record backs at most one claim)."""
        claim_id = bytes(self.contract.evidenceClaim.call(record_id))
        return None if claim_id == bytes(32) else claim_id

    def denial(self, claim_id: bytes) -> tuple[int, int]:
        """(reserved, disputable until) of a denial; (0, 0) once it is final."""
        reserved, until = self.contract.denialOf.call(claim_id)
        return int(reserved), int(until)

    def finalize_denial(self, sender: Any, claim_id: bytes) -> Any:
        """End an undisputed denial after its window: its reserve returns to the insurer."""
        return self.contract.finalizeDenial(claim_id, sender=sender)

    def owed_to(self, provider: str) -> int:
        """Payments the token refused to deliver to ``provider``, waiting for it."""
        return int(self.contract.owedTo.call(provider))

    def withdraw_owed(self, provider: Any, to: str) -> Any:
        """A provider collects its deferred payments to ``to``."""
        return self.contract.withdrawOwed(to, sender=provider)

    def submit(self, provider: Any, request: tuple) -> tuple[bytes, Any]:
        """Submit a claim request tuple; returns (claim id, receipt)."""
        receipt = self.contract.submitClaim(request, sender=provider)
        return bytes(receipt.decode_logs(self.contract.ClaimSubmitted)[0].claimId), receipt

    def approve(self, insurer: Any, claim_id: bytes, amount: int) -> Any:
        """Approve ``amount`` of a claim (shares computed on-chain)."""
        return self.contract.approveClaim(claim_id, amount, sender=insurer)

    def deny(self, insurer: Any, claim_id: bytes, reason: str) -> Any:
        """Deny a claim with a reason code (hashed on-chain)."""
        code = reason_code(reason)
        return self.contract.denyClaim(claim_id, code, sender=insurer)

    def settle(self, insurer: Any, claim_ids: list[bytes]) -> Any:
        """Pay approved claims from escrow in one transaction."""
        return self.contract.settle(claim_ids, sender=insurer)

    def dispute(self, party: Any, claim_id: bytes) -> Any:
        """The provider or patient disputes a denial within the window."""
        return self.contract.disputeClaim(claim_id, sender=party)

    def claims(self, **topics: Any) -> list[ClaimView]:
        """Claims filtered by event topics (``policyId=``, ``provider=``), oldest first."""
        logs = self.contract.logs(self.contract.ClaimSubmitted, topics)
        views = []
        for log in logs:
            stored = self.contract.getClaim.call(bytes(log.claimId))
            views.append(
                ClaimView(
                    claim_id=bytes(log.claimId),
                    policy_id=int(log.policyId),
                    provider=str(log.provider),
                    amount=int(log.amount),
                    service_date=int(log.serviceDate),
                    record_ids=[bytes(r) for r in log.recordIds],
                    claim_digest=bytes(log.claimDigest),
                    status=ClaimStatus(int(stored.status)),
                    approved=int(stored.approved),
                    patient_share=int(stored.patientShare),
                    block=int(log.block_number),
                )
            )
        return views

    def settle_all(
        self,
        insurer: Any,
        claim_ids: list[bytes] | None = None,
        batch_size: int = 50,
        progress: ProgressCallback | None = None,
    ) -> tuple[list[Any], int, int]:
        """Pay approved claims (by default every approved claim of ``insurer``) in batches of
        ``batch_size``; ``progress(done, total)`` is called after each batch. Returns the
        receipts, how many claims were paid and the total paid (from the ``ClaimPaid``
        events)."""
        if claim_ids is None:
            views = self.claims_under(insurer=insurer.address)
            claim_ids = [v.claim_id for v in views if v.status is ClaimStatus.APPROVED]
        receipts = []
        for start in range(0, len(claim_ids), batch_size):
            batch = claim_ids[start : start + batch_size]
            receipts.append(self.settle(insurer, batch))
            if progress is not None:
                progress(start + len(batch), len(claim_ids))
        paid = [int(log.amount) for r in receipts for log in r.decode_logs(self.contract.ClaimPaid)]
        return receipts, len(paid), sum(paid)

    def claim(self, claim_id: bytes) -> ClaimView:
        """One claim by id; ``NotFoundError``-style ``ChainError`` if it was never submitted."""
        found = self.claims(claimId=claim_id)
        if not found:
            raise ChainError(f"UnknownClaim: no claim 0x{claim_id.hex()} was ever submitted")
        return found[0]

    def claims_under(
        self, insurer: str | None = None, patient: str | None = None
    ) -> list[ClaimView]:
        """Every claim against the policies of an insurer and/or patient, oldest first."""
        return [
            view
            for policy_id in self.policies(insurer=insurer, patient=patient)
            for view in self.claims(policyId=policy_id)
        ]

    def amount_owed(self, patient: str) -> int:
        """What ``patient`` owes providers (deductible and co-pay) on approved and paid claims."""
        owed = (ClaimStatus.APPROVED, ClaimStatus.PAID)
        return sum(v.patient_share for v in self.claims_under(patient=patient) if v.status in owed)

    def parties_of_policy(self, policy_id: int) -> tuple[str, str]:
        """(insurer, insured patient) of a policy."""
        insurer, terms, _ = self.contract.policy(policy_id)
        return str(insurer), str(terms[0])  # PolicyTerms.patient

    @property
    def decimals(self) -> int:
        """Decimals of the settlement token (6 for a USDC-like stablecoin)."""
        return int(self.token.decimals())

    def policies(self, insurer: str | None = None, patient: str | None = None) -> list[int]:
        """Ids of the policies of an insurer and/or patient."""
        topics = {}
        if insurer:
            topics["insurer"] = to_checksum_address(insurer)
        if patient:
            topics["patient"] = to_checksum_address(patient)
        logs = self.contract.logs(self.contract.PolicyIssued, topics)
        return [int(log.policyId) for log in logs]
