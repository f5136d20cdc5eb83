// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ITraceability
/// @notice Traceability of medicines (GS1: GTIN, lot, expiry, serials) from manufacturer to
/// dispensing, and of medical devices (UDI) through their life in a hospital.
/// @dev Drugs: a manufacturer registers a batch (a GTIN and lot with a contiguous range of
/// numeric serials; its certificate of analysis on IPFS). Custody is kept as *segments*
/// (serial sub-ranges, each with a holder), so a batch of any size costs the same to register
/// and a shipment of any number of units is one two-step transfer: the holder offers a
/// range, the receiver accepts it. A pharmacy or hospital dispenses single units (no patient
/// is named: only the unit and who dispensed it). A recall by the manufacturer or a
/// regulator flags the batch: every unit of it, wherever it is, can no longer move or be
/// dispensed, and the segments name every holder. Devices: the manufacturer registers a
/// device by the keccak256 of its UDI, assigns it to a hospital, which logs maintenance,
/// calibration and quality checks (reports on IPFS) and finally decommissions it. Roles
/// (manufacturer, distributor, pharmacy, regulator; hospitals are providers) are admitted by
/// the governor on the RecordRegistry.
interface ITraceability {
    enum DeviceStatus {
        None,
        Registered,
        InService,
        Decommissioned
    }

    enum ServiceKind {
        Maintenance,
        Calibration,
        QualityCheck
    }

    /// @notice A registered batch (two slots).
    struct Batch {
        address manufacturer;
        uint40 expiry; // first second the units are expired
        bool recalled;
        uint64 gtin; // GS1 GTIN-14 as a number
        uint64 firstSerial;
        uint64 lastSerial; // inclusive
    }

    /// @notice Who holds a range of a batch's serials, and to whom it is offered (if anyone).
    struct Segment {
        address holder;
        uint64 firstSerial;
        address pendingTo;
        uint64 lastSerial; // inclusive
    }

    /// @notice A medical device (one slot plus the holder).
    struct Device {
        address manufacturer;
        DeviceStatus status;
        uint32 services; // maintenance, calibration and quality-check entries logged
        address holder; // the hospital it is assigned to
    }

    event BatchRegistered(
        bytes32 indexed batchId,
        address indexed manufacturer,
        uint64 gtin,
        bytes20 lot,
        uint40 expiry,
        uint64 firstSerial,
        uint64 lastSerial,
        bytes32 docDigest
    );
    event TransferOffered(
        bytes32 indexed batchId,
        address indexed from,
        address indexed to,
        uint32 segment,
        uint64 firstSerial,
        uint64 lastSerial
    );
    event TransferAccepted(
        bytes32 indexed batchId,
        address indexed from,
        address indexed to,
        uint32 segment,
        uint64 firstSerial,
        uint64 lastSerial
    );
    event TransferCancelled(bytes32 indexed batchId, uint32 segment, address indexed by);
    event Dispensed(bytes32 indexed batchId, uint64 serial, address indexed by);
    event BatchRecalled(bytes32 indexed batchId, address indexed by, bytes32 reason);

    event DeviceRegistered(bytes32 indexed deviceId, address indexed manufacturer, bytes32 docDigest);
    event DeviceAssigned(bytes32 indexed deviceId, address indexed from, address indexed to);
    event DeviceServiced(
        bytes32 indexed deviceId, ServiceKind kind, bool passed, address indexed by, bytes32 reportDigest
    );
    event DeviceDecommissioned(bytes32 indexed deviceId, address indexed by, bytes32 reason);

