"""Clinical trials through the SDK: a sponsor registers, amends, reads under consent, posts
results and funds rewards (:class:`Sponsor`); a participant enrols by consenting, withdraws,
and claims rewards (:func:`enrol`, :func:`withdraw`, :func:`claim_rewards`); anyone checks a
trial against the chain (:func:`inspect_trial`).

Public documents (the protocol, the ResearchStudy, the results) go on IPFS unencrypted after
:func:`~carechain.fhir_trials.check_public`; the chain holds their digests. Every "before"
is the chain's: a version's place among the trial's events against the first enrolment's.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    CarechainError,
    ChainError,
    IntegrityError,
    InvalidRecordError,
    IPFSError,
    NotAuthorizedError,
)
from .fhir import dumps, loads
from .fhir_trials import (
    check_public,
    outcome_measures,
    primary_outcomes_hash,
    reported_outcomes,
    results_findings,
)
from .ipfs import IPFSClient
from .model import SPONSOR_ROLE, Purpose, TrialVersion, TrialView, reason_code
from .onchain import Contracts
from .onchain.contract import missing_role
from .onchain.trials import Registration, contribution_key
from .patient import Patient
from .records import DecryptedRecord, Party


class Sponsor(Party):
    """A trial sponsor (``SPONSOR_ROLE``): registers trials, reads participants' records
    under their research consent (each read receipted on their trail), posts results and
    funds their rewards."""

    def _require_role(self) -> None:
        if not self.contracts.registry.has_role("sponsor", self.address):
            raise NotAuthorizedError(
                "refused before storing anything: " + missing_role(self.address, SPONSOR_ROLE)
            )

    def _publish(self, documents: list[bytes]) -> list[bytes]:
        return [self.ipfs.add(d).digest for d in documents]

    def _unpin(self, digests: list[bytes]) -> None:
        for digest in digests:
            # Best effort: the refusal is what the caller needs to hear.
            with contextlib.suppress(IPFSError):
                self.ipfs.unpin(digest)

    def register_trial(
        self,
        study: dict[str, Any],
        protocol: bytes,
        planned_enrolment: int,
        enrolment_closes: int,
        ends_at: int,
        results_due: int,
        scope: Any,
        reward_per_contribution: int = 0,
        reward_per_milestone: int = 0,
        reward_cap: int = 0,
    ) -> int:
        """Register a trial: the protocol document and the ResearchStudy (its outcome
        measures) are checked (valid FHIR, a primary outcome, nothing personal), stored on
        IPFS unencrypted, and their digests registered with the primary outcomes' hash.
        A refusal unpins what was stored. Returns the trial id."""
        self._require_role()
        outcome_measures(study)  # validated: at least one primary outcome
        check_public(study, self.address)
        check_public(protocol, self.address)
        digests = self._publish([protocol, dumps(study, sort_keys=True).encode()])
        registration = Registration(
            digests[0],
            digests[1],
            primary_outcomes_hash(study),
            scope,
            planned_enrolment,
            enrolment_closes,
            ends_at,
            results_due,
            reward_per_contribution,
            reward_per_milestone,
            reward_cap,
        )
        try:
            trial_id, _ = self.contracts.trials.register(self.account, registration)
        except (CarechainError, ValueError):
            self._unpin(digests)
            raise
        return trial_id

    def amend_trial(
        self, trial_id: int, study: dict[str, Any], reason: str, protocol: bytes | None = None
    ) -> tuple[int, bool]:
        """A new version of the protocol (``protocol`` None: the current document) with its
        public reason. Returns (version, flagged as an outcome switch): changing the primary
        outcomes after the first enrolment is allowed only this way and stays flagged."""
        trial = _trial(self.contracts, trial_id)
        outcome_measures(study)  # validated: at least one primary outcome
        check_public(study, self.address)
        documents = [dumps(study, sort_keys=True).encode()]
        if protocol is not None:
            check_public(protocol, self.address)
            documents.append(protocol)
        digests = self._publish(documents)
        current = self.contracts.trials.versions(trial_id, trial.version)[-1]
        protocol_digest = digests[1] if protocol is not None else current.protocol_digest
        try:
            version, switched, _ = self.contracts.trials.amend(
                self.account,
                trial_id,
                protocol_digest,
                digests[0],
                primary_outcomes_hash(study),
                reason,
            )
        except (CarechainError, ValueError):
            self._unpin(digests)
            raise
        return version, switched

    def read_for_trial(self, record_id: bytes, version: int | None = None) -> DecryptedRecord:
        """Read a participant's record under their research consent (refused outside it);
        the read is receipted (anchor with ``self.receipts.flush()``)."""
        return self.read_record(record_id, version, Purpose.RESEARCH)

    def post_results(self, trial_id: int, results: dict[str, Any]) -> tuple[bytes, list[str]]:
        """Post results (a FHIR EvidenceReport naming the registered outcomes): checked,
        stored on IPFS unencrypted, its digest posted. Returns (digest, findings): what the
        results do against the registered outcomes (an outcome never registered, a primary
        one omitted), which every verifier will see too."""
        report = inspect_trial(self.contracts, self.ipfs, trial_id)
        reported = reported_outcomes(results)
        check_public(results, self.address)
        findings = report.findings_for(reported)
        (digest,) = self._publish([dumps(results, sort_keys=True).encode()])
        try:
            self.contracts.trials.post_results(self.account, trial_id, digest)
        except (CarechainError, ValueError):
            self._unpin([digest])
            raise
        return digest, findings

    def fund_trial(self, trial_id: int, amount: int) -> Any:
        """Move ``amount`` token units into the trial's reward escrow (approves first)."""
        token = self.contracts.claims.token
        trials = self.contracts.trials
        _trial(self.contracts, trial_id)
        if self.contracts.claims.balance_of(self.address) < amount:
            raise ValueError(f"{self.address} holds fewer than {amount} token units")
        if int(token.allowance(self.address, trials.address)) < amount:
            token.approve(trials.address, amount, sender=self.account)
        return trials.fund(self.account, trial_id, amount)

    def attest_milestone(self, trial_id: int, participant: str, milestone: str) -> Any:
        """Attest that ``participant`` completed ``milestone`` (a code, e.g. week-12-visit;
        only its hash goes on-chain): its reward is reserved for them to claim."""
        return self.contracts.trials.attest_milestone(
            self.account, trial_id, participant, reason_code(milestone)
        )


