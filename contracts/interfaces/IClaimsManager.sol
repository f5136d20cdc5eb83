// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IClaimsManager
/// @notice Insurance claims modelled on FHIR `Claim` / `ClaimResponse`: insurers fund an
/// ERC-20 escrow and issue policies; providers submit claims citing records, only under the
/// patient's payment consent for the insurer and the provider's own treatment consent for
/// every cited record; insurers adjudicate (the patient's share from deductible and co-pay
/// computed here) and settle in batches; denials can be disputed before an arbitrator.
/// @dev Invariants: an insurer never pays out more than it deposited; a policy never pays
/// more than its limit; a claim is paid at most once; a record backs at most one claim;
/// what an open dispute could award is reserved until the dispute ends; states only move
/// forward: Submitted → Approved | Denied; Denied → Disputed → Approved | Denied;
/// Approved → Paid. A claim's id is `keccak256(abi.encode(policyId, patient, provider,
/// serviceDate, codesHash))`, so a duplicate (same policy, patient, provider, service date
/// and codes) is refused by construction.
interface IClaimsManager {
    enum ClaimStatus {
        None,
        Submitted,
        Approved,
        Denied,
        Disputed,
        Paid
    }

    /// @notice What an insurer holds here.
    struct Escrow {
        uint128 balance; // deposited - withdrawn - paid
        uint128 reserved; // approved and not yet paid, plus what open disputes could award
    }

    /// @notice A policy, as issued.
    struct PolicyTerms {
        address patient; // the insured
        uint64 limit; // most the insurer pays in total (token units)
        uint64 deductible; // the patient pays this much first
        uint16 copayBps; // then this share of the rest (basis points)
        uint32 coveredCategories; // bit i set = record category i covered
        uint40 start; // first second of cover
        uint40 end; // first second without cover
        // claims up to this amount, all categories covered, are approved on submission, as
        // long as one provider's auto-approved claims for the patient on one day stay within it
        uint64 autoApproveBelow;
    }

    /// @notice A policy's running totals.
    struct PolicyUsage {
        uint64 approvedTotal; // what the insurer has committed so far (never above limit)
        uint64 deductibleUsed; // how much of the deductible the patient has paid
    }

    /// @notice What storage keeps per claim (one slot).
    struct Claim {
        uint32 policyId; // the policy claimed against
        uint32 providerId; // the registry's id of the submitting provider
        ClaimStatus status; // where it is in its lifecycle
        uint64 amount; // what the provider asked for
        uint64 approved; // what the insurer pays (after deductible, co-pay and limit)
        uint48 patientShare; // what the patient owes the provider
    }

    /// @notice A claim as submitted.
    struct ClaimRequest {
        uint32 policyId;
        address patient; // must be the policy's
        uint64 amount;
        uint32 serviceDate; // days since 1970-01-01; not after today
        bytes32 codesHash; // keyed hash of the billing codes (never the codes in the clear)
        bytes32[] recordIds; // evidence; see submitClaim for what each must satisfy
        bytes32 claimDigest; // digest (CID) of the encrypted FHIR Claim on IPFS
    }

    event Deposited(address indexed insurer, uint256 amount);
    event Withdrawn(address indexed insurer, uint256 amount);
    event PolicyIssued(uint32 indexed policyId, address indexed insurer, address indexed patient, PolicyTerms terms);
    event ClaimSubmitted(
        bytes32 indexed claimId,
        uint32 indexed policyId,
        address indexed provider,
        uint64 amount,
        uint32 serviceDate,
        bytes32 codesHash,
        bytes32[] recordIds,
        bytes32 claimDigest
    );
    event ClaimApproved(bytes32 indexed claimId, uint32 indexed policyId, uint64 approved, uint64 patientShare, bool automatic);
    /// @notice A claim was denied (what stays reserved meanwhile: `denialOf`).
    event ClaimDenied(bytes32 indexed claimId, uint32 indexed policyId, bytes32 reason);
    event ClaimDisputed(bytes32 indexed claimId, address indexed by);
    /// @notice A denial's dispute window closed undisputed: its reserve went back to the insurer.
    event DenialFinal(bytes32 indexed claimId, uint64 released);
    /// @notice A claim was settled: `amount` left the insurer's escrow for the provider.
    event ClaimPaid(bytes32 indexed claimId, address indexed provider, uint64 amount);
    /// @notice The token refused the transfer to the provider (e.g. a blacklisted address):
    /// the claim is settled, and the provider collects `amount` with `withdrawOwed`.
    event PaymentDeferred(bytes32 indexed claimId, address indexed provider, uint64 amount);
    /// @notice A provider collected deferred payments.
    event OwedWithdrawn(address indexed provider, address indexed to, uint256 amount);

