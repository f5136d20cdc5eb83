// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IKeyEscrow} from "./interfaces/IKeyEscrow.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {PROVIDER_ROLE, EMERGENCY_ROLE, ZeroAddress} from "./Common.sol";

/// @title KeyEscrow
/// @notice Threshold backups of patients' record keys, and records' data keys split among
/// emergency institutions, released only while a break-glass is open.
contract KeyEscrow is IKeyEscrow {
    /// @notice The most shares an escrow has (SLIP-39's limit).
    uint256 public constant MAX_HOLDERS = 16;
    /// @notice The longest a recovery request stays open.
    uint256 public constant MAX_RECOVERY = 7 days;

    /// @notice Where roles live.
    IRecordRegistry public immutable registry;
    /// @notice Where break-glass accesses live.
    IConsentManager public immutable consent;

    mapping(address patient => mapping(Kind kind => Escrow escrow)) private _escrows;
    mapping(bytes32 escrowId => mapping(uint256 index => Share share)) private _shares;
    mapping(address patient => Recovery recovery) private _recoveries;
    mapping(bytes32 releaseId => uint256 released) private _released;
    mapping(address patient => bytes32 keysDigest) private _rewraps;
    uint256 private _requestCount;

    constructor(IRecordRegistry registry_, IConsentManager consent_) {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        if (address(consent_) == address(0)) revert ZeroAddress("consent");
        registry = registry_;
        consent = consent_;
    }

    /// @inheritdoc IKeyEscrow
    function createEscrow(
        Kind kind,
        uint8 threshold,
        address[] calldata holders,
        bytes32[] calldata commitments,
        uint16 kemId,
        bytes calldata publicKey,
        bytes32 sharesDigest,
        bytes32 keysDigest
    ) external returns (uint32 epoch) {
        uint256 count = holders.length;
        bool backup = kind == Kind.Backup;
        if (
            threshold < 2 || threshold > count || count > MAX_HOLDERS
                || commitments.length != (backup ? count : 0)
        ) {
            revert InvalidThreshold(threshold, count, commitments.length);
        }
        if (backup) {
            if (publicKey.length == 0) revert MissingValue("publicKey");
            if (sharesDigest == 0) revert MissingValue("sharesDigest");
            Recovery storage recovery = _recoveries[msg.sender];
            if (recovery.expiresAt > block.timestamp) revert RecoveryOpen(recovery.requestId);
        } else {
            // The data keys are split per record: a key here would be one no release uses.
            if (kemId != 0 || publicKey.length != 0) revert NotForEmergency("publicKey");
            if (sharesDigest != 0) revert NotForEmergency("sharesDigest");
            if (keysDigest == 0) revert MissingValue("keysDigest");
        }
        Escrow storage escrow = _escrows[msg.sender][kind];
        epoch = escrow.epoch + 1;
        bytes32 escrowId = _escrowId(msg.sender, kind, epoch);
        for (uint256 i; i < count; ++i) {
            address holder = holders[i];
            _checkHolder(kind, holder, holders, i);
            bytes32 commitment = backup ? commitments[i] : bytes32(0);
            if (backup && commitment == 0) revert MissingValue("commitment");
            _shares[escrowId][i] = Share({holder: holder, commitment: commitment});
        }
        escrow.epoch = epoch;
        escrow.threshold = threshold;
        escrow.holders = uint8(count);
        escrow.kemId = kemId;
        escrow.keyCommitment = backup ? keccak256(abi.encode(kemId, publicKey)) : bytes32(0);
        escrow.sharesDigest = sharesDigest;
        escrow.keysDigest = backup ? bytes32(0) : keysDigest;
        emit EscrowCreated(
            msg.sender, kind, epoch, threshold, holders, commitments, kemId, publicKey, sharesDigest, keysDigest
        );
    }

    /// @inheritdoc IKeyEscrow
    function removeEscrow(Kind kind) external {
        Escrow storage escrow = _escrows[msg.sender][kind];
        if (escrow.holders == 0) revert NoEscrow(msg.sender, kind);
        escrow.holders = 0;
        escrow.threshold = 0;
        emit EscrowRemoved(msg.sender, kind, escrow.epoch);
    }

    /// @inheritdoc IKeyEscrow
    function openRecovery(uint16 kemId, bytes calldata devicePublicKey, uint32 duration)
        external
        returns (bytes32 requestId)
    {
        Escrow storage backup = _escrows[msg.sender][Kind.Backup];
        if (backup.holders == 0) revert NoEscrow(msg.sender, Kind.Backup);
        if (devicePublicKey.length == 0) revert MissingValue("devicePublicKey");
        if (duration == 0 || duration > MAX_RECOVERY) revert InvalidDuration(duration, MAX_RECOVERY);
        requestId = keccak256(abi.encode(block.chainid, address(this), ++_requestCount));
        uint40 expiresAt = uint40(block.timestamp + duration);
        uint32 epoch = backup.epoch;
        _recoveries[msg.sender] = Recovery({
            requestId: requestId,
            expiresAt: expiresAt,
            epoch: epoch,
            deviceKeyCommitment: keccak256(abi.encode(kemId, devicePublicKey))
        });
        emit RecoveryOpened(msg.sender, requestId, epoch, kemId, devicePublicKey, expiresAt);
    }

    /// @inheritdoc IKeyEscrow
    function closeRecovery() external {
        Recovery storage recovery = _recoveries[msg.sender];
        if (recovery.expiresAt <= block.timestamp) revert NoOpenRequest(msg.sender, recovery.requestId);
        recovery.expiresAt = uint40(block.timestamp);
        emit RecoveryClosed(msg.sender, recovery.requestId);
    }

    /// @inheritdoc IKeyEscrow
    function releaseShare(address patient, Kind kind, bytes32 requestId, uint8 index, bytes32 releaseDigest)
        external
    {
        Escrow storage escrow = _escrows[patient][kind];
        if (escrow.holders == 0) revert NoEscrow(patient, kind);
        uint32 epoch = escrow.epoch;
        if (_shares[_escrowId(patient, kind, epoch)][index].holder != msg.sender) {
            revert NotShareHolder(msg.sender, patient, index);
        }
        if (releaseDigest == 0) revert MissingValue("releaseDigest");
        if (!_requestOpen(patient, kind, requestId)) revert NoOpenRequest(patient, requestId);
        bytes32 releaseId = keccak256(abi.encode(patient, kind, requestId));
        uint256 bit = uint256(1) << index;
        // A backup share goes to the device once. An institution may release again while the
        // break-glass is open: records anchored since its last release need their shares too.
        if (kind == Kind.Backup && _released[releaseId] & bit != 0) {
            revert AlreadyReleased(patient, requestId, index);
        }
        _released[releaseId] |= bit;
        emit ShareReleased(patient, kind, requestId, msg.sender, index, epoch, releaseDigest);
    }

    /// @inheritdoc IKeyEscrow
    function recordRewrap(bytes32 keysDigest) external {
        if (keysDigest == 0) revert MissingValue("keysDigest");
        _rewraps[msg.sender] = keysDigest;
        emit KeysRewrapped(msg.sender, keysDigest);
    }

    /// @inheritdoc IKeyEscrow
    function getEscrow(address patient, Kind kind) external view returns (Escrow memory) {
        return _escrows[patient][kind];
    }

    /// @inheritdoc IKeyEscrow
    function getShare(address patient, Kind kind, uint32 epoch, uint8 index) external view returns (Share memory) {
        return _shares[_escrowId(patient, kind, epoch)][index];
    }

    /// @inheritdoc IKeyEscrow
    function getRecovery(address patient) external view returns (Recovery memory) {
        return _recoveries[patient];
    }

    /// @inheritdoc IKeyEscrow
    function isReleased(address patient, Kind kind, bytes32 requestId, uint8 index) external view returns (bool) {
        return _released[keccak256(abi.encode(patient, kind, requestId))] & (uint256(1) << index) != 0;
    }

    /// @inheritdoc IKeyEscrow
    function rewrapOf(address patient) external view returns (bytes32) {
        return _rewraps[patient];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Distinct, neither zero nor the patient; emergency holders are admitted institutions.
    function _checkHolder(Kind kind, address holder, address[] calldata holders, uint256 position) private view {
        if (holder == address(0) || holder == msg.sender) revert InvalidHolder(holder);
        for (uint256 j; j < position; ++j) {
            if (holders[j] == holder) revert InvalidHolder(holder);
        }
        if (kind == Kind.Emergency && !registry.hasRole(EMERGENCY_ROLE, holder)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(holder, EMERGENCY_ROLE);
        }
    }

    /// @dev Backup: the patient's open recovery request (a re-share is refused while one is
    /// open, so it asks for the current epoch's shares). Emergency: an open
    /// break-glass access to this patient whose clinician is still a provider, released by an
    /// institution that still holds EMERGENCY_ROLE and is not that clinician (its own share
    /// would count towards the threshold of what it reads).
    function _requestOpen(address patient, Kind kind, bytes32 requestId) private view returns (bool) {
        if (kind == Kind.Backup) {
            Recovery storage recovery = _recoveries[patient];
            return recovery.requestId == requestId && recovery.expiresAt > block.timestamp;
        }
        if (!registry.hasRole(EMERGENCY_ROLE, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, EMERGENCY_ROLE);
        }
        IConsentManager.BreakGlass memory access = consent.getBreakGlass(requestId);
        if (access.clinician == msg.sender) revert ReleaseToSelf(msg.sender);
        return access.patient == patient && access.expiresAt > block.timestamp
            && registry.hasRole(PROVIDER_ROLE, access.clinician);
    }

    function _escrowId(address patient, Kind kind, uint32 epoch) private pure returns (bytes32) {
        return keccak256(abi.encode(patient, kind, epoch));
    }
}
