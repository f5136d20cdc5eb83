// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IConsentManager
/// @notice Patient consent modelled on the HL7 FHIR `Consent` resource: who (grantee) may
/// read what (one record, a category, or all records) for which purpose, during which
/// period; denials of a narrower scope inside a wider grant; guardians who act for a
/// patient; EIP-712 signed consent relayed by anyone; time-boxed break-glass access.
/// @dev A consent is identified by `grantId = keccak256(abi.encode(patient, grantee, kind,
/// value, purpose))`, so granting the same scope again replaces its period. Storage keeps one
/// slot per consent (patient, period, permit/deny); the scope and the IPFS digest of the
/// wrapped data keys live in the `ConsentGranted` event. The most specific active consent
/// decides: a record-level one over a category-level one over an all-records one.
interface IConsentManager {
    /// @notice FHIR purpose-of-use codes (v3 ActReason): TREAT, HPAYMT, HRESCH, ETREAT.
    enum Purpose {
        Treatment,
        Payment,
        Research,
        Emergency
    }

    /// @notice What a consent covers.
    enum ScopeKind {
        Record, // value = the record id
        Category, // value = the category code
        All // value = 0
    }

    /// @notice One consent to create (or replace).
    struct GrantRequest {
        address grantee; // who may (or, if deny, may not) read
        ScopeKind kind; // record, category or all
        bytes32 value; // record id, category code, or 0
        Purpose purpose; // why they may read
        uint40 start; // first second it applies (0 = now)
        uint40 end; // first second it no longer applies; must be in the future
        bool deny; // true: a denial, e.g. "all records except mental health"
        bytes32 keysDigest; // digest (CID) of the wrapped data keys on IPFS, or 0
    }

    /// @notice What storage keeps for a consent (one slot).
    struct Consent {
        address patient; // whose records
        uint40 start; // inclusive
        uint40 end; // exclusive; 0 = no such consent
        bool deny; // a denial rather than a permission
    }

    /// @notice A break-glass emergency access.
    struct BreakGlass {
        address clinician; // the provider who opened it
        uint40 expiresAt; // when it ends
        Review review; // the auditor's verdict
        address patient; // whose records
    }

    /// @notice An auditor's verdict on a break-glass access.
    enum Review {
        Pending,
        Justified,
        Unjustified
    }

    /// @notice A permission was created or replaced. `keysDigest` locates the data keys
    /// wrapped to the grantee on IPFS (0 if none were published).
    event ConsentGranted(
        bytes32 indexed grantId,
        address indexed patient,
        address indexed grantee,
        ScopeKind kind,
        bytes32 value,
        Purpose purpose,
        uint40 start,
        uint40 end,
        bytes32 keysDigest
    );
    /// @notice A denial was created or replaced (a permission with the same id is replaced).
    event ConsentDenied(
        bytes32 indexed grantId,
        address indexed patient,
        address indexed grantee,
        ScopeKind kind,
        bytes32 value,
        Purpose purpose,
        uint40 start,
        uint40 end
    );
    event ConsentRevoked(bytes32 indexed grantId, address indexed patient);
    event GuardianAppointed(address indexed patient, address indexed guardian);
    event GuardianRemoved(address indexed patient, address indexed guardian);
    event SignaturesCancelled(address indexed patient, uint256 nonce);
    event BreakGlassOpened(
        bytes32 indexed accessId,
        address indexed patient,
        address indexed clinician,
        bytes32 justification,
        uint40 expiresAt
    );
    event BreakGlassReviewed(bytes32 indexed accessId, address indexed auditor, Review review);