    /// @notice A cited record does not exist (raised by the RecordRegistry and passed on;
    /// declared here too so that callers can decode it from this contract's ABI alone).
    error UnknownRecord(bytes32 recordId);
    /// @notice Only the insurer that issued the policy may act on its claims.
    error NotPolicyInsurer(uint32 policyId, address caller);
    error InvalidAmount(uint256 amount);
    error InsufficientEscrow(address insurer, uint256 available, uint256 needed);
    error InvalidPolicy(string reason);
    error UnknownPolicy(uint32 policyId);
    error PolicyNotActive(uint32 policyId, uint32 serviceDate);
    /// @notice A service date after today (UTC days since 1970).
    error ServiceDateInFuture(uint32 serviceDate, uint32 today);
    error WrongPatient(uint32 policyId, address patient);
    error RecordNotOfPatient(bytes32 recordId, address patient);
    error NoPaymentConsent(bytes32 recordId, address insurer);
    /// @notice The submitting provider holds no active Treatment consent covering the record:
    /// it has no care relationship the patient acknowledged, and could not read it itself.
    error NoCareRelationship(bytes32 recordId, address provider);
    /// @notice The record was written by another provider: a provider bills only the records
    /// it anchored (its own visits).
    error NotEvidenceAuthor(bytes32 recordId, address provider, address author);
    /// @notice The record was retracted as entered-in-error: it is no evidence.
    error RetractedEvidence(bytes32 recordId);
    /// @notice The record already backs `claimId`: a record backs at most one claim.
    error EvidenceAlreadyClaimed(bytes32 recordId, bytes32 claimId);
    error NoEvidence();
    error DuplicateClaim(bytes32 claimId);
    error UnknownClaim(bytes32 claimId);
    error WrongStatus(bytes32 claimId, ClaimStatus status);
    error DisputeWindowClosed(bytes32 claimId, uint256 closedAt);
    /// @notice The denial can still be disputed until `closesAt`.
    error DisputeWindowOpen(bytes32 claimId, uint256 closesAt);
    error NotPartyToClaim(bytes32 claimId, address caller);
    error InvalidBatchSize(uint256 size, uint256 max);
    error UnsupportedToken(address token, uint8 decimals);
    /// @notice Nothing is owed to `provider`.
    error NothingOwed(address provider);

    /// @notice An insurer moves `amount` of the settlement token into its escrow (approve
    /// first). Only what arrives is credited.
    /// @param amount Token units to deposit; more than 0.
    function deposit(uint256 amount) external;

    /// @notice An insurer takes back escrow that no approved claim or open dispute reserves.
    /// @param amount Token units; more than 0 and at most `balance - reserved`.
    function withdraw(uint256 amount) external;

    /// @notice An insurer issues a policy to a patient.
    /// @param terms The policy's terms: a patient, a limit above 0 and no smaller than the
    /// deductible, a co-pay of at most 100%, a period that is not over.
    /// @return policyId The new policy's id (counting from 1).
    function issuePolicy(PolicyTerms calldata terms) external returns (uint32 policyId);

    /// @notice An admitted provider submits a claim. Refused unless the policy is active on
    /// the service date, the service date is not in the future, and every cited record is
    /// the policy patient's, not retracted, backs no other claim, may be read for Payment by
    /// the insurer and for Treatment by the submitting provider (its care relationship).
    /// Approved at once when every record is in a covered category, the amount is within
    /// `autoApproveBelow`, this provider's auto-approved claims for the patient today stay
    /// within it too, and escrow allows; otherwise it waits for the insurer.
    /// @param request The claim.
    /// @return claimId `claimIdOf(policyId, patient, provider, serviceDate, codesHash)`.
    function submitClaim(ClaimRequest calldata request) external returns (bytes32 claimId);

