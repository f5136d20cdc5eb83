"""The ClinicalTrials contract: registered trials, their versions, enrolments by consent,
results, and the reward escrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from ..model import Scope, ScopeKind, TrialEnrolment, TrialVersion, TrialView
from .contract import Contract, log_order
from .rpc import Node


def contribution_key(sponsor: str, participant: str, record_id: bytes, version: int) -> bytes:
    """``keccak256(abi.encode(sponsor, participant, recordId, version))``: one reward per
    record version the sponsor read, across all its trials (a receipt does not say which trial
    a read was for)."""
    return bytes(
        keccak(
            abi_encode(
                ["address", "address", "bytes32", "uint32"],
                [
                    to_checksum_address(sponsor),
                    to_checksum_address(participant),
                    record_id,
                    version,
                ],
            )
        )
    )


def milestone_key(trial_id: int, participant: str, milestone: bytes) -> bytes:
    """``keccak256(abi.encode(trialId, participant, milestone))``."""
    return bytes(
        keccak(
            abi_encode(
                ["uint32", "address", "bytes32"],
                [trial_id, to_checksum_address(participant), milestone],
            )
        )
    )


@dataclass(frozen=True)
class Amendment:
    """A ``TrialAmended`` event: a new version, its reason, whether it switched outcomes."""

    trial_id: int
    version: int
    outcome_switch: bool
    reason: str
    block: int


@dataclass(frozen=True)
class Registration:
    """What a sponsor registers (see IClinicalTrials.Registration)."""

    protocol_digest: bytes
    study_digest: bytes
    primary_outcomes: bytes
    scope: Scope
    planned_enrolment: int
    enrolment_closes: int
    ends_at: int
    results_due: int
    reward_per_contribution: int = 0
    reward_per_milestone: int = 0
    reward_cap: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple."""
        return (
            self.protocol_digest,
            self.study_digest,
            self.primary_outcomes,
            int(self.scope.kind),
            self.scope.value,
            self.planned_enrolment,
            self.enrolment_closes,
            self.ends_at,
            self.results_due,
            self.reward_per_contribution,
            self.reward_per_milestone,
            self.reward_cap,
        )