def _trial(contracts: Contracts, trial_id: int) -> TrialView:
    trial = contracts.trials.trial(trial_id)
    if trial is None:
        raise ChainError(
            f"no trial {trial_id} on this deployment ({contracts.trials.count()} registered); "
            "see carechain trials list"
        )
    return trial


# --------------------------------------------------------------------------- participants


def _sharing(contracts: Contracts, participant: str, trial: TrialView) -> list[int]:
    """The trials ``participant`` is enrolled in (not withdrawn) that stand on the same research
    consent as ``trial`` (same sponsor and scope: one consent id, as given at enrolment),
    ``trial`` included."""
    grant_id = contracts.consent.grant_id(participant, trial.sponsor, trial.scope, Purpose.RESEARCH)
    given = contracts.consent.contract.getConsent.call(grant_id)
    found = []
    for trial_id in range(1, contracts.trials.count() + 1):
        other = contracts.trials.trial(trial_id)
        if other is None or (other.sponsor, other.scope) != (trial.sponsor, trial.scope):
            continue
        enrolment = contracts.trials.enrolment(trial_id, participant)
        if (
            enrolment.enrolled_at
            and not enrolment.withdrawn_at
            and int(given.end) == other.ends_at
            and int(given.version) == enrolment.consent_version
        ):
            found.append(trial_id)
    return found