    /// @notice `account` lacks `role` (a manufacturer, distributor, pharmacy, hospital or regulator).
    error MissingRole(bytes32 role, address account);
    /// @notice `account` may not receive or dispense medicines (not a distributor, pharmacy or hospital).
    error NotInSupplyChain(address account);
    error BatchExists(bytes32 batchId);
    error UnknownBatch(bytes32 batchId);
    error InvalidBatch(uint64 gtin, uint64 firstSerial, uint64 lastSerial, uint40 expiry);
    error BatchIsRecalled(bytes32 batchId);
    error BatchExpired(bytes32 batchId, uint40 expiry);
    error UnknownSegment(bytes32 batchId, uint32 segment);
    error NotHolder(bytes32 batchId, uint32 segment, address account);
    error SerialsOutsideSegment(bytes32 batchId, uint32 segment, uint64 firstSerial, uint64 lastSerial);
    error TransferPending(bytes32 batchId, uint32 segment, address pendingTo);
    error NoTransferToYou(bytes32 batchId, uint32 segment, address account);
    error AlreadyDispensed(bytes32 batchId, uint64 serial);
    error NotBatchManufacturerOrRegulator(bytes32 batchId, address account);
    error DeviceExists(bytes32 deviceId);
    error UnknownDevice(bytes32 deviceId);
    error WrongDeviceStatus(bytes32 deviceId, DeviceStatus status);
    error NotDeviceParty(bytes32 deviceId, address account);

    /// @notice Register a batch: `lot` is the GS1 lot (AI 10, at most 20 bytes), serials
    /// `firstSerial..lastSerial` (AI 21, numeric), `docDigest` the certificate of analysis on
    /// IPFS. The manufacturer holds every unit. Returns the batch id keccak256(gtin, lot).
    function registerBatch(
        uint64 gtin,
        bytes20 lot,
        uint40 expiry,
        uint64 firstSerial,
        uint64 lastSerial,
        bytes32 docDigest
    ) external returns (bytes32 batchId);

    /// @notice Offer serials `firstSerial..lastSerial` of the caller's `segment` to `to`.
    /// The range becomes its own segment (the same index); what is left stays the caller's.
    function offer(bytes32 batchId, uint32 segment, uint64 firstSerial, uint64 lastSerial, address to) external;

    /// @notice Accept a range offered to the caller: it becomes the caller's.
    function accept(bytes32 batchId, uint32 segment) external;

    /// @notice The holder withdraws an offer, or the receiver declines it.
    function cancelOffer(bytes32 batchId, uint32 segment) external;

    /// @notice A pharmacy or hospital holding `serial` (in `segment`) dispenses that unit.
    function dispense(bytes32 batchId, uint32 segment, uint64 serial) external;

    /// @notice The batch's manufacturer or a regulator recalls the batch.
    function recall(bytes32 batchId, bytes32 reason) external;

    /// @notice Register a device by the keccak256 of its UDI (DI + production identifiers).
    function registerDevice(bytes32 deviceId, bytes32 docDigest) external;

    /// @notice Assign a device to a hospital (by its manufacturer, or the hospital holding it).
    function assignDevice(bytes32 deviceId, address hospital) external;

    /// @notice Log maintenance, a calibration or a quality check (the report on IPFS).
    function logService(bytes32 deviceId, ServiceKind kind, bool passed, bytes32 reportDigest) external;

    /// @notice Take a device out of service for good (its holder or a regulator).
    function decommission(bytes32 deviceId, bytes32 reason) external;

    function batchIdOf(uint64 gtin, bytes20 lot) external pure returns (bytes32);
    function getBatch(bytes32 batchId) external view returns (Batch memory);
    function segments(bytes32 batchId) external view returns (Segment[] memory);
    function isDispensed(bytes32 batchId, uint64 serial) external view returns (bool);

    /// @notice Is this unit genuine (a registered batch, the serial in its range), who holds
    /// it (and to whom it is offered), and is it recalled, dispensed or expired?
    function verify(uint64 gtin, bytes20 lot, uint64 serial)
        external
        view
        returns (bool genuine, address holder, address pendingTo, bool recalled, bool dispensed, bool expired);

    function getDevice(bytes32 deviceId) external view returns (Device memory);
}
