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

    /// @notice Most segments a batch can be split into: bounds `verify` (one slot read per
    /// segment) and `segments`. At the cap, only whole segments move.
    uint256 public constant MAX_SEGMENTS = 1000;
    /// @notice Shortest and longest GS1 company prefix, in digits.
    uint8 public constant MIN_PREFIX_DIGITS = 6;
    uint8 public constant MAX_PREFIX_DIGITS = 12;
    /// @dev One more than the largest GTIN-14.
    uint64 private constant GTIN_LIMIT = 1e14;
    /// @dev The RecordRegistry's DEFAULT_ADMIN_ROLE: the governor.
    bytes32 private constant GOVERNOR_ROLE = 0x00;

    mapping(bytes32 batchId => Batch batch) private _batches;
    mapping(bytes32 batchId => Segment[] segments) private _segments;
    mapping(bytes32 batchId => mapping(uint256 word => uint256 bits)) private _dispensed;
    mapping(bytes32 deviceId => Device device) private _devices;
    mapping(uint8 digits => mapping(uint64 prefix => address manufacturer)) private _prefixOwner;
    /// @dev How many assigned prefixes begin with this shorter one (so none overlaps another).
    mapping(uint8 digits => mapping(uint64 prefix => uint256 count)) private _longerAssigned;

    constructor(IAccessControl registry_) {
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        registry = registry_;
    }

    // ------------------------------------------------------------------ brands

    /// @inheritdoc ITraceability
    function assignCompanyPrefix(uint64 prefix, uint8 digits, address manufacturer) external {
        _requireRole(GOVERNOR_ROLE, msg.sender);
        if (digits < MIN_PREFIX_DIGITS || digits > MAX_PREFIX_DIGITS || prefix >= 10 ** digits) {
            revert InvalidCompanyPrefix(prefix, digits);
        }
        _requireRole(MANUFACTURER_ROLE, manufacturer);
        address previous = _prefixOwner[digits][prefix];
        if (previous == address(0)) {
            if (_longerAssigned[digits][prefix] != 0) revert CompanyPrefixOverlaps(prefix, digits);
            for (uint8 d = MIN_PREFIX_DIGITS; d < digits; ++d) {
                if (_prefixOwner[d][prefix / uint64(10) ** (digits - d)] != address(0)) {
                    revert CompanyPrefixOverlaps(prefix, digits);
                }
            }
            for (uint8 d = MIN_PREFIX_DIGITS; d < digits; ++d) {
                ++_longerAssigned[d][prefix / uint64(10) ** (digits - d)];
            }
        }
        _prefixOwner[digits][prefix] = manufacturer;
        emit CompanyPrefixAssigned(prefix, digits, manufacturer, previous);
    }

    /// @inheritdoc ITraceability
    function revokeCompanyPrefix(uint64 prefix, uint8 digits) external {
        _requireRole(GOVERNOR_ROLE, msg.sender);
        address manufacturer = _prefixOwner[digits][prefix];
        if (manufacturer == address(0)) revert CompanyPrefixNotAssigned(prefix, digits);
        delete _prefixOwner[digits][prefix];
        for (uint8 d = MIN_PREFIX_DIGITS; d < digits; ++d) {
            --_longerAssigned[d][prefix / uint64(10) ** (digits - d)];
        }
        emit CompanyPrefixRevoked(prefix, digits, manufacturer);
    }

    /// @inheritdoc ITraceability
    function companyPrefixOf(uint64 gtin) public view returns (uint64 prefix, uint8 digits, address manufacturer) {
        if (gtin >= GTIN_LIMIT) return (0, 0, address(0));
        // GTIN-14: indicator digit, company prefix and item reference (12 digits), check digit.
        for (uint8 d = MIN_PREFIX_DIGITS; d <= MAX_PREFIX_DIGITS; ++d) {
            uint64 candidate = (gtin / uint64(10) ** (13 - d)) % uint64(10) ** d;
            address owner = _prefixOwner[d][candidate];
            if (owner != address(0)) return (candidate, d, owner);
        }
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
        if (gtin == 0 || gtin >= GTIN_LIMIT || lastSerial < firstSerial || expiry <= block.timestamp) {
            revert InvalidBatch(gtin, firstSerial, lastSerial, expiry);
        }
        _requireBrandOwner(gtin);
        batchId = batchIdOf(gtin, lot);
        Batch storage batch = _batches[batchId];
        if (batch.manufacturer != address(0)) revert BatchExists(batchId);
        _batches[batchId] = Batch(msg.sender, expiry, false, gtin, firstSerial, lastSerial);
        _segments[batchId].push(Segment(firstSerial, lastSerial, 0, 0, msg.sender, address(0)));
        emit BatchRegistered(batchId, msg.sender, gtin, lot, expiry, firstSerial, lastSerial, docDigest);
    }

    /// @inheritdoc ITraceability
    function offer(bytes32 batchId, uint32 segment, uint64 firstSerial, uint64 lastSerial, address to)
        external
    {
        if (!registry.hasRole(MANUFACTURER_ROLE, msg.sender) && !_inSupplyChain(msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, DISTRIBUTOR_ROLE);
        }
        _requireUsable(batchId);
        if (!_inSupplyChain(to) || to == msg.sender) revert NotInSupplyChain(to);
        Segment[] storage all = _segments[batchId];
        Segment storage s = _held(all, batchId, segment);
        if (firstSerial < s.firstSerial || lastSerial > s.lastSerial || lastSerial < firstSerial) {
            revert SerialsOutsideSegment(batchId, segment, firstSerial, lastSerial);
        }
        // Refused now if accepting it would be refused (more segments may appear meanwhile).
        _requireRoomToSplit(all.length, s, firstSerial, lastSerial, batchId);
        // Dispensed units are not looked for (that would cost gas in proportion to the range):
        // they may move on paper, but dispense and verify read each unit's bit.
        s.offeredFirst = firstSerial;
        s.offeredLast = lastSerial;
        s.pendingTo = to;
        emit TransferOffered(batchId, msg.sender, to, segment, firstSerial, lastSerial);
    }

    /// @inheritdoc ITraceability
    function accept(bytes32 batchId, uint32 segment) external {
        _requireUsable(batchId);
        Segment[] storage all = _segments[batchId];
        Segment storage s = _segment(batchId, segment);
        if (s.pendingTo != msg.sender) revert NoTransferToYou(batchId, segment, msg.sender);
        if (!_inSupplyChain(msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, DISTRIBUTOR_ROLE);
        }
        (uint64 first, uint64 last, uint64 kept0, uint64 kept1, address from) =
            (s.offeredFirst, s.offeredLast, s.firstSerial, s.lastSerial, s.holder);
        _requireRoomToSplit(all.length, s, first, last, batchId);
        // What the holder keeps becomes new segments; the accepted range keeps the index.
        s.firstSerial = first;
        s.lastSerial = last;
        s.offeredFirst = 0;
        s.offeredLast = 0;
        s.holder = msg.sender;
        s.pendingTo = address(0);
        if (first > kept0) all.push(Segment(kept0, first - 1, 0, 0, from, address(0)));
        if (last < kept1) all.push(Segment(last + 1, kept1, 0, 0, from, address(0)));
        emit TransferAccepted(batchId, from, msg.sender, segment, first, last);
    }

    /// @inheritdoc ITraceability
    function cancelOffer(bytes32 batchId, uint32 segment) external {
        Segment storage s = _segment(batchId, segment);
        address to = s.pendingTo;
        if (to == address(0) || (msg.sender != s.holder && msg.sender != to)) {
            revert NoTransferToYou(batchId, segment, msg.sender);
        }
        s.offeredFirst = 0;
        s.offeredLast = 0;
        s.pendingTo = address(0);
        emit TransferCancelled(batchId, segment, msg.sender);
    }

    /// @inheritdoc ITraceability
    function dispense(bytes32 batchId, uint32 segment, uint64 serial) external {
        _requireUsable(batchId);
        if (!registry.hasRole(PHARMACY_ROLE, msg.sender) && !registry.hasRole(PROVIDER_ROLE, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, PHARMACY_ROLE);
        }
        Segment storage s = _segment(batchId, segment);
        if (s.holder != msg.sender) revert NotHolder(batchId, segment, msg.sender);
        if (serial < s.firstSerial || serial > s.lastSerial) {
            revert SerialsOutsideSegment(batchId, segment, serial, serial);
        }
        address pendingTo = s.pendingTo;
        if (pendingTo != address(0) && serial >= s.offeredFirst && serial <= s.offeredLast) {
            revert TransferPending(batchId, segment, pendingTo);
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
    function registerDevice(uint64 di, bytes32 production, bytes32 docDigest) external returns (bytes32 deviceId) {
        _requireRole(MANUFACTURER_ROLE, msg.sender);
        if (di == 0 || di >= GTIN_LIMIT) revert InvalidDeviceIdentifier(di);
        _requireBrandOwner(di);
        deviceId = deviceIdOf(di, production);
        Device storage device = _devices[deviceId];
        if (device.status != DeviceStatus.None) revert DeviceExists(deviceId);
        device.manufacturer = msg.sender;
        device.status = DeviceStatus.Registered;
        emit DeviceRegistered(deviceId, msg.sender, di, docDigest);
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
    function deviceIdOf(uint64 di, bytes32 production) public pure returns (bytes32) {
        return keccak256(abi.encode(di, production));
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
        uint256 n = all.length; // at most MAX_SEGMENTS
        for (uint256 i; i < n; ++i) {
            Segment storage s = all[i];
            if (serial >= s.firstSerial && serial <= s.lastSerial) {
                holder = s.holder;
                if (serial >= s.offeredFirst && serial <= s.offeredLast) pendingTo = s.pendingTo;
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
        if (!registry.hasRole(role, account)) revert IAccessControl.AccessControlUnauthorizedAccount(account, role);
    }

    /// @dev The GTIN's (or UDI-DI's) company prefix is assigned to the caller.
    function _requireBrandOwner(uint64 gtin) private view {
        (,, address owner) = companyPrefixOf(gtin);
        if (owner != msg.sender) revert CompanyPrefixNotYours(gtin, msg.sender);
    }

    /// @dev Moving first..last out of `s` adds at most two segments; refuses going past the cap.
    function _requireRoomToSplit(uint256 count, Segment storage s, uint64 first, uint64 last, bytes32 batchId)
        private
        view
    {
        if (first > s.firstSerial) ++count;
        if (last < s.lastSerial) ++count;
        if (count > MAX_SEGMENTS) revert TooManySegments(batchId, MAX_SEGMENTS);
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

    function _existingDevice(bytes32 deviceId) private view returns (Device storage device) {
        device = _devices[deviceId];
        if (device.status == DeviceStatus.None) revert UnknownDevice(deviceId);
    }
}
