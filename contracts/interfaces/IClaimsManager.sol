// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IClaimsManager
/// @notice Insurance claims modelled on FHIR `Claim` / `ClaimResponse`: insurers fund an
/// ERC-20 escrow and issue policies; providers submit claims citing records, only under the
/// patient's payment consent for the insurer; insurers adjudicate (the patient's share from
/// deductible and co-pay computed here) and settle in batches; denials can be disputed.
/// @dev Invariants: an insurer never pays out more than it deposited; a policy never pays
/// more than its limit; a claim is paid at most once; states only move forward:
/// Submitted → Approved | Denied; Denied → Disputed → Approved | Denied; Approved → Paid.
/// A claim's id is `keccak256(abi.encode(patient, provider, serviceDate, codesHash))`, so
/// a duplicate (same patient, provider, service date and codes) is refused by construction.
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
        uint128 reserved; // approved, not yet paid
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
        uint64 autoApproveBelow; // claims up to this amount, all categories covered: approved on submit
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
        uint32 serviceDate; // days since 1970-01-01
        bytes32 codesHash; // hash of the billing codes (never the codes in the clear)
        bytes32[] recordIds; // evidence; each must be the patient's and payment-consented
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
    event ClaimDenied(bytes32 indexed claimId, uint32 indexed policyId, bytes32 reason);
    event ClaimDisputed(bytes32 indexed claimId, address indexed by);
    event ClaimPaid(bytes32 indexed claimId, address indexed provider, uint64 amount);

    /// @notice A cited record does not exist (raised by the RecordRegistry and passed on;
    /// declared here too so that callers can decode it from this contract's ABI alone).
    error UnknownRecord(bytes32 recordId);
    error NotInsurer(address caller);
    error NotProvider(address caller);
    error NotArbitrator(address caller);
    error NotPolicyInsurer(uint32 policyId, address caller);
    error InvalidAmount(uint256 amount);
    error InsufficientEscrow(address insurer, uint256 available, uint256 needed);
    error InvalidPolicy(string reason);
    error UnknownPolicy(uint32 policyId);
    error PolicyNotActive(uint32 policyId, uint32 serviceDate);
    error WrongPatient(uint32 policyId, address patient);
    error RecordNotOfPatient(bytes32 recordId, address patient);
    error NoPaymentConsent(bytes32 recordId, address insurer);
    error NoEvidence();
    error DuplicateClaim(bytes32 claimId);
    error UnknownClaim(bytes32 claimId);
    error WrongStatus(bytes32 claimId, ClaimStatus status);
    error DisputeWindowClosed(bytes32 claimId, uint256 closedAt);
    error NotPartyToClaim(bytes32 claimId, address caller);
    error InvalidBatchSize(uint256 size, uint256 max);
    error UnsupportedToken(address token, uint8 decimals);

    function deposit(uint256 amount) external;
    function withdraw(uint256 amount) external;
    function issuePolicy(PolicyTerms calldata terms) external returns (uint32 policyId);
    function submitClaim(ClaimRequest calldata request) external returns (bytes32 claimId);
    function approveClaim(bytes32 claimId, uint64 amount) external;
    function denyClaim(bytes32 claimId, bytes32 reason) external;
    function settle(bytes32[] calldata claimIds) external;
    function disputeClaim(bytes32 claimId) external;
    function resolveDispute(bytes32 claimId, bool approve, uint64 amount, bytes32 reason) external;

    function escrowOf(address insurer) external view returns (Escrow memory);
    function policy(uint32 policyId) external view returns (address insurer, PolicyTerms memory terms, PolicyUsage memory usage);
    function getClaim(bytes32 claimId) external view returns (Claim memory);
    function claimIdOf(address patient, address provider, uint32 serviceDate, bytes32 codesHash)
        external
        pure
        returns (bytes32);
}
