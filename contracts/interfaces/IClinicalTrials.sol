// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsentManager} from "./IConsentManager.sol";

/// @title IClinicalTrials
/// @notice Clinical trials registered before they start, and participants rewarded for
/// taking part. A sponsor (`SPONSOR_ROLE`, admitted by governance) registers a trial: the
/// digests of its public protocol document and of its FHIR ResearchStudy (the outcome
/// measures) on IPFS, a hash of its primary outcomes, the consent scope the protocol needs,
/// the planned enrolment and its dates. Amendments are new versions with a reason; one that
/// changes the primary outcomes after the first enrolment is flagged as an outcome switch,
/// forever. Results are a FHIR resource on IPFS whose digest is posted here; a trial past its
/// results date without results is overdue.
///
/// Enrolment is a consent, not a second consent system: the participant grants the sponsor,
/// in the ConsentManager, purpose Research over the trial's scope until the trial's end, then
/// enrols; withdrawing is revoking that consent. The contract counts enrolments; it names a
/// participant only by the address the consent already shows.
///
/// Rewards come from a per-trial escrow in the settlement stablecoin (the ClaimsManager's),
/// pulled by the participant: per data contribution — a record version the sponsor read under
/// the consent, proven by the sponsor's signed access receipt in a batch the sponsor anchored
/// in the AccessLog — and per milestone the sponsor attests; each exactly once, capped per
/// participant. A withdrawn consent stops future rewards, not earned ones.
/// @dev The chain's clock decides every "before": a version's `registeredAt` and the trial's
/// `firstEnrolmentAt` are block timestamps. A contribution's receipt is the AccessLog's
/// EIP-712 `AccessReceipt(address reader,address patient,bytes32 recordId,uint32 version,
/// uint8 purpose,uint64 readAt)` (domain "carechain AccessLog", version "1", this chain, the
/// AccessLog) with reader = the sponsor, patient = the caller and purpose = Research, so a
/// receipt of any other read never verifies.
interface IClinicalTrials {
    /// @notice What a sponsor registers (and what stays fixed: scope, dates, rewards).
    struct Registration {
        bytes32 protocolDigest; // sha2-256 digest of the public protocol document on IPFS
        bytes32 studyDigest; // sha2-256 digest of the FHIR ResearchStudy (outcome measures) on IPFS
        bytes32 primaryOutcomes; // keccak256 of the primary outcome measures' names (see the SDK)
        IConsentManager.ScopeKind scopeKind; // what the enrolment consent must cover: Category or All
        bytes32 scopeValue; // the category code (Category) or 0 (All)
        uint32 plannedEnrolment; // participants wanted; enrolment closes when reached
        uint40 enrolmentCloses; // no enrolment from this time on
        uint40 endsAt; // the trial's end: the enrolment consent must end exactly then
        uint40 resultsDue; // results are due by this time, or the trial is overdue
        uint64 rewardPerContribution; // token units per rewarded data contribution (0: none)
        uint64 rewardPerMilestone; // token units per attested milestone (0: none)
        uint64 rewardCap; // most token units one participant can earn in this trial
    }

    /// @notice A trial as storage keeps it.
    struct Trial {
        address sponsor; // who registered it (zero: no such trial)
        uint16 version; // current protocol version (1 = as registered)
        uint16 outcomeSwitches; // amendments that changed the primary outcomes after the first enrolment
        uint32 enrolled; // participants enrolled (withdrawals included)
        uint40 firstEnrolmentAt; // when the first participant enrolled (0: none yet)
        uint40 resultsAt; // when results were posted (0: not yet)
        uint32 plannedEnrolment; // see Registration
        uint40 enrolmentCloses; // see Registration
        uint40 endsAt; // see Registration
        uint40 resultsDue; // see Registration
        IConsentManager.ScopeKind scopeKind; // see Registration
        bytes32 scopeValue; // see Registration
        bytes32 primaryOutcomes; // the current version's primary-outcome hash
        bytes32 resultsDigest; // sha2-256 digest of the results resource on IPFS (0: none)
        uint64 rewardPerContribution; // see Registration
        uint64 rewardPerMilestone; // see Registration
        uint64 rewardCap; // see Registration
        uint128 escrow; // token units held for this trial's rewards
        uint128 reserved; // of which attested milestones owed to participants
    }

    /// @notice One version of a trial's protocol.
    struct Version {
        bytes32 protocolDigest; // the protocol document's digest
        bytes32 studyDigest; // the ResearchStudy's digest
        bytes32 primaryOutcomes; // the primary outcomes' hash
        uint40 registeredAt; // when this version was registered (block time)
        bool outcomeSwitch; // it changed the primary outcomes after the first enrolment
    }

