// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ITraceability
/// @notice Traceability of medicines (GS1: GTIN, lot, expiry, serials) from manufacturer to
/// dispensing, and of medical devices (UDI) through their life in a hospital.
/// @dev Drugs: a manufacturer registers a batch (a GTIN and lot with a contiguous range of
/// numeric serials; its certificate of analysis on IPFS). Only the manufacturer the governor
/// assigned the GTIN's GS1 company prefix to may register it, so no one can squat another
/// brand's lots. Custody is kept as *segments* (serial sub-ranges, each with a holder), so a
/// batch of any size costs the same to register and a shipment of any number of units is one
/// two-step transfer of constant cost: the holder offers a range of one segment, the receiver
/// accepts it (the segment is split only then, so a cancelled offer leaves no trace in the
/// segments). A batch has at most MAX_SEGMENTS segments, which bounds `verify`. A pharmacy
/// or hospital dispenses single units (no patient is named: only the unit and who dispensed
/// it). A recall by the manufacturer or a regulator flags the batch: every unit of it,
/// wherever it is, can no longer move or be dispensed, and the segments name every holder.
/// Devices: the manufacturer owning the company prefix of the UDI's device identifier (a
/// GTIN) registers a device by that DI and the keccak256 of its production identifiers,
/// assigns it to a hospital, which logs maintenance, calibration and quality checks (reports
/// on IPFS) and finally decommissions it. Roles (manufacturer, distributor, pharmacy,
/// regulator; hospitals are providers) are admitted, and company prefixes assigned, by the
/// governor (the RecordRegistry's DEFAULT_ADMIN_ROLE holder). A caller lacking a role is
/// refused with OpenZeppelin's IAccessControl.AccessControlUnauthorizedAccount.
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

    /// @notice Who holds a range of a batch's serials, and to whom part or all of it is
    /// offered (if anyone). Three slots; the serial bounds share the first, so `verify` reads
    /// one slot per segment.
    struct Segment {
        uint64 firstSerial; // the first serial of the range held
        uint64 lastSerial; // inclusive
        uint64 offeredFirst; // the range offered to pendingTo (both 0 when nothing is offered)
        uint64 offeredLast; // inclusive
        address holder; // who holds the range
        address pendingTo; // to whom offeredFirst..offeredLast is offered (zero: no offer)
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

    event DeviceRegistered(bytes32 indexed deviceId, address indexed manufacturer, uint64 di, bytes32 docDigest);
    event CompanyPrefixAssigned(
        uint64 indexed prefix, uint8 digits, address indexed manufacturer, address indexed previous
    );
    event CompanyPrefixRevoked(uint64 indexed prefix, uint8 digits, address indexed manufacturer);
    event DeviceAssigned(bytes32 indexed deviceId, address indexed from, address indexed to);
    event DeviceServiced(
        bytes32 indexed deviceId, ServiceKind kind, bool passed, address indexed by, bytes32 reportDigest
    );
    event DeviceDecommissioned(bytes32 indexed deviceId, address indexed by, bytes32 reason);

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
    /// @notice A GS1 company prefix must have 6 to 12 digits (`prefix` < 10^`digits`).
    error InvalidCompanyPrefix(uint64 prefix, uint8 digits);
    /// @notice An assigned prefix begins with this one, or this one begins with an assigned one.
    error CompanyPrefixOverlaps(uint64 prefix, uint8 digits);
    /// @notice No manufacturer holds this company prefix.
    error CompanyPrefixNotAssigned(uint64 prefix, uint8 digits);
    /// @notice The company prefix of `gtin` is not assigned to `account`: not its brand.
    error CompanyPrefixNotYours(uint64 gtin, address account);
    /// @notice A UDI device identifier must be a GTIN-14 (1 to 10^14 - 1).
    error InvalidDeviceIdentifier(uint64 di);
    /// @notice The transfer would split `batchId` into more than `max` segments.
    error TooManySegments(bytes32 batchId, uint256 max);

    /// @notice (Governor) Assign a GS1 company prefix to a manufacturer, or reassign it (a
    /// brand changing hands). Prefixes never overlap: an assigned prefix is never the start of
    /// another.
    /// @param prefix The company prefix as a number (its leading zeros are given by `digits`).
    /// @param digits How many digits the prefix has (6 to 12).
    /// @param manufacturer Who may register GTINs and UDI-DIs under it (holds MANUFACTURER_ROLE).
    function assignCompanyPrefix(uint64 prefix, uint8 digits, address manufacturer) external;

    /// @notice (Governor) Take a company prefix away; registered batches and devices stay.
    /// @param prefix The company prefix as a number.
    /// @param digits How many digits the prefix has.
    function revokeCompanyPrefix(uint64 prefix, uint8 digits) external;

    /// @notice Who owns the GS1 company prefix of a GTIN (or UDI-DI).
    /// @param gtin The GTIN-14 as a number.
    /// @return prefix The assigned company prefix it begins with (after the indicator digit).
    /// @return digits The prefix's number of digits (0 if none is assigned).
    /// @return manufacturer The manufacturer it is assigned to (zero if none).
    function companyPrefixOf(uint64 gtin) external view returns (uint64 prefix, uint8 digits, address manufacturer);

    /// @notice Register a batch: `lot` is the GS1 lot (AI 10, at most 20 bytes), serials
    /// `firstSerial..lastSerial` (AI 21, numeric), `docDigest` the certificate of analysis on
    /// IPFS. The GTIN's company prefix must be assigned to the caller. The manufacturer holds
    /// every unit. Returns the batch id keccak256(gtin, lot).
    function registerBatch(
        uint64 gtin,
        bytes20 lot,
        uint40 expiry,
        uint64 firstSerial,
        uint64 lastSerial,
        bytes32 docDigest
    ) external returns (bytes32 batchId);

    /// @notice Offer serials `firstSerial..lastSerial` of the caller's `segment` to `to` (a
    /// distributor, pharmacy or hospital). Constant gas, whatever the range; the segment is
    /// split when the offer is accepted. The caller must still be in the supply chain.
    function offer(bytes32 batchId, uint32 segment, uint64 firstSerial, uint64 lastSerial, address to) external;

    /// @notice Accept a range offered to the caller: it becomes the caller's (keeping the
    /// segment's index; what the holder kept becomes new segments). The caller must still be
    /// a distributor, pharmacy or hospital.
    function accept(bytes32 batchId, uint32 segment) external;

    /// @notice The holder withdraws an offer, or the receiver declines it.
    function cancelOffer(bytes32 batchId, uint32 segment) external;

    /// @notice A pharmacy or hospital holding `serial` (in `segment`, not offered) dispenses that unit.
    function dispense(bytes32 batchId, uint32 segment, uint64 serial) external;

    /// @notice The batch's manufacturer or a regulator recalls the batch.
    function recall(bytes32 batchId, bytes32 reason) external;

    /// @notice Register a device by its UDI: the device identifier `di` (a GTIN, whose company
    /// prefix must be assigned to the caller) and `production`, the keccak256 of its
    /// production identifiers (serial, lot, dates). Replaces registerDevice(bytes32,bytes32).
    /// @param di The UDI-DI (GS1 AI 01) as a number.
    /// @param production keccak256 of the UDI's production identifiers.
    /// @param docDigest The device's documentation on IPFS.
    /// @return deviceId keccak256(di, production), the id every other device call takes.
    function registerDevice(uint64 di, bytes32 production, bytes32 docDigest) external returns (bytes32 deviceId);

    /// @notice Assign a device to a hospital (by its manufacturer, or the hospital holding it).
    function assignDevice(bytes32 deviceId, address hospital) external;

    /// @notice Log maintenance, a calibration or a quality check (the report on IPFS).
    function logService(bytes32 deviceId, ServiceKind kind, bool passed, bytes32 reportDigest) external;

    /// @notice Take a device out of service for good (its holder or a regulator).
    function decommission(bytes32 deviceId, bytes32 reason) external;

    function batchIdOf(uint64 gtin, bytes20 lot) external pure returns (bytes32);

    /// @notice The id of a device.
    /// @param di The UDI-DI as a number.
    /// @param production keccak256 of the UDI's production identifiers.
    /// @return keccak256(abi.encode(di, production)).
    function deviceIdOf(uint64 di, bytes32 production) external pure returns (bytes32);

    function getBatch(bytes32 batchId) external view returns (Batch memory);
    function segments(bytes32 batchId) external view returns (Segment[] memory);
    function isDispensed(bytes32 batchId, uint64 serial) external view returns (bool);

    /// @notice Is this unit genuine (a registered batch, the serial in its range), who holds
    /// it (and to whom it is offered), and is it recalled, dispensed or expired? Reads at most
    /// MAX_SEGMENTS segments.
    function verify(uint64 gtin, bytes20 lot, uint64 serial)
        external
        view
        returns (bool genuine, address holder, address pendingTo, bool recalled, bool dispensed, bool expired);

    function getDevice(bytes32 deviceId) external view returns (Device memory);
}
