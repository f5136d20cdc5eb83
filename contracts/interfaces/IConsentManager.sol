// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IConsentManager
/// @notice Patient consent modelled on the HL7 FHIR `Consent` resource: who (grantee) may
/// read what (one record, a category, or all records) for which purpose, during which
/// period; denials of a narrower scope inside a wider grant; guardians who act for a
/// patient; EIP-712 signed consent relayed by anyone; time-boxed break-glass access.
/// @dev A consent is identified by `grantId = keccak256(abi.encode(patient, grantee, kind,
/// value, purpose))`, so granting or denying the same scope again replaces it: a grant and a
/// denial of one scope are one consent whose latest decision stands. Storage keeps one slot
/// per consent (patient, period, permit/deny, who decided, how many decisions); the scope and
/// the IPFS digest of the wrapped data keys live in the `ConsentGranted` event. The most
/// specific active consent decides: a record-level one over a category-level one over an
/// all-records one.
///
/// Signatures: a signed grant or revocation carries the consent's `signatureNonce`, which
/// every decision on that consent moves on (grant, deny, revoke; direct, by a guardian or
/// signed), so a later decision voids every earlier unrelayed signature about the same
/// consent, and `cancelSignatures` voids all of them. A revocation signed at the same nonce as
/// a held signed grant still lands after that grant is relayed: at one nonce, revoking wins.
///
/// Guardians act for the patient but do not decide their own access, cannot replace or
/// revoke a denial the patient made, and what they decided ends when they are removed.
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

    /// @notice What storage keeps for a consent (one slot). Times are Unix seconds; they fit
    /// 32 bits until 2106, and longer periods are refused.
    struct Consent {
        address patient; // whose records (kept after a revocation)
        uint32 start; // inclusive
        uint32 end; // exclusive; 0 = no such consent (never granted, or revoked)
        bool deny; // a denial rather than a permission
        uint8 decidedBy; // 0: the patient; 1-247: the guardian appointed that many-th; 255: a relayed patient signature
        uint16 version; // how many decisions were made on it (wraps); signatures bind it
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
    /// @notice A break-glass access was ended before it expired (by the patient, a guardian,
    /// the clinician or an auditor).
    event BreakGlassClosed(bytes32 indexed accessId, address indexed by);

    /// @notice A cited record does not exist (raised by the RecordRegistry and passed on;
    /// declared here too so that callers can decode it from this contract's ABI alone).
    error UnknownRecord(bytes32 recordId);
    /// @notice The caller may not act for this patient (not the patient nor a guardian).
    error NotPatientOrGuardian(address caller, address patient);
    /// @notice A guardian does not decide its own access: the patient, or another guardian,
    /// grants or denies it.
    error GuardianOwnAccess(address guardian);
    /// @notice The patient made this denial; a guardian may not replace or revoke it.
    error PatientDecided(bytes32 grantId);
    /// @notice A patient's guardians have been appointed the maximum number of times.
    error TooManyGuardianAppointments(address patient, uint256 max);
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
    /// @notice The signature is not the patient's for this request, chain, contract and the
    /// consent's current `signatureNonce` (a later decision on the consent voided it).
    error InvalidSignature(address patient);
    /// @notice A nonce may only move forward.
    error InvalidNonce(uint256 current, uint256 requested);
    /// @notice Guardians are appointed by the patient, never themselves or zero.
    error InvalidGuardian(address guardian);
    /// @notice A break-glass access lasts between 1 second and MAX_BREAK_GLASS.
    error InvalidDuration(uint256 duration, uint256 max);
    /// @notice No break-glass access has this id, or it was already reviewed.
    error UnknownOrReviewed(bytes32 accessId);
    /// @notice An auditor may not review a break-glass access it opened itself.
    error SelfReview(bytes32 accessId, address auditor);
    /// @notice This clinician's previous break-glass access to this patient (`previous`) is
    /// still awaiting an auditor's review, or was found unjustified: no new one until it is
    /// found justified.
    error BreakGlassBlocked(bytes32 previous, Review review);
    /// @notice No break-glass access with this id is open now.
    error BreakGlassNotOpen(bytes32 accessId);
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
    /// The signature carries the consent's `signatureNonce` when signed; it still lands if
    /// the only decision since was the relay of a grant the patient signed at that nonce.
    function revokeBySig(bytes32 grantId, uint256 deadline, bytes calldata signature) external;
    /// @notice Invalidate every outstanding signature of the caller below `newNonce`.
    function cancelSignatures(uint256 newNonce) external;

    /// @notice Appoint a guardian who may grant and revoke for the caller (each appointment
    /// is new: grants of an earlier appointment of the same guardian stay void).
    function appointGuardian(address guardian) external;
    /// @notice Remove a guardian; every consent it decided stops applying.
    function removeGuardian(address guardian) external;

    /// @notice An admitted provider opens emergency access to a patient's records, for
    /// `duration` seconds (at most MAX_BREAK_GLASS). It works while the provider keeps its
    /// role; the provider's next one for this patient waits for an auditor to find this one
    /// justified.
    function openBreakGlass(address patient, bytes32 justification, uint32 duration)
        external
        returns (bytes32 accessId);
    /// @notice An auditor marks a break-glass access justified or not; unjustified ends it.
    function reviewBreakGlass(bytes32 accessId, bool justified) external;
    /// @notice End a break-glass access now; the caller is its patient, one of their
    /// guardians, its clinician or an auditor.
    function closeBreakGlass(bytes32 accessId) external;

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
    /// @notice The patient's signature epoch, moved on by `cancelSignatures`.
    function nonces(address patient) external view returns (uint256);
    /// @notice The nonce a signature of `patient` about consent `grantId` must carry now:
    /// `nonces(patient) << 16 | version` of the consent.
    function signatureNonce(address patient, bytes32 grantId) external view returns (uint256);
    /// @notice A break-glass access.
    function getBreakGlass(bytes32 accessId) external view returns (BreakGlass memory);
}
