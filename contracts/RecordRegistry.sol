// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {Packing} from "./Packing.sol";
import {PROVIDER_ROLE, INSURER_ROLE, AUDITOR_ROLE, ZeroAddress} from "./Common.sol";

/// @title RecordRegistry
/// @notice Governance (who is a provider, insurer, auditor) and the append-only registry of
/// encrypted record anchors. Other carechain contracts read roles and records from here.
/// @dev The governor holds DEFAULT_ADMIN_ROLE and admits or removes parties with
/// `grantRole` / `revokeRole` (OpenZeppelin emits RoleGranted / RoleRevoked). The governor
/// role itself moves only in two steps with a delay (OpenZeppelin's
/// AccessControlDefaultAdminRules: `beginDefaultAdminTransfer`, then after
/// `ADMIN_TRANSFER_DELAY` the new governor's `acceptDefaultAdminTransfer`), so a mistyped or
/// stolen hand-over can be seen and cancelled before it takes effect. Providers are
/// also given a compact 32-bit id on first admission so a record's author fits in the same
/// storage slot as its patient: one fresh slot per record is the whole storage cost.
contract RecordRegistry is AccessControlDefaultAdminRules, IRecordRegistry {
    /// @notice The largest batch `anchorBatch` accepts (keeps a batch well inside a block).
    uint256 public constant MAX_BATCH = 500;
    /// @notice How long a governor hand-over waits between its start and its acceptance.
    uint48 public constant ADMIN_TRANSFER_DELAY = 2 days;

    /// @dev A provider's compact id and whether it is admitted now; one slot, one read.
    struct ProviderSlot {
        uint32 id;
        bool active;
    }

    mapping(bytes32 recordId => RecordHead head) private _records;
    mapping(address provider => ProviderSlot slot) private _providers;
    mapping(uint32 providerId => address provider) private _providerAddresses;
    uint32 private _providerCount;

    /// @param governor The account (a multisig or timelock in production) that admits parties.
    /// @dev A zero governor is refused by `_grantRole` (ZeroAddress("account")).
    constructor(address governor) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, governor) {}

    // ------------------------------------------------------------------ writes

    /// @inheritdoc IRecordRegistry
    function anchor(bytes32 recordId, address patient, uint8 category, bytes32 cidDigest) external {
        uint32 author = _activeProviderId(msg.sender);
        _anchorNew(author, recordId, patient, category, cidDigest);
    }

    /// @inheritdoc IRecordRegistry
    function anchorBatch(Anchor[] calldata anchors) external {
        uint256 count = anchors.length;
        if (count == 0 || count > MAX_BATCH) revert InvalidBatchSize(count, MAX_BATCH);
        uint32 author = _activeProviderId(msg.sender);
        for (uint256 i; i < count; ++i) {
            Anchor calldata a = anchors[i];
            _anchorNew(author, a.recordId, a.patient, a.category, a.cidDigest);
        }
    }

    /// @inheritdoc IRecordRegistry
    function supersede(bytes32 recordId, bytes32 cidDigest) external returns (uint32 version) {
        if (cidDigest == bytes32(0)) revert InvalidAnchor(recordId, cidDigest);
        RecordHead storage head = _authoredRecord(recordId);
        version = head.version + 1;
        head.version = version;
        emit RecordAnchored(recordId, head.patient, version, cidDigest);
    }

    /// @inheritdoc IRecordRegistry
    function retract(bytes32 recordId, bytes32 reason) external {
        RecordHead storage head = _authoredRecord(recordId);
        head.status = RecordStatus.EnteredInError;
        emit RecordRetracted(recordId, head.patient, head.version, reason);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IRecordRegistry
    function recordExists(bytes32 recordId) external view returns (bool) {
        return _records[recordId].status != RecordStatus.None;
    }

    /// @inheritdoc IRecordRegistry
    function getRecord(bytes32 recordId) external view returns (RecordHead memory) {
        return _existingRecord(recordId);
    }

    /// @inheritdoc IRecordRegistry
    function patientOf(bytes32 recordId) external view returns (address) {
        return _existingRecord(recordId).patient;
    }

    /// @inheritdoc IRecordRegistry
    function latestVersion(bytes32 recordId) external view returns (uint32) {
        return _existingRecord(recordId).version;
    }

    /// @inheritdoc IRecordRegistry
    function authorOf(bytes32 recordId) external view returns (address) {
        return _providerAddresses[_existingRecord(recordId).authorId];
    }

    /// @inheritdoc IRecordRegistry
    function providerId(address provider) external view returns (uint32) {
        return _providers[provider].id;
    }

    /// @inheritdoc IRecordRegistry
    function activeProviderId(address provider) external view returns (uint32) {
        ProviderSlot memory slot = _providers[provider];
        return slot.active ? slot.id : 0;
    }

    /// @inheritdoc IRecordRegistry
    function providerAddress(uint32 id) external view returns (address) {
        return _providerAddresses[id];
    }

    // ------------------------------------------------------------------ internals

    function _anchorNew(
        uint32 author,
        bytes32 recordId,
        address patient,
        uint8 category,
        bytes32 cidDigest
    ) private {
        if (recordId == bytes32(0) || cidDigest == bytes32(0)) revert InvalidAnchor(recordId, cidDigest);
        if (patient == address(0)) revert InvalidPatient(recordId, patient);
        // The hot path of bulk ingest: the fresh head is one packed word, so the slot costs
        // exactly one SLOAD and one SSTORE.
        bytes32 slot;
        assembly ("memory-safe") {
            mstore(0x00, recordId)
            mstore(0x20, _records.slot)
            slot := keccak256(0x00, 0x40)
        }
        if (Packing.load(slot) != 0) revert RecordExists(recordId);
        Packing.store(slot, Packing.recordHead(patient, author, 1, category, RecordStatus.Active));
        emit RecordAnchored(recordId, patient, 1, cidDigest);
    }

    /// @dev The record, which must exist, be active, and have been authored by the caller,
    /// who must still be an admitted provider.
    function _authoredRecord(bytes32 recordId) private view returns (RecordHead storage head) {
        uint32 caller = _activeProviderId(msg.sender);
        head = _records[recordId];
        if (head.status == RecordStatus.None) revert UnknownRecord(recordId);
        if (head.authorId != caller) {
            revert NotRecordAuthor(recordId, msg.sender, _providerAddresses[head.authorId]);
        }
        if (head.status == RecordStatus.EnteredInError) revert RecordIsRetracted(recordId, head.version);
    }

    function _existingRecord(bytes32 recordId) private view returns (RecordHead storage head) {
        head = _records[recordId];
        if (head.status == RecordStatus.None) revert UnknownRecord(recordId);
    }

    function _activeProviderId(address account) private view returns (uint32) {
        ProviderSlot memory slot = _providers[account];
        if (!slot.active) revert AccessControlUnauthorizedAccount(account, PROVIDER_ROLE);
        return slot.id;
    }

    /// @dev Keeps the provider slot in step with PROVIDER_ROLE, and refuses the zero address
    /// for every role so a mistyped admission fails loudly.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (account == address(0)) revert ZeroAddress("account");
        granted = super._grantRole(role, account);
        if (granted && role == PROVIDER_ROLE) {
            ProviderSlot storage slot = _providers[account];
            if (slot.id == 0) {
                uint32 id = ++_providerCount;
                slot.id = id;
                _providerAddresses[id] = account;
                emit ProviderRegistered(account, id);
            }
            slot.active = true;
        }
    }

    function _revokeRole(bytes32 role, address account)
        internal
        override
        returns (bool revoked)
    {
        revoked = super._revokeRole(role, account);
        if (revoked && role == PROVIDER_ROLE) _providers[account].active = false;
    }

    /// @notice The role identifiers, for clients that prefer reading them from the chain.
    function roles() external pure returns (bytes32 provider, bytes32 insurer, bytes32 auditor) {
        return (PROVIDER_ROLE, INSURER_ROLE, AUDITOR_ROLE);
    }
}