    /// @notice The caller may not act for this patient (not the patient nor a guardian).
    /// @notice A cited record does not exist (raised by the RecordRegistry and passed on;
    /// declared here too so that callers can decode it from this contract's ABI alone).
    error UnknownRecord(bytes32 recordId);
    error NotPatientOrGuardian(address caller, address patient);
    /// @notice The period is empty or already over.
    error InvalidPeriod(uint40 start, uint40 end, uint256 nowTime);
    /// @notice A record-scoped consent names a record that is not this patient's.
    error RecordNotOfPatient(bytes32 recordId, address patient);
    /// @notice The category code is out of range, or an all-records scope has a value.
    error InvalidScope(ScopeKind kind, bytes32 value);
    /// @notice The grantee is the zero address or the patient.
    error InvalidGrantee(address grantee);
    /// @notice No consent has this id.
    error UnknownConsent(bytes32 grantId);
    /// @notice The signed request's deadline has passed.
    error SignatureExpired(uint256 deadline, uint256 nowTime);
    /// @notice The signature is not the patient's for this request, nonce, chain and contract.
    error InvalidSignature(address patient);
    /// @notice A nonce may only move forward.
    error InvalidNonce(uint256 current, uint256 requested);
    /// @notice Guardians are appointed by the patient, never themselves or zero.
    error InvalidGuardian(address guardian);
    /// @notice Only admitted providers open break-glass access; only auditors review it.
    error NotAuthorized(address caller, bytes32 role);
    /// @notice A break-glass access lasts between 1 second and MAX_BREAK_GLASS.
    error InvalidDuration(uint256 duration, uint256 max);
    /// @notice No break-glass access has this id, or it was already reviewed.
    error UnknownOrReviewed(bytes32 accessId);
    /// @notice A batch was empty or too large.
    error InvalidBatchSize(uint256 size, uint256 max);

    /// @notice The common case, kept lean: the caller (the patient) permits `grantee` from now
    /// until `end`. Use `grantFor` for a later start or a denial.
    function grant(address grantee, ScopeKind kind, bytes32 value, Purpose purpose, uint40 end, bytes32 keysDigest)
        external
        returns (bytes32 grantId);
    /// @notice Create or replace a consent for `patient`; the caller is the patient or a guardian.
    function grantFor(address patient, GrantRequest calldata request) external returns (bytes32 grantId);
    /// @notice Create or replace several consents of `patient` at once.
    function grantBatch(address patient, GrantRequest[] calldata requests) external returns (bytes32[] memory);
    /// @notice Create or replace a consent signed by `patient` (EIP-712); anyone may relay it.
    function grantBySig(address patient, GrantRequest calldata request, uint256 deadline, bytes calldata signature)
        external
        returns (bytes32 grantId);

    /// @notice Withdraw a consent; the caller is its patient or one of their guardians.
    function revoke(bytes32 grantId) external;
    /// @notice Withdraw several consents.
    function revokeBatch(bytes32[] calldata grantIds) external;
    /// @notice Withdraw a consent with the patient's EIP-712 signature; anyone may relay it.
    function revokeBySig(bytes32 grantId, uint256 deadline, bytes calldata signature) external;
    /// @notice Invalidate every outstanding signature of the caller below `newNonce`.
    function cancelSignatures(uint256 newNonce) external;

    /// @notice Appoint a guardian who may grant and revoke for the caller.
    function appointGuardian(address guardian) external;
    /// @notice Remove a guardian.
    function removeGuardian(address guardian) external;

    /// @notice An admitted provider opens emergency access to a patient's records.
    function openBreakGlass(address patient, bytes32 justification, uint32 duration)
        external
        returns (bytes32 accessId);
    /// @notice An auditor marks a break-glass access justified or not.
    function reviewBreakGlass(bytes32 accessId, bool justified) external;

    /// @notice May `reader` read `recordId` for `purpose` now?
    function canAccess(address reader, bytes32 recordId, Purpose purpose) external view returns (bool);
    /// @notice `canAccess`, plus the record's patient and category (one call for contracts
    /// that need all three, such as claims).
    function accessInfo(address reader, bytes32 recordId, Purpose purpose)
        external
        view
        returns (bool allowed, address patient, uint8 category);
    /// @notice The id of a consent.
    function grantIdOf(address patient, address grantee, ScopeKind kind, bytes32 value, Purpose purpose)
        external
        pure
        returns (bytes32);
    /// @notice The stored consent (end = 0 if none).
    function getConsent(bytes32 grantId) external view returns (Consent memory);
    /// @notice Whether `guardian` may act for `patient`.
    function isGuardian(address patient, address guardian) external view returns (bool);
    /// @notice The next nonce a signature of `patient` must use.
    function nonces(address patient) external view returns (uint256);
    /// @notice A break-glass access.
    function getBreakGlass(bytes32 accessId) external view returns (BreakGlass memory);
}