def enrol(patient: Patient, trial_id: int, version: int | None = None) -> bytes:
    """Enrol ``patient`` in a trial: consent to the sponsor (purpose research, the trial's
    scope, until the trial's end; the data keys in scope wrapped to the sponsor), then
    enrol. Checked against the chain first. A consent already standing for the trial (given
    for another trial of the sponsor over the same scope and end) is reused, not granted again:
    granting again would count as a withdrawal from that other trial; one that ends at another
    time while it holds another enrolment is refused. If the enrolment is refused, a consent
    granted here is revoked again so nothing is left half-done (one it did not grant is left
    alone). ``version``: the trial version the patient read and agrees to (default: the
    current one, as read here); the chain refuses the enrolment if the trial was amended
    since. Returns the consent's id."""
    contracts = patient.contracts
    trial = _trial(contracts, trial_id)
    version = trial.version if version is None else version
    now = contracts.node.head_timestamp()
    if trial.status(now) != "recruiting":
        raise ChainError(f"trial {trial_id} is not recruiting ({trial.status(now)})")
    if contracts.trials.enrolment(trial_id, patient.address).enrolled_at:
        raise ChainError(f"{patient.address} is already enrolled in trial {trial_id}")
    grant_id = contracts.consent.grant_id(
        patient.address, trial.sponsor, trial.scope, Purpose.RESEARCH
    )
    given = contracts.consent.contract.getConsent.call(grant_id)
    standing = not given.deny and int(given.start) <= now and int(given.end) == trial.ends_at
    granted = False
    if not standing:
        others = _sharing(contracts, patient.address, trial)
        if others:
            names = ", ".join(str(t) for t in others)
            raise ChainError(
                f"trial {trial_id} ends at another time than trial{'s' if len(others) > 1 else ''}"
                f" {names} of the same sponsor and scope, which stand on the same research "
                f"consent: consenting again would withdraw you from trial"
                f"{'s' if len(others) > 1 else ''} {names}. Nothing was changed; withdraw from "
                "them first if you mean to switch"
            )
        grant_id, _ = patient.grant_access(
            trial.sponsor, trial.scope, Purpose.RESEARCH, trial.ends_at
        )
        granted = True
    try:
        contracts.trials.enrol(patient.account, trial_id, version)
    except (CarechainError, ValueError):
        if granted:
            patient.revoke_access(grant_id)
        raise
    return grant_id


def withdraw(patient: Patient, trial_id: int) -> list[int]:
    """Withdraw from a trial: revoke the enrolment consent (the sponsor reads nothing more)
    and record the withdrawal, so later receipts earn nothing. Earned rewards stay. The
    consent is shared by every trial of the sponsor over the same scope: revoking it
    withdraws from all of them, so each withdrawal is recorded. Returns the trials withdrawn
    from (``trial_id`` first)."""
    contracts = patient.contracts
    trial = _trial(contracts, trial_id)
    if not contracts.trials.enrolment(trial_id, patient.address).enrolled_at:
        raise ChainError(f"{patient.address} is not enrolled in trial {trial_id}: nothing revoked")
    grant_id = contracts.consent.grant_id(
        patient.address, trial.sponsor, trial.scope, Purpose.RESEARCH
    )
    sharing = [t for t in _sharing(contracts, patient.address, trial) if t != trial_id]
    patient.revoke_access(grant_id)
    withdrawn = [trial_id, *sharing]
    for each in withdrawn:
        contracts.trials.record_withdrawal(patient.account, each, patient.address)
    return withdrawn


@dataclass(frozen=True)
class Contribution:
    """A research read of the participant's record by the trial's sponsor, proven on the
    participant's trail: what a reward claim presents."""

    record_id: bytes
    version: int
    read_at: int
    root: bytes
    proof: list[bytes]
    rewarded: bool


def contributions(patient: Patient, trial_id: int) -> list[Contribution]:
    """The sponsor's verified research reads of ``patient``'s records anchored since
    enrolment (the chain's clock), one per record version (the earliest receipt), each marked
    rewarded or not."""
    contracts = patient.contracts
    trial = _trial(contracts, trial_id)
    enrolment = contracts.trials.enrolment(trial_id, patient.address)
    found: dict[tuple[bytes, int], Contribution] = {}
    for entry in patient.audit_trail():
        receipt = entry.receipt
        if (
            not entry.verified
            or receipt is None
            or receipt.reader != trial.sponsor
            or receipt.purpose is not Purpose.RESEARCH
        ):
            continue
        batch = contracts.access_log.batch(entry.reader, entry.root)
        if batch is None or batch.anchored_at < enrolment.enrolled_at:
            continue  # anchored before enrolment: not a trial contribution
        key = (receipt.record_id, receipt.version)
        if key not in found:
            rewarded = contracts.trials.rewarded(
                contribution_key(trial.sponsor, patient.address, *key)
            )
            found[key] = Contribution(*key, receipt.read_at, entry.root, entry.proof, rewarded)
    return list(found.values())


