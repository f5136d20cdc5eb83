// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {PROVIDER_ROLE, AUDITOR_ROLE, ZeroAddress} from "./Common.sol";

/// @title ConsentManager
/// @notice Patients decide who reads which of their records, for what, until when.
contract ConsentManager is IConsentManager, EIP712 {
    /// @notice The longest a break-glass access may last.
    uint256 public constant MAX_BREAK_GLASS = 24 hours;
    /// @notice The largest batch of grants or revocations.
    uint256 public constant MAX_BATCH = 100;

    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(address patient,address grantee,uint8 kind,bytes32 value,uint8 purpose,uint40 start,uint40 end,bool deny,bytes32 keysDigest,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_TYPEHASH = keccak256("Revoke(bytes32 grantId,uint256 nonce,uint256 deadline)");

    /// @notice Where records and roles live.
    IRecordRegistry public immutable registry;

    mapping(bytes32 grantId => Consent consent) private _consents;
    mapping(address patient => mapping(address guardian => bool appointed)) private _guardians;
    mapping(address patient => uint256 nonce) private _nonces;
    mapping(bytes32 accessId => BreakGlass access) private _breakGlass;
    mapping(address provider => mapping(address patient => uint40 expiresAt)) private _emergency;
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
        return _grant(msg.sender, grantee, kind, value, purpose, 0, end, false, keysDigest);
    }

    /// @inheritdoc IConsentManager
    function grantFor(address patient, GrantRequest calldata request) external returns (bytes32) {
        _checkActor(patient);
        return _grantRequest(patient, request);
    }

    /// @inheritdoc IConsentManager
    function grantBatch(address patient, GrantRequest[] calldata requests) external returns (bytes32[] memory ids) {
        _checkActor(patient);
        uint256 count = requests.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        ids = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            ids[i] = _grantRequest(patient, requests[i]);
        }
    }

    /// @inheritdoc IConsentManager
    function grantBySig(address patient, GrantRequest calldata request, uint256 deadline, bytes calldata signature)
        external
        returns (bytes32)
    {
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
                _nonces[patient],
                deadline
            )
        );
        _useSignature(patient, structHash, deadline, signature);
        return _grantRequest(patient, request);
    }

    // ------------------------------------------------------------------ revoke

    /// @inheritdoc IConsentManager
    function revoke(bytes32 grantId) external {
        _revoke(grantId, true);
    }

    /// @inheritdoc IConsentManager
    function revokeBatch(bytes32[] calldata grantIds) external {
        uint256 count = grantIds.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        for (uint256 i; i < count; ++i) {
            _revoke(grantIds[i], true);
        }
    }

    /// @inheritdoc IConsentManager
    function revokeBySig(bytes32 grantId, uint256 deadline, bytes calldata signature) external {
        address patient = _consents[grantId].patient;
        if (patient == address(0)) revert UnknownConsent(grantId);
        bytes32 structHash = keccak256(abi.encode(REVOKE_TYPEHASH, grantId, _nonces[patient], deadline));
        _useSignature(patient, structHash, deadline, signature);
        _revoke(grantId, false);
    }

    /// @inheritdoc IConsentManager
    function cancelSignatures(uint256 newNonce) external {
        uint256 current = _nonces[msg.sender];
        if (newNonce <= current) revert InvalidNonce(current, newNonce);
        _nonces[msg.sender] = newNonce;
        emit SignaturesCancelled(msg.sender, newNonce);
    }

    // ------------------------------------------------------------------ guardians

    /// @inheritdoc IConsentManager
    function appointGuardian(address guardian) external {
        if (guardian == address(0) || guardian == msg.sender) revert InvalidGuardian(guardian);
        _guardians[msg.sender][guardian] = true;
        emit GuardianAppointed(msg.sender, guardian);
    }

    /// @inheritdoc IConsentManager
    function removeGuardian(address guardian) external {
        if (!_guardians[msg.sender][guardian]) revert InvalidGuardian(guardian);
        delete _guardians[msg.sender][guardian];
        emit GuardianRemoved(msg.sender, guardian);
    }

    // ------------------------------------------------------------------ break-glass

    /// @inheritdoc IConsentManager
    function openBreakGlass(address patient, bytes32 justification, uint32 duration)
        external
        returns (bytes32 accessId)
    {
        if (!IAccessControl(address(registry)).hasRole(PROVIDER_ROLE, msg.sender)) {
            revert NotAuthorized(msg.sender, PROVIDER_ROLE);
        }
        if (patient == address(0)) revert ZeroAddress("patient");
        if (duration == 0 || duration > MAX_BREAK_GLASS) revert InvalidDuration(duration, MAX_BREAK_GLASS);
        uint40 expiresAt = uint40(block.timestamp + duration);
        accessId = keccak256(abi.encode(block.chainid, address(this), ++_breakGlassCount));
        _breakGlass[accessId] =
            BreakGlass({clinician: msg.sender, expiresAt: expiresAt, review: Review.Pending, patient: patient});
        _emergency[msg.sender][patient] = expiresAt;
        emit BreakGlassOpened(accessId, patient, msg.sender, justification, expiresAt);
    }

    /// @inheritdoc IConsentManager
    function reviewBreakGlass(bytes32 accessId, bool justified) external {
        if (!IAccessControl(address(registry)).hasRole(AUDITOR_ROLE, msg.sender)) {
            revert NotAuthorized(msg.sender, AUDITOR_ROLE);
        }
        BreakGlass storage access = _breakGlass[accessId];
        if (access.clinician == address(0) || access.review != Review.Pending) revert UnknownOrReviewed(accessId);
        Review review = justified ? Review.Justified : Review.Unjustified;
        access.review = review;
        emit BreakGlassReviewed(accessId, msg.sender, review);
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
        return _guardians[patient][guardian];
    }

    /// @inheritdoc IConsentManager
    function nonces(address patient) external view returns (uint256) {
        return _nonces[patient];
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

    function _grantRequest(address patient, GrantRequest calldata r) private returns (bytes32) {
        return _grant(patient, r.grantee, r.kind, r.value, r.purpose, r.start, r.end, r.deny, r.keysDigest);
    }

    function _grant(
        address patient,
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
        if (start == 0) start = uint40(block.timestamp);
        if (end <= start || end <= block.timestamp) revert InvalidPeriod(start, end, block.timestamp);
        _checkScope(patient, kind, value);
        grantId = grantIdOf(patient, grantee, kind, value, purpose);
        _storeConsent(grantId, patient, start, end, deny);
        if (deny) {
            emit ConsentDenied(grantId, patient, grantee, kind, value, purpose, start, end);
        } else {
            emit ConsentGranted(grantId, patient, grantee, kind, value, purpose, start, end, keysDigest);
        }
    }

    /// @dev Writes the Consent struct as one word (its layout, first field lowest): a grant is
    /// the hot path, and a struct assignment would re-read the slot to keep its unused byte.
    function _storeConsent(bytes32 grantId, address patient, uint40 start, uint40 end, bool deny) private {
        uint256 packed = uint256(uint160(patient)) | (uint256(start) << 160) | (uint256(end) << 200)
            | (deny ? uint256(1) << 240 : 0);
        bytes32 slot;
        assembly ("memory-safe") {
            mstore(0x00, grantId)
            mstore(0x20, _consents.slot)
            slot := keccak256(0x00, 0x40)
            sstore(slot, packed)
        }
    }

    function _revoke(bytes32 grantId, bool checkCaller) private {
        address patient = _consents[grantId].patient;
        if (patient == address(0)) revert UnknownConsent(grantId);
        if (checkCaller) _checkActor(patient);
        delete _consents[grantId];
        emit ConsentRevoked(grantId, patient);
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

    function _checkActor(address patient) private view {
        if (msg.sender != patient && !_guardians[patient][msg.sender]) {
            revert NotPatientOrGuardian(msg.sender, patient);
        }
    }

    function _useSignature(address patient, bytes32 structHash, uint256 deadline, bytes calldata signature)
        private
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        if (!SignatureChecker.isValidSignatureNow(patient, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature(patient);
        }
        ++_nonces[patient];
    }

    function _access(address reader, bytes32 recordId, Purpose purpose)
        private
        view
        returns (bool, address, uint8)
    {
        IRecordRegistry.RecordHead memory head = registry.getRecord(recordId);
        address patient = head.patient;
        uint8 category = head.category;
        if (purpose == Purpose.Emergency && _emergency[reader][patient] > block.timestamp) {
            return (true, patient, category);
        }
        (bool found, bool allowed) = _decide(patient, reader, ScopeKind.Record, recordId, purpose);
        if (!found) {
            (found, allowed) = _decide(patient, reader, ScopeKind.Category, bytes32(uint256(category)), purpose);
        }
        if (!found) (found, allowed) = _decide(patient, reader, ScopeKind.All, bytes32(0), purpose);
        return (found && allowed, patient, category);
    }

    /// @dev (found, allowed) for one scope: found if a consent exists and is in its period.
    function _decide(address patient, address reader, ScopeKind kind, bytes32 value, Purpose purpose)
        private
        view
        returns (bool, bool)
    {
        Consent storage consent = _consents[grantIdOf(patient, reader, kind, value, purpose)];
        if (consent.end == 0 || block.timestamp < consent.start || block.timestamp >= consent.end) {
            return (false, false);
        }
        return (true, !consent.deny);
    }
}