    /// @notice A participant's enrolment (one slot).
    struct Enrolment {
        uint40 enrolledAt; // when they enrolled (0: not enrolled)
        uint16 consentVersion; // the consent's decision count at enrolment; any later decision withdraws
        uint40 withdrawnAt; // when the withdrawal was recorded (0: not recorded)
        uint64 paid; // token units paid out to them
        uint64 owed; // attested milestones not yet claimed
    }

    event TrialRegistered(
        uint32 indexed trialId,
        address indexed sponsor,
        bytes32 protocolDigest,
        bytes32 studyDigest,
        bytes32 primaryOutcomes,
        uint32 plannedEnrolment,
        uint40 enrolmentCloses,
        uint40 endsAt,
        uint40 resultsDue
    );
    /// @notice A new protocol version; `outcomeSwitch` if it changed the primary outcomes
    /// after the first enrolment.
    event TrialAmended(
        uint32 indexed trialId,
        uint16 version,
        bytes32 protocolDigest,
        bytes32 studyDigest,
        bytes32 primaryOutcomes,
        bool outcomeSwitch,
        string reason
    );
    event ParticipantEnrolled(uint32 indexed trialId, address indexed participant, bytes32 grantId);
    event WithdrawalRecorded(uint32 indexed trialId, address indexed participant);
    event ResultsPosted(uint32 indexed trialId, bytes32 resultsDigest, uint16 version);
    event EscrowFunded(uint32 indexed trialId, address indexed from, uint256 amount);
    event EscrowReclaimed(uint32 indexed trialId, uint256 amount);
    /// @notice `contributionId` = keccak256(abi.encode(sponsor, participant, recordId, version)):
    /// one reward per record version read, across the sponsor's trials.
    event ContributionRewarded(
        uint32 indexed trialId, address indexed participant, bytes32 contributionId, uint64 amount
    );
    event MilestoneAttested(
        uint32 indexed trialId, address indexed participant, bytes32 milestone, uint64 amount
    );
    event RewardsClaimed(uint32 indexed trialId, address indexed participant, uint64 amount);

    /// @notice No trial has this id.
    error UnknownTrial(uint32 trialId);
    /// @notice Only the trial's sponsor may do this.
    error NotSponsor(uint32 trialId, address caller);
    /// @notice A digest, outcome hash or reason is missing (or a reason is over 256 bytes).
    error MissingValue(string what);
    /// @notice The enrolment scope must be a category (code 0-255) or all records.
    error InvalidScope(IConsentManager.ScopeKind kind, bytes32 value);
    /// @notice Dates must run now < enrolmentCloses <= endsAt <= resultsDue < 2^32, with at
    /// least one planned participant.
    error InvalidSchedule(uint32 plannedEnrolment, uint40 enrolmentCloses, uint40 endsAt, uint40 resultsDue);
    /// @notice Results were posted: the trial takes no amendments, results or enrolments.
    error ResultsAlreadyPosted(uint32 trialId, uint40 resultsAt);
    /// @notice Enrolment is closed: past `enrolmentCloses`, or `plannedEnrolment` reached.
    error EnrolmentClosed(uint32 trialId, uint40 enrolmentCloses, uint32 enrolled);
    error AlreadyEnrolled(uint32 trialId, address participant);
    /// @notice The trial was amended since the version the participant agreed to: read the
    /// new version, then enrol with it.
    error VersionChanged(uint32 trialId, uint16 expected, uint16 current);
    error NotEnrolled(uint32 trialId, address participant);
    /// @notice The caller has no research consent to the sponsor over the trial's scope,
    /// started and ending exactly at the trial's end (grant it in the ConsentManager first).
    error ConsentRequired(uint32 trialId, bytes32 grantId, uint40 endsAt);
    /// @notice The participant's enrolment consent still stands: no withdrawal to record.
    error ConsentStillGiven(uint32 trialId, address participant);
    /// @notice The participant's part ended: the trial is over, or they withdrew (revoked or
    /// changed the enrolment consent).
    error ParticipationEnded(uint32 trialId, address participant);
    /// @notice The receipt is not in a batch the sponsor anchored (or not a research read
    /// of the caller's record by the sponsor).
    error ReceiptNotAnchored(bytes32 root, bytes32 receiptDigest);
    /// @notice The receipt's batch was not anchored while the participant was enrolled and
    /// consenting: before enrolment, or after `lastCounted` (the trial's last second, or the
    /// second the participant's withdrawal was recorded). Times are the chain's.
    error AnchoredOutsideEnrolment(uint40 anchoredAt, uint40 enrolledAt, uint40 lastCounted);
    /// @notice The record is not the caller's, or outside the trial's consent scope.
    error RecordOutsideScope(bytes32 recordId, address patient, uint8 category);
    /// @notice This contribution (record version) or milestone was rewarded already.
    error AlreadyRewarded(uint32 trialId, address participant, bytes32 key);
    /// @notice The trial pays no reward of this kind.
    error NoReward(uint32 trialId);
    /// @notice The reward would take the participant past the trial's cap.
    error RewardCapReached(uint32 trialId, address participant, uint64 earned, uint64 cap);
    /// @notice The escrow's unreserved balance does not cover the reward.
    error InsufficientEscrow(uint32 trialId, uint256 available, uint256 needed);
    error InvalidAmount(uint256 amount);
    error NothingOwed(uint32 trialId, address participant);
    /// @notice Leftover escrow is reclaimable only after the trial's end plus the claim window.
    error ClaimWindowOpen(uint32 trialId, uint256 closesAt);