@dataclass(frozen=True)
class RewardClaim:
    """What one claim run paid, and what the chain refused (with its reason)."""

    paid: int
    contributions: int
    milestones: int
    refused: list[str] = field(default_factory=list)


def claim_rewards(patient: Patient, trial_id: int) -> RewardClaim:
    """Claim every unrewarded contribution and every attested milestone of ``patient`` in a
    trial (pull-based: the participant sends). A contribution the chain refuses (read after
    a withdrawal, past the cap, an empty escrow) is reported, not raised."""
    trials = patient.contracts.trials
    paid, count, refused = 0, 0, []
    for item in contributions(patient, trial_id):
        if item.rewarded:
            continue
        try:
            amount, _ = trials.claim_contribution(
                patient.account,
                trial_id,
                item.record_id,
                item.version,
                item.read_at,
                item.root,
                item.proof,
            )
        except ChainError as exc:
            refused.append(f"record 0x{item.record_id.hex()[:10]}… v{item.version}: {exc}")
            continue
        paid, count = paid + amount, count + 1
    milestones = 0
    if trials.enrolment(trial_id, patient.address).owed:
        milestones, _ = trials.claim_milestones(patient.account, trial_id)
    return RewardClaim(paid + milestones, count, milestones, refused)


# --------------------------------------------------------------------------- verifiers


@dataclass(frozen=True)
class VersionReport:
    """One version of a trial: chain facts, its outcomes (from IPFS, checked against the
    chain's digests; None if they could not be read), and where it sits against the first
    enrolment."""

    version: TrialVersion
    reason: str  # "" for version 1
    before_enrolment: bool  # registered before the first enrolment (or nobody enrolled yet)
    primary: list[str] | None
    secondary: list[str] | None
    problem: str = ""  # why its outcomes could not be read or do not match the chain


@dataclass(frozen=True)
class OutcomeCheck:
    """One outcome of the current version: was it registered, as this kind, before
    enrolment began?"""

    name: str
    kind: str  # primary | secondary
    registered_as: str  # its kind in the version in force when enrolment began ("": absent)
    first_version: int  # the version it first appeared in (as any kind)

    @property
    def registered_before_enrolment(self) -> bool:
        """Registered, as this kind, before the first participant enrolled."""
        return self.registered_as == self.kind


@dataclass
class TrialReport:
    """Everything a verifier says about a trial, from the chain and the documents whose
    digests it holds."""

    trial: TrialView
    now: int
    versions: list[VersionReport]
    outcomes: list[OutcomeCheck]
    results_findings: list[str]
    problems: list[str]

    @property
    def overdue(self) -> bool:
        """Past its results date without results."""
        return self.trial.overdue(self.now)

    @property
    def primary_unchanged_since_enrolment(self) -> bool:
        """The chain's own answer, from hashes alone: the primary outcomes now are those in
        force when enrolment began (and no amendment was flagged as an outcome switch)."""
        return self.trial.outcome_switches == 0

    def current_outcomes(self) -> tuple[list[str], list[str]]:
        """(primary, secondary) of the current version (empty if unreadable)."""
        last = self.versions[-1]
        return last.primary or [], last.secondary or []

    def registered_outcomes(self) -> tuple[list[str], list[str]]:
        """(primary, secondary) of the version in force when enrolment began (the current
        one while nobody has enrolled; empty if unreadable): what results are held to."""
        at_enrolment = [v for v in self.versions if v.before_enrolment][-1]
        return at_enrolment.primary or [], at_enrolment.secondary or []

    def findings_for(self, reported: list[str]) -> list[str]:
        """What reported outcomes do against the outcomes registered when enrolment began."""
        primary, secondary = self.registered_outcomes()
        later = [n for v in self.versions for n in (v.primary or []) + (v.secondary or [])]
        return results_findings(primary, secondary, reported, later)

    @property
    def flags(self) -> list[str]:
        """Everything a reader of this trial must be warned about."""
        flags = [
            f"OUTCOME SWITCH in version {v.version.number}: the primary outcomes changed after "
            f"enrolment began ({v.reason})"
            for v in self.versions
            if v.version.outcome_switch
        ]
        if self.overdue:
            flags.append("OVERDUE: results were due and have not been posted")
        flags += [
            f"OUTCOME {c.name!r} ({c.kind}) was NOT registered as {c.kind} before enrolment "
            "began" + (f" (it was {c.registered_as})" if c.registered_as else "")
            for c in self.outcomes
            if not c.registered_before_enrolment
        ]
        flags += [f"RESULTS {finding}" for finding in self.results_findings]
        flags += self.problems
        return flags


