// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IDeviceKeys} from "./interfaces/IDeviceKeys.sol";
import {ITraceability} from "./interfaces/ITraceability.sol";
import {MANUFACTURER_ROLE, REGULATOR_ROLE, PROVIDER_ROLE, ZeroAddress} from "./Common.sol";

/// @title DeviceKeys
/// @notice Medical devices' signing keys and patient assignments, with their history. The
/// devices themselves (manufacturer, holder, status, quality checks) are the Traceability
/// contract's; this one asks it. See {IDeviceKeys}.
contract DeviceKeys is IDeviceKeys {
    /// @notice The device registry this contract's devices live in.
    ITraceability public immutable trace;
    /// @notice Where roles live (the RecordRegistry's governance).
    IAccessControl public immutable registry;
    /// @notice Most keys, and most assignments, one device can have had.
    uint256 public constant MAX_HISTORY = 1000;

    mapping(bytes32 deviceId => DeviceKey[] keys) private _keys;
    mapping(bytes32 deviceId => Assignment[] assignments) private _assignments;
    mapping(bytes32 deviceId => mapping(bytes32 publicKey => bool bound)) private _bound;

    constructor(ITraceability trace_, IAccessControl registry_) {
        if (address(trace_) == address(0)) revert ZeroAddress("trace");
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        trace = trace_;
        registry = registry_;
    }

    /// @inheritdoc IDeviceKeys
    function setKey(bytes32 deviceId, bytes32 publicKey) external returns (uint256 index) {
        ITraceability.Device memory device = trace.getDevice(deviceId); // UnknownDevice if none
        if (msg.sender != device.manufacturer || !registry.hasRole(MANUFACTURER_ROLE, msg.sender)) {
            revert NotDeviceManufacturer(deviceId, msg.sender);
        }
        if (device.status == ITraceability.DeviceStatus.Decommissioned) {
            revert DeviceNotInUse(deviceId, uint8(device.status));
        }
        if (publicKey == bytes32(0)) revert InvalidPublicKey(deviceId);
        // Per device, not globally: a global "one device per key" would let anyone who saw
        // the key in the mempool bind it to a device of their own first and block this call.
        if (_bound[deviceId][publicKey]) revert KeyReused(deviceId, publicKey);
        DeviceKey[] storage history = _keys[deviceId];
        index = history.length;
        if (index == MAX_HISTORY) revert HistoryFull(deviceId, MAX_HISTORY);
        if (index != 0 && history[index - 1].validTo == 0) history[index - 1].validTo = uint40(block.timestamp);
        _keys[deviceId].push(DeviceKey(publicKey, uint40(block.timestamp), 0));
        _bound[deviceId][publicKey] = true;
        emit DeviceKeySet(deviceId, index, publicKey, msg.sender);
    }

    /// @inheritdoc IDeviceKeys
    function revokeKey(bytes32 deviceId) external {
        ITraceability.Device memory device = trace.getDevice(deviceId);
        if (msg.sender != device.manufacturer && !registry.hasRole(REGULATOR_ROLE, msg.sender)) {
            revert NotDeviceManufacturerOrRegulator(deviceId, msg.sender);
        }
        DeviceKey[] storage history = _keys[deviceId];
        uint256 n = history.length;
        if (n == 0 || history[n - 1].validTo != 0) revert NoValidKey(deviceId);
        history[n - 1].validTo = uint40(block.timestamp);
        emit DeviceKeyRevoked(deviceId, n - 1, msg.sender);
    }

    /// @inheritdoc IDeviceKeys
    function assignPatient(bytes32 deviceId, bytes32 patient) external returns (uint256 index) {
        ITraceability.Device memory device = trace.getDevice(deviceId);
        if (device.status != ITraceability.DeviceStatus.InService) {
            revert DeviceNotInUse(deviceId, uint8(device.status));
        }
        if (msg.sender != device.holder || !registry.hasRole(PROVIDER_ROLE, msg.sender)) {
            revert NotDeviceHolder(deviceId, msg.sender);
        }
        Assignment[] storage history = _assignments[deviceId];
        index = history.length;
        if (index == MAX_HISTORY) revert HistoryFull(deviceId, MAX_HISTORY);
        // The latest assignment is always the open one (each push closes the one before);
        // before the first, the device is worn by no one.
        bytes32 current = index == 0 ? bytes32(0) : history[index - 1].patient;
        if (current == patient) revert AlreadyAssigned(deviceId, patient);
        if (index != 0) history[index - 1].validTo = uint40(block.timestamp);
        _assignments[deviceId].push(Assignment(patient, uint40(block.timestamp), 0, msg.sender));
        emit DevicePatientAssigned(deviceId, index, patient, msg.sender);
    }

    /// @inheritdoc IDeviceKeys
    function keys(bytes32 deviceId) external view returns (DeviceKey[] memory) {
        return _keys[deviceId];
    }

    /// @inheritdoc IDeviceKeys
    function assignments(bytes32 deviceId) external view returns (Assignment[] memory) {
        return _assignments[deviceId];
    }
}
