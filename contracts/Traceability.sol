// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ITraceability} from "./interfaces/ITraceability.sol";
import {
    PROVIDER_ROLE, MANUFACTURER_ROLE, DISTRIBUTOR_ROLE, PHARMACY_ROLE, REGULATOR_ROLE, ZeroAddress
} from "./Common.sol";

/// @title Traceability
/// @notice Medicines from manufacturer to dispensing, and medical devices through their
/// life in a hospital. See {ITraceability}.
contract Traceability is ITraceability {
    /// @notice Where roles live (the RecordRegistry's governance).
    IAccessControl public immutable registry;

    mapping(bytes32 batchId => Batch batch) private _batches;
    mapping(bytes32 batchId => Segment[] segments) private _segments;
    mapping(bytes32 batchId => mapping(uint256 word => uint256 bits)) private _dispensed;
    mapping(bytes32 deviceId => Device device) private _devices;

    constructor(IAccessControl registry_) {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        registry = registry_;
    }

    // ------------------------------------------------------------------ medicines

    /// @inheritdoc ITraceability
    function registerBatch(
        uint64 gtin,
        bytes20 lot,
        uint40 expiry,
        uint64 firstSerial,
        uint64 lastSerial,
        bytes32 docDigest
    ) external returns (bytes32 batchId) {
        _requireRole(MANUFACTURER_ROLE, msg.sender);
        if (gtin == 0 || lastSerial < firstSerial || expiry <= block.timestamp) {
            revert InvalidBatch(gtin, firstSerial, lastSerial, expiry);
        }
        batchId = batchIdOf(gtin, lot);
        Batch storage batch = _batches[batchId];
        if (batch.manufacturer != address(0)) revert BatchExists(batchId);
        _batches[batchId] = Batch(msg.sender, expiry, false, gtin, firstSerial, lastSerial);
        _segments[batchId].push(Segment(msg.sender, firstSerial, address(0), lastSerial));
        emit BatchRegistered(batchId, msg.sender, gtin, lot, expiry, firstSerial, lastSerial, docDigest);
    }

    /// @inheritdoc ITraceability
    function offer(bytes32 batchId, uint32 segment, uint64 firstSerial, uint64 lastSerial, address to)
        external
    {
        _requireUsable(batchId);
        if (!_inSupplyChain(to) || to == msg.sender) revert NotInSupplyChain(to);
        Segment[] storage all = _segments[batchId];
        Segment storage s = _held(all, batchId, segment);
        if (firstSerial < s.firstSerial || lastSerial > s.lastSerial || lastSerial < firstSerial) {
            revert SerialsOutsideSegment(batchId, segment, firstSerial, lastSerial);
        }
        if (_anyDispensed(batchId, firstSerial, lastSerial)) revert AlreadyDispensed(batchId, firstSerial);
        // What stays behind becomes new segments of the holder; the offered range keeps the index.
        if (firstSerial > s.firstSerial) all.push(Segment(msg.sender, s.firstSerial, address(0), firstSerial - 1));
        if (lastSerial < s.lastSerial) all.push(Segment(msg.sender, lastSerial + 1, address(0), s.lastSerial));
        s.firstSerial = firstSerial;
        s.lastSerial = lastSerial;
        s.pendingTo = to;
        emit TransferOffered(batchId, msg.sender, to, segment, firstSerial, lastSerial);
    }

    /// @inheritdoc ITraceability
    function accept(bytes32 batchId, uint32 segment) external {
        _requireUsable(batchId);
        Segment storage s = _segment(batchId, segment);
        if (s.pendingTo != msg.sender) revert NoTransferToYou(batchId, segment, msg.sender);
        address from = s.holder;
        s.holder = msg.sender;
        s.pendingTo = address(0);
        emit TransferAccepted(batchId, from, msg.sender, segment, s.firstSerial, s.lastSerial);
    }

    /// @inheritdoc ITraceability
    function cancelOffer(bytes32 batchId, uint32 segment) external {
        Segment storage s = _segment(batchId, segment);
        address to = s.pendingTo;
        if (to == address(0) || (msg.sender != s.holder && msg.sender != to)) {
            revert NoTransferToYou(batchId, segment, msg.sender);
        }
        s.pendingTo = address(0);
        emit TransferCancelled(batchId, segment, msg.sender);
    }

    /// @inheritdoc ITraceability
    function dispense(bytes32 batchId, uint32 segment, uint64 serial) external {
        _requireUsable(batchId);
        if (!registry.hasRole(PHARMACY_ROLE, msg.sender) && !registry.hasRole(PROVIDER_ROLE, msg.sender)) {
            revert MissingRole(PHARMACY_ROLE, msg.sender);
        }
        Segment storage s = _held(_segments[batchId], batchId, segment);
        if (serial < s.firstSerial || serial > s.lastSerial) {
            revert SerialsOutsideSegment(batchId, segment, serial, serial);
        }
        uint256 bit = uint256(1) << (serial & 0xff);
        mapping(uint256 => uint256) storage words = _dispensed[batchId];
        uint256 word = words[serial >> 8];
        if (word & bit != 0) revert AlreadyDispensed(batchId, serial);
        words[serial >> 8] = word | bit;
        emit Dispensed(batchId, serial, msg.sender);
    }

    /// @inheritdoc ITraceability
    function recall(bytes32 batchId, bytes32 reason) external {
        Batch storage batch = _existingBatch(batchId);
        if (msg.sender != batch.manufacturer && !registry.hasRole(REGULATOR_ROLE, msg.sender)) {
            revert NotBatchManufacturerOrRegulator(batchId, msg.sender);
        }
        if (batch.recalled) revert BatchIsRecalled(batchId);
        batch.recalled = true;
        emit BatchRecalled(batchId, msg.sender, reason);
    }

    // ------------------------------------------------------------------ devices

    /// @inheritdoc ITraceability
    function registerDevice(bytes32 deviceId, bytes32 docDigest) external {
        _requireRole(MANUFACTURER_ROLE, msg.sender);
        Device storage device = _devices[deviceId];
        if (device.status != DeviceStatus.None) revert DeviceExists(deviceId);
        device.manufacturer = msg.sender;
        device.status = DeviceStatus.Registered;
        emit DeviceRegistered(deviceId, msg.sender, docDigest);
    }

    /// @inheritdoc ITraceability
    function assignDevice(bytes32 deviceId, address hospital) external {
        Device storage device = _existingDevice(deviceId);
        DeviceStatus status = device.status;
        if (status == DeviceStatus.Decommissioned) revert WrongDeviceStatus(deviceId, status);
        address from = status == DeviceStatus.Registered ? device.manufacturer : device.holder;
        if (msg.sender != from) revert NotDeviceParty(deviceId, msg.sender);
        _requireRole(PROVIDER_ROLE, hospital);
        device.holder = hospital;
        device.status = DeviceStatus.InService;
        emit DeviceAssigned(deviceId, msg.sender, hospital);
    }

    /// @inheritdoc ITraceability
    function logService(bytes32 deviceId, ServiceKind kind, bool passed, bytes32 reportDigest) external {
        Device storage device = _existingDevice(deviceId);
        if (device.status != DeviceStatus.InService) revert WrongDeviceStatus(deviceId, device.status);
        if (msg.sender != device.holder && msg.sender != device.manufacturer) {
            revert NotDeviceParty(deviceId, msg.sender);
        }
        device.services += 1;
        emit DeviceServiced(deviceId, kind, passed, msg.sender, reportDigest);
    }

    /// @inheritdoc ITraceability
    function decommission(bytes32 deviceId, bytes32 reason) external {
        Device storage device = _existingDevice(deviceId);
        if (device.status == DeviceStatus.Decommissioned) revert WrongDeviceStatus(deviceId, device.status);
        address holder = device.status == DeviceStatus.InService ? device.holder : device.manufacturer;
        if (msg.sender != holder && !registry.hasRole(REGULATOR_ROLE, msg.sender)) {
            revert NotDeviceParty(deviceId, msg.sender);
        }
        device.status = DeviceStatus.Decommissioned;
        emit DeviceDecommissioned(deviceId, msg.sender, reason);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ITraceability
    function batchIdOf(uint64 gtin, bytes20 lot) public pure returns (bytes32) {
        return keccak256(abi.encode(gtin, lot));
    }

    /// @inheritdoc ITraceability
    function getBatch(bytes32 batchId) external view returns (Batch memory) {
        return _existingBatch(batchId);
    }

    /// @inheritdoc ITraceability
    function segments(bytes32 batchId) external view returns (Segment[] memory) {
        _existingBatch(batchId);
        return _segments[batchId];
    }

    /// @inheritdoc ITraceability
    function isDispensed(bytes32 batchId, uint64 serial) public view returns (bool) {
        return _dispensed[batchId][serial >> 8] & (uint256(1) << (serial & 0xff)) != 0;
    }

    /// @inheritdoc ITraceability
    function verify(uint64 gtin, bytes20 lot, uint64 serial)
        external
        view
        returns (bool genuine, address holder, address pendingTo, bool recalled, bool dispensed, bool expired)
    {
        bytes32 batchId = batchIdOf(gtin, lot);
        Batch storage batch = _batches[batchId];
        if (batch.manufacturer == address(0) || serial < batch.firstSerial || serial > batch.lastSerial) {
            return (false, address(0), address(0), false, false, false);
        }
        Segment[] storage all = _segments[batchId];
        for (uint256 i; i < all.length; ++i) {
            if (serial >= all[i].firstSerial && serial <= all[i].lastSerial) {
                (holder, pendingTo) = (all[i].holder, all[i].pendingTo);
                break;
            }
        }
        return (true, holder, pendingTo, batch.recalled, isDispensed(batchId, serial), block.timestamp >= batch.expiry);
    }

    /// @inheritdoc ITraceability
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _existingDevice(deviceId);
    }

    // ------------------------------------------------------------------ internals

    function _requireRole(bytes32 role, address account) private view {
        if (!registry.hasRole(role, account)) revert MissingRole(role, account);
    }

    function _inSupplyChain(address account) private view returns (bool) {
        return registry.hasRole(DISTRIBUTOR_ROLE, account) || registry.hasRole(PHARMACY_ROLE, account)
            || registry.hasRole(PROVIDER_ROLE, account);
    }

    function _existingBatch(bytes32 batchId) private view returns (Batch storage batch) {
        batch = _batches[batchId];
        if (batch.manufacturer == address(0)) revert UnknownBatch(batchId);
    }

    /// @dev A batch whose units may still move or be dispensed: known, not recalled, not expired.
    function _requireUsable(bytes32 batchId) private view {
        Batch storage batch = _existingBatch(batchId);
        if (batch.recalled) revert BatchIsRecalled(batchId);
        if (block.timestamp >= batch.expiry) revert BatchExpired(batchId, batch.expiry);
    }

    function _segment(bytes32 batchId, uint32 segment) private view returns (Segment storage) {
        Segment[] storage all = _segments[batchId];
        if (segment >= all.length) revert UnknownSegment(batchId, segment);
        return all[segment];
    }

    /// @dev A segment the caller holds and has not offered to anyone.
    function _held(Segment[] storage all, bytes32 batchId, uint32 segment) private view returns (Segment storage s) {
        if (segment >= all.length) revert UnknownSegment(batchId, segment);
        s = all[segment];
        if (s.holder != msg.sender) revert NotHolder(batchId, segment, msg.sender);
        if (s.pendingTo != address(0)) revert TransferPending(batchId, segment, s.pendingTo);
    }

    /// @dev Whether any unit in first..last was dispensed (checked a 256-bit word at a time).
    function _anyDispensed(bytes32 batchId, uint64 first, uint64 last) private view returns (bool) {
        mapping(uint256 => uint256) storage words = _dispensed[batchId];
        for (uint256 w = first >> 8; w <= last >> 8; ++w) {
            uint256 bits = words[w];
            if (bits == 0) continue;
            uint256 lo = w == first >> 8 ? first & 0xff : 0;
            uint256 hi = w == last >> 8 ? last & 0xff : 255;
            uint256 mask = (type(uint256).max >> (255 - hi)) & (type(uint256).max << lo);
            if (bits & mask != 0) return true;
        }
        return false;
    }

    function _existingDevice(bytes32 deviceId) private view returns (Device storage device) {
        device = _devices[deviceId];
        if (device.status == DeviceStatus.None) revert UnknownDevice(deviceId);
    }
}