def inspect_trial(contracts: Contracts, ipfs: IPFSClient, trial_id: int) -> TrialReport:
    """A trial checked by anyone: its versions in chain order against the first enrolment
    (events), each ResearchStudy fetched from IPFS and checked against its digest and its
    primary-outcome hash, each current outcome answered "registered before enrolment
    began?", and the results (if posted) checked against the registered outcomes."""
    trials = contracts.trials
    trial = _trial(contracts, trial_id)
    now = contracts.node.head_timestamp()
    chain_versions = trials.versions(trial_id, trial.version)
    reasons = {a.version: a for a in trials.amendments(trial_id)}
    first = trials.first_enrolment(trial_id)
    problems: list[str] = []
    versions: list[VersionReport] = []
    for version in chain_versions:
        amendment = reasons.get(version.number)
        position = trials.version_position(trial_id, version.number)
        before = first is None or position < first
        primary = secondary = None
        problem = ""
        try:
            study = loads(ipfs.cat(version.study_digest))
            primary, secondary = outcome_measures(study)
            if primary_outcomes_hash(study) != version.primary_outcomes:
                problem = (
                    f"version {version.number}'s ResearchStudy lists primary outcomes that do "
                    "not hash to the chain's record of them"
                )
        except (IPFSError, IntegrityError, InvalidRecordError, json.JSONDecodeError) as exc:
            problem = f"version {version.number}'s ResearchStudy cannot be read: {exc}"
        if problem:
            problems.append(problem)
        versions.append(
            VersionReport(
                version,
                amendment.reason if amendment else "",
                before,
                primary,
                secondary,
                problem,
            )
        )
    outcomes = _outcome_checks(versions)
    report = TrialReport(trial, now, versions, outcomes, [], problems)
    if trial.results_at:
        try:
            reported = reported_outcomes(loads(ipfs.cat(trial.results_digest)))
            report.results_findings = report.findings_for(reported)
        except (IPFSError, IntegrityError, InvalidRecordError, json.JSONDecodeError) as exc:
            problems.append(f"the results cannot be read: {exc}")
    return report


def _outcome_checks(versions: list[VersionReport]) -> list[OutcomeCheck]:
    current = versions[-1]
    in_force = [v for v in versions if v.before_enrolment]
    at_enrolment = in_force[-1] if in_force else None
    then: dict[str, str] = {}
    if at_enrolment is not None:
        then = {n.casefold(): "secondary" for n in at_enrolment.secondary or []}
        then |= {n.casefold(): "primary" for n in at_enrolment.primary or []}
    checks = []
    for kind, names in (("primary", current.primary or []), ("secondary", current.secondary or [])):
        for name in names:
            first_version = next(
                (
                    v.version.number
                    for v in versions
                    if name.casefold()
                    in {n.casefold() for n in (v.primary or []) + (v.secondary or [])}
                ),
                current.version.number,
            )
            checks.append(OutcomeCheck(name, kind, then.get(name.casefold(), ""), first_version))
    return checks


__all__ = [
    "Contribution",
    "OutcomeCheck",
    "RewardClaim",
    "Sponsor",
    "TrialReport",
    "VersionReport",
    "claim_rewards",
    "contributions",
    "enrol",
    "inspect_trial",
    "withdraw",
]