    /// @notice The policy's insurer approves `amount` of a submitted claim; the contract
    /// computes and reserves what the insurer pays and what the patient owes.
    /// @param claimId The claim.
    /// @param amount The allowed amount; more than 0, at most what was claimed.
    function approveClaim(bytes32 claimId, uint64 amount) external;

    /// @notice The policy's insurer denies a submitted claim and reserves, for the 14-day
    /// dispute window, the most an arbitrator could award on it.
    /// @param claimId The claim.
    /// @param reason A reason code (a keyed hash of it; never free text).
    function denyClaim(bytes32 claimId, bytes32 reason) external;

    /// @notice The policy's insurer pays approved claims from its escrow, one transfer each.
    /// A transfer the token refuses does not stop the batch: that payment is deferred to
    /// `withdrawOwed` and the claim is settled all the same.
    /// @param claimIds Up to `MAX_BATCH` approved claims of the caller's policies.
    function settle(bytes32[] calldata claimIds) external;

    /// @notice A provider collects the payments the token refused to send it, to an address
    /// of its choice.
    /// @param to Where the tokens go.
    function withdrawOwed(address to) external;

    /// @notice The claim's provider or patient disputes a denial within 14 days of it.
    /// @param claimId The denied claim.
    function disputeClaim(bytes32 claimId) external;

    /// @notice An arbitrator settles a dispute once: approving `amount` (the shares computed
    /// as by `approveClaim`) or denying for good; either way the dispute reserve is released.
    /// @param claimId The disputed claim.
    /// @param approve Whether the claim is approved.
    /// @param amount The allowed amount when approving; ignored when denying.
    /// @param reason A reason code.
    function resolveDispute(bytes32 claimId, bool approve, uint64 amount, bytes32 reason) external;

    /// @notice Anyone ends an undisputed denial once its dispute window closed, releasing
    /// its reserve to the insurer.
    /// @param claimId The denied claim.
    function finalizeDenial(bytes32 claimId) external;

    /// @notice An insurer's escrow.
    /// @param insurer The insurer.
    /// @return The balance and the reserved part of it.
    function escrowOf(address insurer) external view returns (Escrow memory);

    /// @notice A policy's issuer, terms and running totals; reverts with `UnknownPolicy`.
    /// @param policyId The policy.
    /// @return insurer Who issued it.
    /// @return terms Its terms.
    /// @return usage What it has committed so far.
    function policy(uint32 policyId) external view returns (address insurer, PolicyTerms memory terms, PolicyUsage memory usage);

    /// @notice A claim as stored (status None if there is none).
    /// @param claimId The claim.
    /// @return The stored claim.
    function getClaim(bytes32 claimId) external view returns (Claim memory);

    /// @notice The claim a record backs (0 if none).
    /// @param recordId The record.
    /// @return claimId The claim that cited it.
    function evidenceClaim(bytes32 recordId) external view returns (bytes32 claimId);

    /// @notice What a denied claim keeps reserved and until when it can be disputed.
    /// @param claimId The claim.
    /// @return reserved Token units reserved (0 once final).
    /// @return disputableUntil The end of the dispute window (0 once final).
    function denialOf(bytes32 claimId) external view returns (uint64 reserved, uint256 disputableUntil);

    /// @notice Deferred payments a provider can collect with `withdrawOwed`.
    /// @param provider The provider.
    /// @return Token units owed.
    function owedTo(address provider) external view returns (uint256);

    /// @notice How much `provider` has had auto-approved for `patient` on `day` (UTC days).
    /// @param provider The provider.
    /// @param patient The patient.
    /// @param day Days since 1970-01-01 of the submissions.
    /// @return Token units auto-approved (the claimed amounts).
    function autoApprovedOn(address provider, address patient, uint32 day) external view returns (uint64);

    /// @notice The id a claim gets.
    /// @param policyId The policy claimed against.
    /// @param patient The policy's patient.
    /// @param provider The submitting provider.
    /// @param serviceDate Days since 1970-01-01.
    /// @param codesHash The keyed hash of the billing codes.
    /// @return The claim id.
    function claimIdOf(uint32 policyId, address patient, address provider, uint32 serviceDate, bytes32 codesHash)
        external
        pure
        returns (bytes32);
}