class ClinicalTrials:
    """The ClinicalTrials contract."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "ClinicalTrials", address, since)
        self.address = str(self.contract.address)

    # writes ------------------------------------------------------------------------
    def register(self, sponsor: Any, registration: Registration) -> tuple[int, Any]:
        """Register a trial as ``sponsor``; returns (trial id, receipt)."""
        receipt = self.contract.register(registration.as_tuple(), sender=sponsor)
        event = receipt.decode_logs(self.contract.TrialRegistered)[0]
        return int(event.trialId), receipt

    def amend(
        self,
        sponsor: Any,
        trial_id: int,
        protocol_digest: bytes,
        study_digest: bytes,
        primary_outcomes: bytes,
        reason: str,
    ) -> tuple[int, bool, Any]:
        """A new protocol version; returns (version, flagged as an outcome switch, receipt)."""
        receipt = self.contract.amend(
            trial_id, protocol_digest, study_digest, primary_outcomes, reason, sender=sponsor
        )
        event = receipt.decode_logs(self.contract.TrialAmended)[0]
        return int(event.version), bool(event.outcomeSwitch), receipt

    def enrol(self, participant: Any, trial_id: int, expected_version: int) -> Any:
        """Enrol ``participant`` (their research consent to the sponsor must be in place) in
        the trial as it is at ``expected_version`` (refused if it was amended since)."""
        return self.contract.enrol(trial_id, expected_version, sender=participant)

    def record_withdrawal(self, sender: Any, trial_id: int, participant: str) -> Any:
        """Record that ``participant`` revoked the enrolment consent (anyone may)."""
        return self.contract.recordWithdrawal(
            trial_id, to_checksum_address(participant), sender=sender
        )

    def post_results(self, sponsor: Any, trial_id: int, results_digest: bytes) -> Any:
        """Post the results resource's digest (once)."""
        return self.contract.postResults(trial_id, results_digest, sender=sponsor)

    def fund(self, sponsor: Any, trial_id: int, amount: int) -> Any:
        """Add ``amount`` token units to the trial's reward escrow (approve first)."""
        return self.contract.fund(trial_id, amount, sender=sponsor)

    def reclaim(self, sponsor: Any, trial_id: int) -> Any:
        """Take back the escrow nobody is owed, after the claim window."""
        return self.contract.reclaim(trial_id, sender=sponsor)

    def claim_contribution(
        self,
        participant: Any,
        trial_id: int,
        record_id: bytes,
        version: int,
        read_at: int,
        root: bytes,
        proof: list[bytes],
    ) -> tuple[int, Any]:
        """Be paid for one receipted read; returns (token units, receipt)."""
        receipt = self.contract.claimContribution(
            trial_id, record_id, version, read_at, root, proof, sender=participant
        )
        event = receipt.decode_logs(self.contract.ContributionRewarded)[0]
        return int(event.amount), receipt

    def attest_milestone(
        self, sponsor: Any, trial_id: int, participant: str, milestone: bytes
    ) -> Any:
        """Attest that ``participant`` completed ``milestone`` (a code hash)."""
        return self.contract.attestMilestone(
            trial_id, to_checksum_address(participant), milestone, sender=sponsor
        )

    def claim_milestones(self, participant: Any, trial_id: int) -> tuple[int, Any]:
        """Be paid every attested milestone; returns (token units, receipt)."""
        receipt = self.contract.claimMilestones(trial_id, sender=participant)
        event = receipt.decode_logs(self.contract.RewardsClaimed)[0]
        return int(event.amount), receipt

    # reads -------------------------------------------------------------------------
    def count(self) -> int:
        """How many trials were registered (ids 1 to this)."""
        return int(self.contract.trialCount.call())

    def trial(self, trial_id: int) -> TrialView | None:
        """A trial, or None."""
        t = self.contract.getTrial.call(trial_id)
        if int(str(t.sponsor), 16) == 0:
            return None
        return TrialView(
            trial_id=trial_id,
            sponsor=str(t.sponsor),
            version=int(t.version),
            outcome_switches=int(t.outcomeSwitches),
            enrolled=int(t.enrolled),
            first_enrolment_at=int(t.firstEnrolmentAt),
            results_at=int(t.resultsAt),
            planned_enrolment=int(t.plannedEnrolment),
            enrolment_closes=int(t.enrolmentCloses),
            ends_at=int(t.endsAt),
            results_due=int(t.resultsDue),
            scope=Scope(ScopeKind(int(t.scopeKind)), bytes(t.scopeValue)),
            primary_outcomes=bytes(t.primaryOutcomes),
            results_digest=bytes(t.resultsDigest),
            reward_per_contribution=int(t.rewardPerContribution),
            reward_per_milestone=int(t.rewardPerMilestone),
            reward_cap=int(t.rewardCap),
            escrow=int(t.escrow),
            reserved=int(t.reserved),
        )

    def versions(self, trial_id: int, count: int) -> list[TrialVersion]:
        """Versions 1 to ``count`` of a trial's protocol."""
        raws = self.contract.getVersion.calls([(trial_id, n) for n in range(1, count + 1)])
        return [
            TrialVersion(
                number,
                bytes(v.protocolDigest),
                bytes(v.studyDigest),
                bytes(v.primaryOutcomes),
                int(v.registeredAt),
                bool(v.outcomeSwitch),
            )
            for number, v in enumerate(raws, start=1)
        ]

    def amendments(self, trial_id: int) -> list[Amendment]:
        """Every amendment of a trial, oldest first, with its public reason."""
        logs = self.contract.logs(self.contract.TrialAmended, {"trialId": trial_id})
        return [
            Amendment(
                trial_id,
                int(log.version),
                bool(log.outcomeSwitch),
                str(log.reason),
                int(log.block_number),
            )
            for log in logs
        ]

    def version_position(self, trial_id: int, version: int) -> tuple[int, int]:
        """Where version ``version`` was registered in the chain: (block, log index) of its
        TrialRegistered (version 1) or TrialAmended event."""
        if version == 1:
            logs = self.contract.logs(self.contract.TrialRegistered, {"trialId": trial_id})
        else:
            logs = [
                log
                for log in self.contract.logs(self.contract.TrialAmended, {"trialId": trial_id})
                if int(log.version) == version
            ]
        if not logs:
            raise LookupError(f"trial {trial_id} has no version {version} in the chain's events")
        return log_order(logs[0])

    def first_enrolment(self, trial_id: int) -> tuple[int, int] | None:
        """Where the first enrolment happened (block, log index), or None: with
        :meth:`version_position`, the chain's own order of "registered" and "enrolled"."""
        logs = self.contract.logs(self.contract.ParticipantEnrolled, {"trialId": trial_id})
        return log_order(logs[0]) if logs else None

    def enrolment(self, trial_id: int, participant: str) -> TrialEnrolment:
        """``participant``'s enrolment (``enrolled_at`` 0 if none)."""
        e = self.contract.getEnrolment.call(trial_id, to_checksum_address(participant))
        return TrialEnrolment(
            int(e.enrolledAt), int(e.consentVersion), int(e.withdrawnAt), int(e.paid), int(e.owed)
        )

    def participants(self, trial_id: int) -> list[str]:
        """The addresses enrolled, in enrolment order (pseudonymous, as the consent is)."""
        logs = self.contract.logs(self.contract.ParticipantEnrolled, {"trialId": trial_id})
        return [str(log.participant) for log in logs]

    def rewarded(self, key: bytes) -> bool:
        """Whether a contribution or milestone key was rewarded."""
        return bool(self.contract.rewarded.call(key))

    def overdue(self, trial_id: int) -> bool:
        """The chain's own answer: past its results date without results."""
        return bool(self.contract.isOverdue.call(trial_id))
