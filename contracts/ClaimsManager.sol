// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IClaimsManager} from "./interfaces/IClaimsManager.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {Packing} from "./Packing.sol";
import {PROVIDER_ROLE, INSURER_ROLE, ARBITRATOR_ROLE, ZeroAddress} from "./Common.sol";

/// @title ClaimsManager
/// @notice Escrowed insurance claims over carechain records, settled in one ERC-20.
contract ClaimsManager is IClaimsManager, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice How long after a denial the provider or patient may dispute it.
    uint256 public constant DISPUTE_WINDOW = 14 days;
    /// @notice The most claims one settlement pays.
    uint256 public constant MAX_BATCH = 100;
    /// @notice The settlement token's decimals: amounts are uint64 token units and a claim's
    /// patient share a uint48, which with 6 decimals (USDC, USDT) allows claims up to about
    /// 281 million tokens; 18 decimals would cap a claim at 18.4 tokens.
    uint8 public constant TOKEN_DECIMALS = 6;
    uint256 private constant BPS = 10_000;

    IRecordRegistry public immutable registry;
    IConsentManager public immutable consent;
    IERC20 public immutable token;

    /// @dev A policy in three slots: who and when | whose and what | the money.
    struct Policy {
        address insurer;
        uint40 start;
        uint40 end;
        uint16 copayBps;
        address patient;
        uint64 autoApproveBelow;
        uint32 coveredCategories;
        uint64 limit;
        uint64 deductible;
        uint64 approvedTotal;
        uint64 deductibleUsed;
    }

    /// @dev A denial that can still be disputed: when it was made and what stays reserved
    /// for the arbitrator meanwhile (one slot; both zero once the denial is final).
    struct Denial {
        uint40 deniedAt;
        uint64 reserved;
    }

    mapping(address insurer => Escrow escrow) private _escrows;
    mapping(uint32 policyId => Policy policy) private _policies;
    mapping(bytes32 claimId => Claim claim) private _claims;
    mapping(bytes32 claimId => Denial denial) private _denials;
    mapping(bytes32 recordId => bytes32 claimId) private _evidence;
    mapping(bytes32 providerPatientDay => uint64 total) private _autoApproved;
    mapping(address provider => uint256 owed) private _owed;
    uint32 private _policyCount;

    constructor(IRecordRegistry registry_, IConsentManager consent_, IERC20 token_) {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        if (address(consent_) == address(0)) revert ZeroAddress("consent");
        if (address(token_) == address(0)) revert ZeroAddress("token");
        try IERC20Metadata(address(token_)).decimals() returns (uint8 decimals) {
            if (decimals != TOKEN_DECIMALS) revert UnsupportedToken(address(token_), decimals);
        } catch {
            revert UnsupportedToken(address(token_), 0);
        }
        registry = registry_;
        consent = consent_;
        token = token_;
    }

    // ------------------------------------------------------------------ escrow

    /// @inheritdoc IClaimsManager
    function deposit(uint256 amount) external nonReentrant {
        _requireRole(INSURER_ROLE, msg.sender);
        if (amount == 0) revert InvalidAmount(amount);
        // Count what arrived, so a fee-taking token cannot inflate the escrow.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        _escrows[msg.sender].balance += uint128(received);
        emit Deposited(msg.sender, received);
    }

    /// @inheritdoc IClaimsManager
    function withdraw(uint256 amount) external nonReentrant {
        Escrow storage escrow = _escrows[msg.sender];
        uint256 available = escrow.balance - escrow.reserved;
        if (amount == 0 || amount > available) revert InsufficientEscrow(msg.sender, available, amount);
        escrow.balance -= uint128(amount);
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ policies

    /// @inheritdoc IClaimsManager
    function issuePolicy(PolicyTerms calldata terms) external returns (uint32 policyId) {
        _requireRole(INSURER_ROLE, msg.sender);
        if (terms.patient == address(0)) revert InvalidPolicy("patient is zero");
        if (terms.limit == 0) revert InvalidPolicy("limit is zero");
        if (terms.deductible > terms.limit) revert InvalidPolicy("deductible above the limit");
        if (terms.copayBps > BPS) revert InvalidPolicy("co-pay above 100%");
        if (terms.end <= terms.start || terms.end <= block.timestamp) revert InvalidPolicy("period is empty or over");
        policyId = ++_policyCount;
        _policies[policyId] = Policy({
            insurer: msg.sender,
            start: terms.start,
            end: terms.end,
            copayBps: terms.copayBps,
            patient: terms.patient,
            autoApproveBelow: terms.autoApproveBelow,
            coveredCategories: terms.coveredCategories,
            limit: terms.limit,
            deductible: terms.deductible,
            approvedTotal: 0,
            deductibleUsed: 0
        });
        emit PolicyIssued(policyId, msg.sender, terms.patient, terms);
    }

    // ------------------------------------------------------------------ claims

    /// @inheritdoc IClaimsManager
    function submitClaim(ClaimRequest calldata request) external returns (bytes32 claimId) {
        uint32 providerId = registry.activeProviderId(msg.sender);
        if (providerId == 0) revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, PROVIDER_ROLE);
        // A patient share is stored in 48 bits: refuse what it could not hold.
        if (request.amount == 0 || request.amount > type(uint48).max) revert InvalidAmount(request.amount);
        Policy storage policy_ = _policies[request.policyId];
        address insurer = policy_.insurer;
        if (insurer == address(0)) revert UnknownPolicy(request.policyId);
        address patient = policy_.patient;
        if (request.patient != patient) revert WrongPatient(request.policyId, request.patient);
        uint32 today = uint32(block.timestamp / 1 days);
        if (request.serviceDate > today) revert ServiceDateInFuture(request.serviceDate, today);
        uint256 serviceTime = uint256(request.serviceDate) * 1 days;
        if (serviceTime + 1 days <= policy_.start || serviceTime >= policy_.end) {
            revert PolicyNotActive(request.policyId, request.serviceDate);
        }
        uint256 count = request.recordIds.length;
        if (count == 0) revert NoEvidence();
        claimId = claimIdOf(request.policyId, patient, msg.sender, request.serviceDate, request.codesHash);
        Claim storage claim = _claims[claimId];
        if (claim.status != ClaimStatus.None) revert DuplicateClaim(claimId);
        bool allCovered = _checkEvidence(request.recordIds, claimId, patient, insurer, policy_.coveredCategories);
        bytes32 claimSlot;
        assembly ("memory-safe") {
            claimSlot := claim.slot
        }
        // A fresh claim is one packed word: one SSTORE.
        Packing.store(claimSlot, Packing.newClaim(request.policyId, providerId, ClaimStatus.Submitted, request.amount));
        emit ClaimSubmitted(
            claimId,
            request.policyId,
            msg.sender,
            request.amount,
            request.serviceDate,
            request.codesHash,
            request.recordIds,
            request.claimDigest
        );
        if (allCovered && request.amount <= policy_.autoApproveBelow) {
            _autoApprove(claimId, claim, policy_, providerId, patient, today, request.amount);
        }
    }

    /// @inheritdoc IClaimsManager
    function approveClaim(bytes32 claimId, uint64 amount) external {
        (Claim storage claim, Policy storage policy_) = _insurerClaim(claimId, ClaimStatus.Submitted);
        if (amount == 0 || amount > claim.amount) revert InvalidAmount(amount);
        _approve(claimId, claim, policy_, amount, false);
    }

    /// @inheritdoc IClaimsManager
    function denyClaim(bytes32 claimId, bytes32 reason) external {
        (Claim storage claim, Policy storage policy_) = _insurerClaim(claimId, ClaimStatus.Submitted);
        // The most an arbitrator could award: the claimed amount less its co-pay (a deductible
        // only lowers it), within what is left of the limit (which only shrinks).
        uint64 amount = claim.amount;
        uint64 mostAwarded = amount - uint64((uint256(amount) * policy_.copayBps) / BPS);
        uint64 limitLeft = policy_.limit - policy_.approvedTotal;
        if (mostAwarded > limitLeft) mostAwarded = limitLeft;
        _reserve(msg.sender, mostAwarded);
        claim.status = ClaimStatus.Denied;
        _denials[claimId] = Denial({deniedAt: uint40(block.timestamp), reserved: mostAwarded});
        emit ClaimDenied(claimId, claim.policyId, reason);
    }

    /// @inheritdoc IClaimsManager
    function disputeClaim(bytes32 claimId) external {
        Claim storage claim = _existingClaim(claimId);
        if (claim.status != ClaimStatus.Denied) revert WrongStatus(claimId, claim.status);
        uint256 deniedAt = _denials[claimId].deniedAt;
        if (deniedAt == 0 || block.timestamp >= deniedAt + DISPUTE_WINDOW) {
            revert DisputeWindowClosed(claimId, deniedAt == 0 ? 0 : deniedAt + DISPUTE_WINDOW);
        }
        if (msg.sender != registry.providerAddress(claim.providerId) && msg.sender != _policies[claim.policyId].patient)
        {
            revert NotPartyToClaim(claimId, msg.sender);
        }
        claim.status = ClaimStatus.Disputed;
        emit ClaimDisputed(claimId, msg.sender);
    }

    /// @inheritdoc IClaimsManager
    function resolveDispute(bytes32 claimId, bool approve, uint64 amount, bytes32 reason) external {
        _requireRole(ARBITRATOR_ROLE, msg.sender);
        Claim storage claim = _existingClaim(claimId);
        if (claim.status != ClaimStatus.Disputed) revert WrongStatus(claimId, claim.status);
        if (approve && (amount == 0 || amount > claim.amount)) revert InvalidAmount(amount);
        Policy storage policy_ = _policies[claim.policyId];
        // The reserve kept for this decision goes back first; an award never exceeds it.
        _escrows[policy_.insurer].reserved -= _denials[claimId].reserved;
        delete _denials[claimId]; // final: no second dispute
        if (approve) {
            _approve(claimId, claim, policy_, amount, false);
        } else {
            claim.status = ClaimStatus.Denied;
            emit ClaimDenied(claimId, claim.policyId, reason);
        }
    }

    /// @inheritdoc IClaimsManager
    function finalizeDenial(bytes32 claimId) external {
        Claim storage claim = _existingClaim(claimId);
        if (claim.status != ClaimStatus.Denied) revert WrongStatus(claimId, claim.status);
        Denial memory denial = _denials[claimId];
        if (denial.deniedAt == 0) revert DisputeWindowClosed(claimId, 0);
        uint256 closesAt = uint256(denial.deniedAt) + DISPUTE_WINDOW;
        if (block.timestamp < closesAt) revert DisputeWindowOpen(claimId, closesAt);
        _escrows[_policies[claim.policyId].insurer].reserved -= denial.reserved;
        delete _denials[claimId];
        emit DenialFinal(claimId, denial.reserved);
    }

    /// @inheritdoc IClaimsManager
    function settle(bytes32[] calldata claimIds) external nonReentrant {
        uint256 count = claimIds.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        // Effects first, for the whole batch: every claim Paid, the escrow debited. Claims in a
        // row to the same provider form one payment (one token transfer for the run, not one
        // per claim); the runs are paid after.
        address[] memory payees = new address[](count);
        uint128[] memory amounts = new uint128[](count);
        uint256[] memory ends = new uint256[](count);
        uint256 runs = 0;
        uint128 total = 0;
        uint32 providerId = 0;
        for (uint256 i; i < count; ++i) {
            bytes32 claimId = claimIds[i];
            (Claim storage claim,) = _insurerClaim(claimId, ClaimStatus.Approved);
            uint64 amount = claim.approved;
            claim.status = ClaimStatus.Paid;
            if (i == 0 || claim.providerId != providerId) {
                providerId = claim.providerId;
                payees[runs++] = registry.providerAddress(providerId);
            }
            amounts[runs - 1] += amount;
            ends[runs - 1] = i + 1;
            total += amount;
            emit ClaimPaid(claimId, payees[runs - 1], amount);
        }
        Escrow storage escrow = _escrows[msg.sender];
        escrow.balance -= total;
        escrow.reserved -= total;
        // A payee the token refuses (a blacklist) must not block the batch: its payment waits
        // for it in `_owed`, still backed by tokens this contract holds.
        uint256 start = 0;
        for (uint256 r; r < runs; ++r) {
            address payee = payees[r];
            if (!token.trySafeTransfer(payee, amounts[r])) {
                _owed[payee] += amounts[r];
                for (uint256 i = start; i < ends[r]; ++i) {
                    emit PaymentDeferred(claimIds[i], payee, _claims[claimIds[i]].approved);
                }
            }
            start = ends[r];
        }
    }

    /// @inheritdoc IClaimsManager
    function withdrawOwed(address to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress("to");
        uint256 amount = _owed[msg.sender];
        if (amount == 0) revert NothingOwed(msg.sender);
        delete _owed[msg.sender];
        emit OwedWithdrawn(msg.sender, to, amount);
        token.safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IClaimsManager
    function escrowOf(address insurer) external view returns (Escrow memory) {
        return _escrows[insurer];
    }

    /// @inheritdoc IClaimsManager
    function policy(uint32 policyId)
        external
        view
        returns (address insurer, PolicyTerms memory terms, PolicyUsage memory usage)
    {
        Policy storage p = _policies[policyId];
        if (p.insurer == address(0)) revert UnknownPolicy(policyId);
        terms = PolicyTerms({
            patient: p.patient,
            limit: p.limit,
            deductible: p.deductible,
            copayBps: p.copayBps,
            coveredCategories: p.coveredCategories,
            start: p.start,
            end: p.end,
            autoApproveBelow: p.autoApproveBelow
        });
        return (p.insurer, terms, PolicyUsage({approvedTotal: p.approvedTotal, deductibleUsed: p.deductibleUsed}));
    }

    /// @inheritdoc IClaimsManager
    function getClaim(bytes32 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    /// @inheritdoc IClaimsManager
    function evidenceClaim(bytes32 recordId) external view returns (bytes32) {
        return _evidence[recordId];
    }

    /// @inheritdoc IClaimsManager
    function denialOf(bytes32 claimId) external view returns (uint64 reserved, uint256 disputableUntil) {
        Denial memory denial = _denials[claimId];
        if (denial.deniedAt > 0) return (denial.reserved, uint256(denial.deniedAt) + DISPUTE_WINDOW);
    }

    /// @inheritdoc IClaimsManager
    function owedTo(address provider) external view returns (uint256) {
        return _owed[provider];
    }

    /// @inheritdoc IClaimsManager
    function autoApprovedOn(address provider, address patient, uint32 day) external view returns (uint64) {
        return _autoApproved[_dayKey(registry.providerId(provider), patient, day)];
    }

    /// @inheritdoc IClaimsManager
    function claimIdOf(uint32 policyId, address patient, address provider, uint32 serviceDate, bytes32 codesHash)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(policyId, patient, provider, serviceDate, codesHash));
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every cited record must be the patient's, not retracted, readable by the insurer
    /// for Payment and by the submitting provider for Treatment (its care relationship: the
    /// patient's own on-chain word, since any provider may anchor under any address), written
    /// by the submitting provider (a record binds to the claim of the provider that wrote
    /// it: another provider the patient also consented to cannot bill that visit, nor block
    /// its author from billing it), and back no other claim; each is then bound to `claimId`. Returns whether every record's
    /// category is covered.
    function _checkEvidence(
        bytes32[] calldata recordIds,
        bytes32 claimId,
        address patient,
        address insurer,
        uint32 covered
    ) private returns (bool allCovered) {
        allCovered = true;
        uint256 count = recordIds.length;
        for (uint256 i; i < count; ++i) {
            bytes32 recordId = recordIds[i];
            IRecordRegistry.RecordHead memory head = registry.getRecord(recordId);
            if (head.patient != patient) revert RecordNotOfPatient(recordId, patient);
            if (head.status == IRecordRegistry.RecordStatus.EnteredInError) revert RetractedEvidence(recordId);
            if (!consent.canAccess(insurer, recordId, IConsentManager.Purpose.Payment)) {
                revert NoPaymentConsent(recordId, insurer);
            }
            if (!consent.canAccess(msg.sender, recordId, IConsentManager.Purpose.Treatment)) {
                revert NoCareRelationship(recordId, msg.sender);
            }
            address author = registry.providerAddress(head.authorId);
            if (author != msg.sender) revert NotEvidenceAuthor(recordId, msg.sender, author);
            bytes32 earlier = _evidence[recordId];
            if (earlier != bytes32(0)) revert EvidenceAlreadyClaimed(recordId, earlier);
            _evidence[recordId] = claimId;
            uint8 category = head.category;
            if (category >= 32 || covered & (uint32(1) << category) == 0) allCovered = false;
        }
    }

    /// @dev Approve on submission when this provider's auto-approved claims for the patient
    /// today, this one included, stay within the threshold and escrow allows; otherwise the
    /// claim waits for the insurer (auto-approval never fails a submission).
    function _autoApprove(
        bytes32 claimId,
        Claim storage claim,
        Policy storage policy_,
        uint32 providerId,
        address patient,
        uint32 today,
        uint64 amount
    ) private {
        bytes32 key = _dayKey(providerId, patient, today);
        uint256 total = uint256(_autoApproved[key]) + amount;
        if (total > policy_.autoApproveBelow) return;
        (uint64 pays,,,) = _shares(policy_, amount);
        Escrow storage escrow = _escrows[policy_.insurer];
        if (escrow.balance - escrow.reserved < pays) return;
        _autoApproved[key] = uint64(total); // at most autoApproveBelow
        _approve(claimId, claim, policy_, amount, true);
    }

    function _dayKey(uint32 providerId, address patient, uint32 day) private pure returns (bytes32) {
        return keccak256(abi.encode(providerId, patient, day));
    }

    function _reserve(address insurer, uint64 amount) private {
        Escrow storage escrow = _escrows[insurer];
        uint256 available = escrow.balance - escrow.reserved;
        if (amount > available) revert InsufficientEscrow(insurer, available, amount);
        escrow.reserved += amount;
    }

    /// @dev What the insurer pays and the patient owes for an allowed `amount`: the patient
    /// first pays what is left of the deductible, then the co-pay share of the rest; the
    /// insurer pays the remainder, never past the policy's limit.
    function _shares(Policy storage p, uint64 amount)
        private
        view
        returns (uint64 insurerPays, uint64 patientPays, uint64 deductiblePart, uint64 rest)
    {
        uint64 deductibleLeft = p.deductible - p.deductibleUsed;
        deductiblePart = amount < deductibleLeft ? amount : deductibleLeft;
        rest = amount - deductiblePart;
        uint64 copay = uint64((uint256(rest) * p.copayBps) / BPS);
        insurerPays = rest - copay;
        uint64 limitLeft = p.limit - p.approvedTotal;
        if (insurerPays > limitLeft) insurerPays = limitLeft;
        patientPays = amount - insurerPays;
    }

    function _approve(bytes32 claimId, Claim storage claim, Policy storage p, uint64 amount, bool automatic)
        private
    {
        (uint64 pays, uint64 owes, uint64 deductiblePart,) = _shares(p, amount);
        _reserve(p.insurer, pays);
        p.approvedTotal += pays;
        p.deductibleUsed += deductiblePart;
        claim.status = ClaimStatus.Approved;
        claim.approved = pays;
        claim.patientShare = uint48(owes);
        emit ClaimApproved(claimId, claim.policyId, pays, owes, automatic);
    }

    function _existingClaim(bytes32 claimId) private view returns (Claim storage claim) {
        claim = _claims[claimId];
        if (claim.status == ClaimStatus.None) revert UnknownClaim(claimId);
    }

    /// @dev The claim, which must be in `status` and on a policy of the caller's.
    function _insurerClaim(bytes32 claimId, ClaimStatus status)
        private
        view
        returns (Claim storage claim, Policy storage p)
    {
        claim = _existingClaim(claimId);
        p = _policies[claim.policyId];
        if (p.insurer != msg.sender) revert NotPolicyInsurer(claim.policyId, msg.sender);
        if (claim.status != status) revert WrongStatus(claimId, claim.status);
    }

    function _requireRole(bytes32 role, address account) private view {
        if (!registry.hasRole(role, account)) revert IAccessControl.AccessControlUnauthorizedAccount(account, role);
    }
}