    /// @notice Register a trial as its sponsor (`SPONSOR_ROLE`). Version 1 is registered now.
    /// @return trialId The new trial's id (1, 2, ...).
    function register(Registration calldata registration) external returns (uint32 trialId);

    /// @notice A new protocol version, with a reason (public, at most 256 bytes). Changing the
    /// primary outcomes after the first enrolment is allowed only this way and is flagged.
    /// @return version The new version number.
    /// @return outcomeSwitch Whether it is flagged as an outcome switch.
    function amend(
        uint32 trialId,
        bytes32 protocolDigest,
        bytes32 studyDigest,
        bytes32 primaryOutcomes,
        string calldata reason
    ) external returns (uint16 version, bool outcomeSwitch);

    /// @notice Enrol the caller: they must already have granted the sponsor the trial's
    /// research consent (scope, until the trial's end). Refused once enrolment closed, and
    /// when the trial is no longer at `expectedVersion` (the version the participant read and
    /// agreed to: an amendment sent in front of the enrolment cannot bind them).
    /// @return grantId The enrolment consent.
    function enrol(uint32 trialId, uint16 expectedVersion) external returns (bytes32 grantId);

    /// @notice Record that `participant` withdrew (revoked or changed the enrolment consent);
    /// anyone may call. Receipts anchored after this second earn nothing; until it is
    /// recorded, the contract cannot tell when the consent was revoked.
    function recordWithdrawal(uint32 trialId, address participant) external;

    /// @notice The sponsor posts the results resource's digest; once, closing enrolment.
    function postResults(uint32 trialId, bytes32 resultsDigest) external;

    /// @notice The sponsor adds `amount` token units to the trial's reward escrow.
    function fund(uint32 trialId, uint256 amount) external;

    /// @notice The sponsor takes back what no participant is owed, once the trial ended more
    /// than CLAIM_WINDOW ago.
    function reclaim(uint32 trialId) external;

    /// @notice The caller is paid for one record version the sponsor read under the caller's
    /// enrolment consent, proven by the sponsor's receipt in a batch the sponsor anchored.
    /// @param recordId The record read (the caller's, inside the trial's scope).
    /// @param version The version read.
    /// @param readAt The receipt's read time (the reader's clock: part of what it signed; the
    /// enrolment window is checked on the batch's anchoring time, the chain's clock).
    /// @param root The anchored batch's Merkle root.
    /// @param proof The receipt's Merkle path to `root`.
    /// @return amount Token units paid.
    function claimContribution(
        uint32 trialId,
        bytes32 recordId,
        uint32 version,
        uint64 readAt,
        bytes32 root,
        bytes32[] calldata proof
    ) external returns (uint64 amount);

    /// @notice The sponsor attests that `participant` completed `milestone` (a code hash); the
    /// reward is reserved for the participant to claim.
    function attestMilestone(uint32 trialId, address participant, bytes32 milestone) external;

    /// @notice The caller is paid every attested milestone reward it is owed in this trial.
    /// @return amount Token units paid.
    function claimMilestones(uint32 trialId) external returns (uint64 amount);

    /// @notice A trial (sponsor zero if none).
    function getTrial(uint32 trialId) external view returns (Trial memory);
    /// @notice Version `version` (1 = as registered) of a trial's protocol.
    function getVersion(uint32 trialId, uint16 version) external view returns (Version memory);
    /// @notice A participant's enrolment (enrolledAt zero if none).
    function getEnrolment(uint32 trialId, address participant) external view returns (Enrolment memory);
    /// @notice Past its results date without results.
    function isOverdue(uint32 trialId) external view returns (bool);
    /// @notice Whether the contribution or milestone `key` was rewarded: a contribution's key
    /// is `keccak256(abi.encode(sponsor, participant, recordId, version))` (across the
    /// sponsor's trials: a receipt does not say which trial a read was for), a milestone's
    /// `keccak256(abi.encode(trialId, participant, milestone))`.
    function rewarded(bytes32 key) external view returns (bool);
    /// @notice How many trials were registered (ids run 1 to this).
    function trialCount() external view returns (uint32);
}
