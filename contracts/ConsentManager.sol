// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {Packing} from "./Packing.sol";
import {PROVIDER_ROLE, AUDITOR_ROLE, ZeroAddress} from "./Common.sol";

/// @title ConsentManager
/// @notice Patients decide who reads which of their records, for what, until when.
contract ConsentManager is IConsentManager, EIP712 {
    /// @notice The longest a break-glass access may last.
    uint256 public constant MAX_BREAK_GLASS = 24 hours;
    /// @notice The largest batch of grants or revocations.
    uint256 public constant MAX_BATCH = 100;
    /// @notice How many guardian appointments a patient can make in all (numbers 1 to 247).
    uint256 public constant MAX_GUARDIAN_APPOINTMENTS = 247;

    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(address patient,address grantee,uint8 kind,bytes32 value,uint8 purpose,uint40 start,uint40 end,bool deny,bytes32 keysDigest,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_TYPEHASH = keccak256("Revoke(bytes32 grantId,uint256 nonce,uint256 deadline)");

    /// @dev `Consent.decidedBy` for the patient's own call and for a relayed patient signature;
    /// a guardian's decisions carry its appointment number (1 to MAX_GUARDIAN_APPOINTMENTS).
    uint8 private constant BY_PATIENT = 0;
    uint8 private constant BY_SIGNATURE = 255;

    /// @dev A patient's guardian appointments: how many were made, and which are still
    /// in force (bit n for appointment n).
    struct Appointments {
        uint8 made;
        uint248 active;
    }

    /// @notice Where records and roles live.
    IRecordRegistry public immutable registry;

    mapping(bytes32 grantId => Consent consent) private _consents;
    mapping(address patient => mapping(address guardian => uint8 appointment)) private _guardians;
    mapping(address patient => Appointments appointments) private _appointments;
    mapping(address patient => uint256 epoch) private _nonces;
    mapping(bytes32 accessId => BreakGlass access) private _breakGlass;
    mapping(address clinician => mapping(address patient => bytes32 accessId)) private _emergency;
    uint256 private _breakGlassCount;

    constructor(IRecordRegistry registry_) EIP712("carechain ConsentManager", "1") {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        registry = registry_;
    }

    // ------------------------------------------------------------------ grant

    /// @inheritdoc IConsentManager
    function grant(address grantee, ScopeKind kind, bytes32 value, Purpose purpose, uint40 end, bytes32 keysDigest)
        external
        returns (bytes32)
    {
        return _grant(msg.sender, BY_PATIENT, grantee, kind, value, purpose, 0, end, false, keysDigest);
    }

    /// @inheritdoc IConsentManager
    function grantFor(address patient, GrantRequest calldata request) external returns (bytes32) {
        return _grantRequest(patient, _actor(patient), request);
    }

    /// @inheritdoc IConsentManager
    function grantBatch(address patient, GrantRequest[] calldata requests) external returns (bytes32[] memory ids) {
        uint8 by = _actor(patient);
        uint256 count = requests.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        ids = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            ids[i] = _grantRequest(patient, by, requests[i]);
        }
    }

    /// @inheritdoc IConsentManager
    function grantBySig(address patient, GrantRequest calldata request, uint256 deadline, bytes calldata signature)
        external
        returns (bytes32)
    {
        bytes32 grantId = grantIdOf(patient, request.grantee, request.kind, request.value, request.purpose);
        bytes32 structHash = keccak256(
            abi.encode(
                GRANT_TYPEHASH,
                patient,
                request.grantee,
                request.kind,
                request.value,
                request.purpose,
                request.start,
                request.end,
                request.deny,
                request.keysDigest,
                signatureNonce(patient, grantId),
                deadline
            )
        );
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        if (!_signedBy(patient, structHash, signature)) revert InvalidSignature(patient);
        return _grantRequest(patient, BY_SIGNATURE, request);
    }

    // ------------------------------------------------------------------ revoke

    /// @inheritdoc IConsentManager
    function revoke(bytes32 grantId) external {
        _revokeAsCaller(grantId);
    }

    /// @inheritdoc IConsentManager
    function revokeBatch(bytes32[] calldata grantIds) external {
        uint256 count = grantIds.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        for (uint256 i; i < count; ++i) {
            _revokeAsCaller(grantIds[i]);
        }
    }

    /// @inheritdoc IConsentManager
    function revokeBySig(bytes32 grantId, uint256 deadline, bytes calldata signature) external {
        Consent storage consent = _consents[grantId];
        if (consent.end == 0) revert UnknownConsent(grantId);
        address patient = consent.patient;
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        uint256 nonce = signatureNonce(patient, grantId);
        bool valid = _signedBy(patient, keccak256(abi.encode(REVOKE_TYPEHASH, grantId, nonce, deadline)), signature);
        // Signed at the nonce before a relayed signed grant: the patient signed both against
        // the same state, and at one nonce revoking wins (a held grant cannot block it).
        if (!valid && consent.decidedBy == BY_SIGNATURE && !consent.deny) {
            uint16 version = uint16(nonce);
            unchecked {
                --version;
            }
            uint256 before = (nonce >> 16 << 16) | version;
            valid = _signedBy(patient, keccak256(abi.encode(REVOKE_TYPEHASH, grantId, before, deadline)), signature);
        }
        if (!valid) revert InvalidSignature(patient);
        _revoke(grantId, consent, BY_SIGNATURE);
    }

    /// @inheritdoc IConsentManager
    function cancelSignatures(uint256 newNonce) external {
        uint256 current = _nonces[msg.sender];
        // Below 2**240, so that `signatureNonce` never wraps into an earlier epoch.
        if (newNonce <= current || newNonce >= 1 << 240) revert InvalidNonce(current, newNonce);
        _nonces[msg.sender] = newNonce;
        emit SignaturesCancelled(msg.sender, newNonce);
    }

    // ------------------------------------------------------------------ guardians

    /// @inheritdoc IConsentManager
    function appointGuardian(address guardian) external {
        if (guardian == address(0) || guardian == msg.sender || _guardians[msg.sender][guardian] != 0) {
            revert InvalidGuardian(guardian);
        }
        Appointments storage appointments = _appointments[msg.sender];
        uint256 made = appointments.made;
        if (made == MAX_GUARDIAN_APPOINTMENTS) revert TooManyGuardianAppointments(msg.sender, made);
        uint8 number = uint8(made + 1);
        appointments.made = number;
        appointments.active |= uint248(1) << number;
        _guardians[msg.sender][guardian] = number;
        emit GuardianAppointed(msg.sender, guardian);
    }

    /// @inheritdoc IConsentManager
    function removeGuardian(address guardian) external {
        uint8 number = _guardians[msg.sender][guardian];
        if (number == 0) revert InvalidGuardian(guardian);
        delete _guardians[msg.sender][guardian];
        _appointments[msg.sender].active &= ~(uint248(1) << number);
        emit GuardianRemoved(msg.sender, guardian);
    }

    // ------------------------------------------------------------------ break-glass

    /// @inheritdoc IConsentManager
    function openBreakGlass(address patient, bytes32 justification, uint32 duration)
        external
        returns (bytes32 accessId)
    {
        _checkRole(PROVIDER_ROLE);
        if (patient == address(0)) revert ZeroAddress("patient");
        if (duration == 0 || duration > MAX_BREAK_GLASS) revert InvalidDuration(duration, MAX_BREAK_GLASS);
        bytes32 previous = _emergency[msg.sender][patient];
        if (previous != 0) {
            Review review = _breakGlass[previous].review;
            if (review != Review.Justified) revert BreakGlassBlocked(previous, review);
        }
        uint40 expiresAt = uint40(block.timestamp + duration);
        accessId = keccak256(abi.encode(block.chainid, address(this), ++_breakGlassCount));
        _breakGlass[accessId] =
            BreakGlass({clinician: msg.sender, expiresAt: expiresAt, review: Review.Pending, patient: patient});
        _emergency[msg.sender][patient] = accessId;
        emit BreakGlassOpened(accessId, patient, msg.sender, justification, expiresAt);
    }

    /// @inheritdoc IConsentManager
    function reviewBreakGlass(bytes32 accessId, bool justified) external {
        _checkRole(AUDITOR_ROLE);
        BreakGlass storage access = _breakGlass[accessId];
        if (access.clinician == address(0) || access.review != Review.Pending) revert UnknownOrReviewed(accessId);
        if (access.clinician == msg.sender) revert SelfReview(accessId, msg.sender);
        Review review = justified ? Review.Justified : Review.Unjustified;
        access.review = review;
        if (!justified && access.expiresAt > block.timestamp) access.expiresAt = uint40(block.timestamp);
        emit BreakGlassReviewed(accessId, msg.sender, review);
    }

    /// @inheritdoc IConsentManager
    function closeBreakGlass(bytes32 accessId) external {
        BreakGlass storage access = _breakGlass[accessId];
        if (access.expiresAt <= block.timestamp) revert BreakGlassNotOpen(accessId);
        address patient = access.patient;
        if (
            msg.sender != patient && msg.sender != access.clinician && _guardians[patient][msg.sender] == 0
                && !registry.hasRole(AUDITOR_ROLE, msg.sender)
        ) revert NotPatientOrGuardian(msg.sender, patient);
        access.expiresAt = uint40(block.timestamp);
        emit BreakGlassClosed(accessId, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IConsentManager
    function canAccess(address reader, bytes32 recordId, Purpose purpose) external view returns (bool allowed) {
        (allowed,,) = _access(reader, recordId, purpose);
    }

    /// @inheritdoc IConsentManager
    function accessInfo(address reader, bytes32 recordId, Purpose purpose)
        external
        view
        returns (bool allowed, address patient, uint8 category)
    {
        return _access(reader, recordId, purpose);
    }

    /// @inheritdoc IConsentManager
    function grantIdOf(address patient, address grantee, ScopeKind kind, bytes32 value, Purpose purpose)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(patient, grantee, kind, value, purpose));
    }

    /// @inheritdoc IConsentManager
    function getConsent(bytes32 grantId) external view returns (Consent memory) {
        return _consents[grantId];
    }

    /// @inheritdoc IConsentManager
    function isGuardian(address patient, address guardian) external view returns (bool) {
        return _guardians[patient][guardian] != 0;
    }

    /// @inheritdoc IConsentManager
    function nonces(address patient) external view returns (uint256) {
        return _nonces[patient];
    }

    /// @inheritdoc IConsentManager
    function signatureNonce(address patient, bytes32 grantId) public view returns (uint256) {
        return (_nonces[patient] << 16) | _consents[grantId].version;
    }

    /// @inheritdoc IConsentManager
    function getBreakGlass(bytes32 accessId) external view returns (BreakGlass memory) {
        return _breakGlass[accessId];
    }

    /// @notice The EIP-712 domain separator (chain id and this contract bound in).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _grantRequest(address patient, uint8 by, GrantRequest calldata r) private returns (bytes32) {
        return _grant(patient, by, r.grantee, r.kind, r.value, r.purpose, r.start, r.end, r.deny, r.keysDigest);
    }

    function _grant(
        address patient,
        uint8 by,
        address grantee,
        ScopeKind kind,
        bytes32 value,
        Purpose purpose,
        uint40 start,
        uint40 end,
        bool deny,
        bytes32 keysDigest
    ) private returns (bytes32 grantId) {
        if (grantee == address(0) || grantee == patient) revert InvalidGrantee(grantee);
        if (grantee == msg.sender && _isGuardian(by)) revert GuardianOwnAccess(grantee);
        if (start == 0) start = uint40(block.timestamp);
        if (end <= start || end <= block.timestamp || end > type(uint32).max) {
            revert InvalidPeriod(start, end, block.timestamp);
        }
        _checkScope(patient, kind, value);
        grantId = grantIdOf(patient, grantee, kind, value, purpose);
        Consent storage consent = _consents[grantId];
        _checkGuardianMayChange(grantId, consent, by);
        if (!deny && _isGuardian(by)) _checkWiderDenials(patient, grantee, kind, value, purpose);
        _store(consent, Packing.consent(patient, uint32(start), uint32(end), deny, by, _next(consent.version)));
        if (deny) {
            emit ConsentDenied(grantId, patient, grantee, kind, value, purpose, start, end);
        } else {
            emit ConsentGranted(grantId, patient, grantee, kind, value, purpose, start, end, keysDigest);
        }
    }

    function _revokeAsCaller(bytes32 grantId) private {
        Consent storage consent = _consents[grantId];
        if (consent.end == 0) revert UnknownConsent(grantId);
        _revoke(grantId, consent, _actor(consent.patient));
    }

    /// @dev A revocation keeps the patient and the version (so that signatures about the
    /// consent stay void) and zeroes the period.
    function _revoke(bytes32 grantId, Consent storage consent, uint8 by) private {
        _checkGuardianMayChange(grantId, consent, by);
        address patient = consent.patient;
        _consents[grantId] =
            Consent({patient: patient, start: 0, end: 0, deny: false, decidedBy: by, version: _next(consent.version)});
        emit ConsentRevoked(grantId, patient);
    }

    /// @dev A guardian may not replace or revoke a denial the patient made that still applies.
    function _checkGuardianMayChange(bytes32 grantId, Consent storage consent, uint8 by) private view {
        if (_isGuardian(by)) _refuseIfPatientDenied(grantId, consent);
    }

    /// @dev Nor get around one with a narrower grant (the most specific consent decides, so
    /// a record grant would beat the patient's denial of its category, and a category grant
    /// the patient's denial of everything): a guardian's grant is refused while the patient
    /// denies the same grantee and purpose at a wider scope.
    function _checkWiderDenials(address patient, address grantee, ScopeKind kind, bytes32 value, Purpose purpose)
        private
        view
    {
        if (kind == ScopeKind.All) return;
        if (kind == ScopeKind.Record) {
            bytes32 category = bytes32(uint256(registry.getRecord(value).category));
            bytes32 categoryId = grantIdOf(patient, grantee, ScopeKind.Category, category, purpose);
            _refuseIfPatientDenied(categoryId, _consents[categoryId]);
        }
        bytes32 allId = grantIdOf(patient, grantee, ScopeKind.All, bytes32(0), purpose);
        _refuseIfPatientDenied(allId, _consents[allId]);
    }

    function _refuseIfPatientDenied(bytes32 grantId, Consent storage consent) private view {
        if (consent.deny && consent.end > block.timestamp && !_isGuardian(consent.decidedBy)) {
            revert PatientDecided(grantId);
        }
    }

    function _store(Consent storage consent, uint256 word) private {
        bytes32 slot;
        assembly ("memory-safe") {
            slot := consent.slot
        }
        Packing.store(slot, word);
    }

    function _next(uint16 version) private pure returns (uint16) {
        unchecked {
            return version + 1;
        }
    }

    function _isGuardian(uint8 by) private pure returns (bool) {
        return by != BY_PATIENT && by != BY_SIGNATURE;
    }

    function _checkScope(address patient, ScopeKind kind, bytes32 value) private view {
        if (kind == ScopeKind.Record) {
            if (registry.patientOf(value) != patient) revert RecordNotOfPatient(value, patient);
        } else if (kind == ScopeKind.Category) {
            if (uint256(value) > type(uint8).max) revert InvalidScope(kind, value);
        } else if (value != bytes32(0)) {
            revert InvalidScope(kind, value);
        }
    }

    /// @dev Who the caller is for `patient`: BY_PATIENT, or its guardian appointment number.
    function _actor(address patient) private view returns (uint8) {
        if (msg.sender == patient) return BY_PATIENT;
        uint8 number = _guardians[patient][msg.sender];
        if (number == 0) revert NotPatientOrGuardian(msg.sender, patient);
        return number;
    }

    function _checkRole(bytes32 role) private view {
        if (!registry.hasRole(role, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
        }
    }

    /// An account's EIP-712 signature: ECDSA for a key, ERC-1271 for a contract wallet. (Not
    /// OpenZeppelin's SignatureChecker: it imports Bytes, which needs MCOPY, and these
    /// contracts are built for the Paris rules a Clique consortium chain runs; see README.)
    function _signedBy(address patient, bytes32 structHash, bytes calldata signature) private view returns (bool) {
        bytes32 digest = _hashTypedDataV4(structHash);
        if (patient.code.length == 0) {
            (address signer, ECDSA.RecoverError failure,) = ECDSA.tryRecover(digest, signature);
            return failure == ECDSA.RecoverError.NoError && signer == patient;
        }
        (bool ok, bytes memory answer) = patient.staticcall(abi.encodeCall(IERC1271.isValidSignature, (digest, signature)));
        return ok && answer.length >= 32 && abi.decode(answer, (bytes32)) == bytes32(IERC1271.isValidSignature.selector);
    }

    function _access(address reader, bytes32 recordId, Purpose purpose)
        private
        view
        returns (bool, address, uint8)
    {
        IRecordRegistry.RecordHead memory head = registry.getRecord(recordId);
        address patient = head.patient;
        uint8 category = head.category;
        if (purpose == Purpose.Emergency && _inEmergency(reader, patient)) return (true, patient, category);
        (bool found, bool allowed) = _decide(patient, reader, ScopeKind.Record, recordId, purpose);
        if (!found) {
            (found, allowed) = _decide(patient, reader, ScopeKind.Category, bytes32(uint256(category)), purpose);
        }
        if (!found) (found, allowed) = _decide(patient, reader, ScopeKind.All, bytes32(0), purpose);
        return (found && allowed, patient, category);
    }

    /// @dev An open break-glass access of `reader` to `patient`, while `reader` is a provider
    /// (an unjustified verdict or a close ends it at once).
    function _inEmergency(address reader, address patient) private view returns (bool) {
        bytes32 accessId = _emergency[reader][patient];
        return accessId != 0 && _breakGlass[accessId].expiresAt > block.timestamp
            && registry.hasRole(PROVIDER_ROLE, reader);
    }

    /// @dev (found, allowed) for one scope: found if a consent exists, is in its period, and
    /// was not decided by a guardian since removed.
    function _decide(address patient, address reader, ScopeKind kind, bytes32 value, Purpose purpose)
        private
        view
        returns (bool, bool)
    {
        Consent storage consent = _consents[grantIdOf(patient, reader, kind, value, purpose)];
        uint32 end = consent.end;
        if (end == 0 || block.timestamp < consent.start || block.timestamp >= end) return (false, false);
        uint8 by = consent.decidedBy;
        if (_isGuardian(by) && (_appointments[patient].active & (uint248(1) << by)) == 0) return (false, false);
        return (true, !consent.deny);
    }
}
