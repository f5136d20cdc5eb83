// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IClinicalTrials} from "./interfaces/IClinicalTrials.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";
import {IAccessLog} from "./interfaces/IAccessLog.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {SPONSOR_ROLE, ZeroAddress} from "./Common.sol";

/// @title ClinicalTrials
/// @notice Trials registered before they start, outcome switches that stay visible, and
/// participants paid from a reward escrow for consented, receipted data and attested milestones.
contract ClinicalTrials is IClinicalTrials, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice How long after a trial's end participants can still claim before the sponsor
    /// may take back the unclaimed escrow.
    uint256 public constant CLAIM_WINDOW = 90 days;
    /// @notice The longest amendment reason, in bytes.
    uint256 public constant MAX_REASON = 256;

    bytes32 private constant RECEIPT_TYPEHASH = keccak256(
        "AccessReceipt(address reader,address patient,bytes32 recordId,uint32 version,uint8 purpose,uint64 readAt)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant RECEIPT_DOMAIN_NAME = keccak256("carechain AccessLog");
    bytes32 private constant RECEIPT_DOMAIN_VERSION = keccak256("1");

    IRecordRegistry public immutable registry;
    IConsentManager public immutable consent;
    IAccessLog public immutable accessLog;
    /// @notice The settlement stablecoin: the ClaimsManager's (deployed with the same token,
    /// whose 6 decimals the ClaimsManager checks).
    IERC20 public immutable token;

    mapping(uint32 trialId => Trial trial) private _trials;
    mapping(uint32 trialId => mapping(uint16 version => Version record)) private _versions;
    mapping(uint32 trialId => mapping(address participant => Enrolment enrolment)) private _enrolments;
    mapping(bytes32 key => bool done) private _rewarded;
    uint32 private _trialCount;

    constructor(IRecordRegistry registry_, IConsentManager consent_, IAccessLog accessLog_, IERC20 token_) {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        if (address(consent_) == address(0)) revert ZeroAddress("consent");
        if (address(accessLog_) == address(0)) revert ZeroAddress("accessLog");
        if (address(token_) == address(0)) revert ZeroAddress("token");
        registry = registry_;
        consent = consent_;
        accessLog = accessLog_;
        token = token_;
    }

    // ------------------------------------------------------------------ the protocol

    /// @inheritdoc IClinicalTrials
    function register(Registration calldata r) external returns (uint32 trialId) {
        if (!registry.hasRole(SPONSOR_ROLE, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, SPONSOR_ROLE);
        }
        _requireDigests(r.protocolDigest, r.studyDigest, r.primaryOutcomes);
        if (
            r.scopeKind == IConsentManager.ScopeKind.Record
                || uint256(r.scopeValue) > (r.scopeKind == IConsentManager.ScopeKind.Category ? 255 : 0)
        ) revert InvalidScope(r.scopeKind, r.scopeValue);
        if (
            r.plannedEnrolment == 0 || r.enrolmentCloses <= block.timestamp || r.endsAt < r.enrolmentCloses
                || r.resultsDue < r.endsAt || r.resultsDue > type(uint32).max
        ) revert InvalidSchedule(r.plannedEnrolment, r.enrolmentCloses, r.endsAt, r.resultsDue);
        trialId = ++_trialCount;
        Trial storage trial = _trials[trialId];
        trial.sponsor = msg.sender;
        trial.version = 1;
        trial.plannedEnrolment = r.plannedEnrolment;
        trial.enrolmentCloses = r.enrolmentCloses;
        trial.endsAt = r.endsAt;
        trial.resultsDue = r.resultsDue;
        trial.scopeKind = r.scopeKind;
        trial.scopeValue = r.scopeValue;
        trial.primaryOutcomes = r.primaryOutcomes;
        trial.rewardPerContribution = r.rewardPerContribution;
        trial.rewardPerMilestone = r.rewardPerMilestone;
        trial.rewardCap = r.rewardCap;
        _versions[trialId][1] = Version({
            protocolDigest: r.protocolDigest,
            studyDigest: r.studyDigest,
            primaryOutcomes: r.primaryOutcomes,
            registeredAt: uint40(block.timestamp),
            outcomeSwitch: false
        });
        emit TrialRegistered(
            trialId,
            msg.sender,
            r.protocolDigest,
            r.studyDigest,
            r.primaryOutcomes,
            r.plannedEnrolment,
            r.enrolmentCloses,
            r.endsAt,
            r.resultsDue
        );
    }

    /// @inheritdoc IClinicalTrials
    function amend(
        uint32 trialId,
        bytes32 protocolDigest,
        bytes32 studyDigest,
        bytes32 primaryOutcomes,
        string calldata reason
    ) external returns (uint16 version, bool outcomeSwitch) {
        Trial storage trial = _sponsored(trialId);
        _requireNoResults(trialId, trial);
        _requireDigests(protocolDigest, studyDigest, primaryOutcomes);
        uint256 length = bytes(reason).length;
        if (length == 0 || length > MAX_REASON) revert MissingValue("reason");
        outcomeSwitch = primaryOutcomes != trial.primaryOutcomes && trial.firstEnrolmentAt != 0;
        version = ++trial.version;
        if (outcomeSwitch) ++trial.outcomeSwitches;
        trial.primaryOutcomes = primaryOutcomes;
        _versions[trialId][version] = Version({
            protocolDigest: protocolDigest,
            studyDigest: studyDigest,
            primaryOutcomes: primaryOutcomes,
            registeredAt: uint40(block.timestamp),
            outcomeSwitch: outcomeSwitch
        });
        emit TrialAmended(trialId, version, protocolDigest, studyDigest, primaryOutcomes, outcomeSwitch, reason);
    }

    /// @inheritdoc IClinicalTrials
    function postResults(uint32 trialId, bytes32 resultsDigest) external {
        Trial storage trial = _sponsored(trialId);
        _requireNoResults(trialId, trial);
        if (resultsDigest == bytes32(0)) revert MissingValue("results");
        trial.resultsAt = uint40(block.timestamp);
        trial.resultsDigest = resultsDigest;
        emit ResultsPosted(trialId, resultsDigest, trial.version);
    }

    // ------------------------------------------------------------------ enrolment

    /// @inheritdoc IClinicalTrials
    function enrol(uint32 trialId, uint16 expectedVersion) external returns (bytes32 grantId) {
        Trial storage trial = _trial(trialId);
        if (
            block.timestamp >= trial.enrolmentCloses || trial.resultsAt != 0
                || trial.enrolled >= trial.plannedEnrolment
        ) revert EnrolmentClosed(trialId, trial.enrolmentCloses, trial.enrolled);
        if (trial.version != expectedVersion) revert VersionChanged(trialId, expectedVersion, trial.version);
        Enrolment storage enrolment = _enrolments[trialId][msg.sender];
        if (enrolment.enrolledAt != 0) revert AlreadyEnrolled(trialId, msg.sender);
        grantId = _grantId(trial, msg.sender);
        IConsentManager.Consent memory given = consent.getConsent(grantId);
        // The patient's own permission (not a denial), in force now, ending with the trial.
        if (given.deny || given.start > block.timestamp || given.end != trial.endsAt) {
            revert ConsentRequired(trialId, grantId, trial.endsAt);
        }
        enrolment.enrolledAt = uint40(block.timestamp);
        enrolment.consentVersion = given.version;
        ++trial.enrolled;
        if (trial.firstEnrolmentAt == 0) trial.firstEnrolmentAt = uint40(block.timestamp);
        emit ParticipantEnrolled(trialId, msg.sender, grantId);
    }

    /// @inheritdoc IClinicalTrials
    function recordWithdrawal(uint32 trialId, address participant) external {
        Trial storage trial = _trial(trialId);
        Enrolment storage enrolment = _enrolled(trialId, participant);
        if (enrolment.withdrawnAt != 0 || _consentStands(trial, participant, enrolment)) {
            revert ConsentStillGiven(trialId, participant);
        }
        enrolment.withdrawnAt = uint40(block.timestamp);
        emit WithdrawalRecorded(trialId, participant);
    }

    // ------------------------------------------------------------------ escrow

    /// @inheritdoc IClinicalTrials
    function fund(uint32 trialId, uint256 amount) external nonReentrant {
        Trial storage trial = _sponsored(trialId);
        if (amount == 0) revert InvalidAmount(amount);
        // Count what arrived, so a fee-taking token cannot inflate the escrow.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        trial.escrow += SafeCast.toUint128(received);
        emit EscrowFunded(trialId, msg.sender, received);
    }

    /// @inheritdoc IClinicalTrials
    function reclaim(uint32 trialId) external nonReentrant {
        Trial storage trial = _sponsored(trialId);
        uint256 closesAt = uint256(trial.endsAt) + CLAIM_WINDOW;
        if (block.timestamp < closesAt) revert ClaimWindowOpen(trialId, closesAt);
        uint128 amount = trial.escrow - trial.reserved;
        if (amount == 0) revert InvalidAmount(0);
        trial.escrow -= amount;
        emit EscrowReclaimed(trialId, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ rewards

    /// @inheritdoc IClinicalTrials
    function claimContribution(
        uint32 trialId,
        bytes32 recordId,
        uint32 version,
        uint64 readAt,
        bytes32 root,
        bytes32[] calldata proof
    ) external nonReentrant returns (uint64 amount) {
        Trial storage trial = _trial(trialId);
        Enrolment storage enrolment = _enrolled(trialId, msg.sender);
        address sponsor = trial.sponsor;
        bytes32 digest = _receiptDigest(sponsor, msg.sender, recordId, version, readAt);
        if (!accessLog.verifyReceipt(sponsor, root, digest, proof)) revert ReceiptNotAnchored(root, digest);
        // Anchored while enrolled, by the chain's clock (a receipt's readAt is the reader's).
        uint40 anchoredAt = accessLog.getBatch(sponsor, root).anchoredAt;
        uint40 last = _lastCounted(trial, msg.sender, enrolment);
        if (anchoredAt < enrolment.enrolledAt || anchoredAt > last) {
            revert AnchoredOutsideEnrolment(anchoredAt, enrolment.enrolledAt, last);
        }
        // The record as it is now: a withdrawal or denial since does not undo an earned reward.
        IRecordRegistry.RecordHead memory record = registry.getRecord(recordId);
        bool inScope = trial.scopeKind == IConsentManager.ScopeKind.All || record.category == uint256(trial.scopeValue);
        if (record.patient != msg.sender || !inScope) {
            revert RecordOutsideScope(recordId, record.patient, record.category);
        }
        amount = trial.rewardPerContribution;
        // Keyed across the sponsor's trials: a receipt does not say which trial a read was
        // for, so one read (one record version) pays once, whichever trial claims it first.
        bytes32 key = keccak256(abi.encode(sponsor, msg.sender, recordId, version));
        _credit(trialId, trial, msg.sender, enrolment, key, amount);
        enrolment.paid += amount;
        trial.escrow -= amount;
        emit ContributionRewarded(trialId, msg.sender, key, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IClinicalTrials
    function attestMilestone(uint32 trialId, address participant, bytes32 milestone) external {
        Trial storage trial = _sponsored(trialId);
        Enrolment storage enrolment = _enrolled(trialId, participant);
        if (!_consentStands(trial, participant, enrolment) || block.timestamp >= trial.endsAt) {
            revert ParticipationEnded(trialId, participant);
        }
        uint64 amount = trial.rewardPerMilestone;
        _credit(trialId, trial, participant, enrolment, keccak256(abi.encode(trialId, participant, milestone)), amount);
        enrolment.owed += amount;
        trial.reserved += amount;
        emit MilestoneAttested(trialId, participant, milestone, amount);
    }

    /// @inheritdoc IClinicalTrials
    function claimMilestones(uint32 trialId) external nonReentrant returns (uint64 amount) {
        Trial storage trial = _trial(trialId);
        Enrolment storage enrolment = _enrolments[trialId][msg.sender];
        amount = enrolment.owed;
        if (amount == 0) revert NothingOwed(trialId, msg.sender);
        enrolment.owed = 0;
        enrolment.paid += amount;
        trial.reserved -= amount;
        trial.escrow -= amount;
        emit RewardsClaimed(trialId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IClinicalTrials
    function getTrial(uint32 trialId) external view returns (Trial memory) {
        return _trials[trialId];
    }

    /// @inheritdoc IClinicalTrials
    function getVersion(uint32 trialId, uint16 version) external view returns (Version memory) {
        return _versions[trialId][version];
    }

    /// @inheritdoc IClinicalTrials
    function getEnrolment(uint32 trialId, address participant) external view returns (Enrolment memory) {
        return _enrolments[trialId][participant];
    }

    /// @inheritdoc IClinicalTrials
    function isOverdue(uint32 trialId) external view returns (bool) {
        Trial storage trial = _trials[trialId];
        return trial.sponsor != address(0) && trial.resultsAt == 0 && block.timestamp > trial.resultsDue;
    }

    /// @inheritdoc IClinicalTrials
    function rewarded(bytes32 key) external view returns (bool) {
        return _rewarded[key];
    }

    /// @inheritdoc IClinicalTrials
    function trialCount() external view returns (uint32) {
        return _trialCount;
    }

    // ------------------------------------------------------------------ internals

    function _trial(uint32 trialId) private view returns (Trial storage trial) {
        trial = _trials[trialId];
        if (trial.sponsor == address(0)) revert UnknownTrial(trialId);
    }

    function _sponsored(uint32 trialId) private view returns (Trial storage trial) {
        trial = _trial(trialId);
        if (trial.sponsor != msg.sender) revert NotSponsor(trialId, msg.sender);
    }

    function _enrolled(uint32 trialId, address participant) private view returns (Enrolment storage enrolment) {
        enrolment = _enrolments[trialId][participant];
        if (enrolment.enrolledAt == 0) revert NotEnrolled(trialId, participant);
    }

    function _requireNoResults(uint32 trialId, Trial storage trial) private view {
        if (trial.resultsAt != 0) revert ResultsAlreadyPosted(trialId, trial.resultsAt);
    }

    function _requireDigests(bytes32 protocolDigest, bytes32 studyDigest, bytes32 primaryOutcomes) private pure {
        if (protocolDigest == bytes32(0)) revert MissingValue("protocolDigest");
        if (studyDigest == bytes32(0)) revert MissingValue("studyDigest");
        if (primaryOutcomes == bytes32(0)) revert MissingValue("primaryOutcomes");
    }

    function _grantId(Trial storage trial, address participant) private view returns (bytes32) {
        return consent.grantIdOf(
            participant, trial.sponsor, trial.scopeKind, trial.scopeValue, IConsentManager.Purpose.Research
        );
    }

    /// @dev The enrolment consent is as it was at enrolment: not revoked, replaced or decided
    /// again (any decision on it moves its version on).
    function _consentStands(Trial storage trial, address participant, Enrolment storage enrolment)
        private
        view
        returns (bool)
    {
        IConsentManager.Consent memory given = consent.getConsent(_grantId(trial, participant));
        return given.end == trial.endsAt && given.version == enrolment.consentVersion;
    }

    /// @dev The last second a batch of receipts may have been anchored in to earn: the
    /// second the withdrawal was recorded (the benefit of the doubt within it goes to the
    /// participant); a withdrawal not recorded yet, now (the contract cannot know when the
    /// consent was revoked: recording it is what stops rewards); never past the trial's last
    /// second (a withdrawn participant earns no longer than a loyal one).
    function _lastCounted(Trial storage trial, address participant, Enrolment storage enrolment)
        private
        view
        returns (uint40)
    {
        uint40 last = trial.endsAt - 1;
        uint40 withdrawn = enrolment.withdrawnAt;
        if (withdrawn == 0 && !_consentStands(trial, participant, enrolment)) withdrawn = uint40(block.timestamp);
        return withdrawn != 0 && withdrawn < last ? withdrawn : last;
    }

    /// @dev Checks a reward of `amount` under `key` and marks it given (the caller pays or
    /// reserves it).
    function _credit(
        uint32 trialId,
        Trial storage trial,
        address participant,
        Enrolment storage enrolment,
        bytes32 key,
        uint64 amount
    ) private {
        if (amount == 0) revert NoReward(trialId);
        if (_rewarded[key]) revert AlreadyRewarded(trialId, participant, key);
        uint64 earned = enrolment.paid + enrolment.owed;
        if (uint256(earned) + amount > trial.rewardCap) {
            revert RewardCapReached(trialId, participant, earned, trial.rewardCap);
        }
        uint256 available = trial.escrow - trial.reserved;
        if (available < amount) revert InsufficientEscrow(trialId, available, amount);
        _rewarded[key] = true;
    }

    function _receiptDigest(address reader, address patient, bytes32 recordId, uint32 version, uint64 readAt)
        private
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, RECEIPT_DOMAIN_NAME, RECEIPT_DOMAIN_VERSION, block.chainid, address(accessLog)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                RECEIPT_TYPEHASH, reader, patient, recordId, version, uint8(IConsentManager.Purpose.Research), readAt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }
}
