// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IDeviceKeys
/// @notice The signing keys of medical devices registered in the Traceability contract, and
/// the patient each device is worn by, both with their history, so a reading can be checked
/// against the key and the assignment as they were at the reading's time.
/// @dev A device's manufacturer (the `manufacturer` Traceability recorded, still holding
/// MANUFACTURER_ROLE) binds an Ed25519 public key to the device's UDI-based id, and rotates
/// it: the old key's validity ends at that block's timestamp and the new one starts there.
/// The manufacturer or a regulator revokes a key (a compromised device) without a successor.
/// The hospital holding an in-service device assigns it to a patient, as a commitment
/// keccak256(abi.encode(deviceId, patient, salt)) with a random salt that travels inside the
/// encrypted records, so the chain never names the patient. It does not hide the link from
/// traffic analysis: an assignment's time and hospital, followed by that hospital anchoring
/// observation records of one patient every few seconds, point to the wearer. A device
/// never gets back a key it had. Each history holds at most MAX_HISTORY entries.
interface IDeviceKeys {
    /// @notice One key of a device and when it was valid (block timestamps, [from, to)).
    struct DeviceKey {
        bytes32 publicKey; // the Ed25519 public key (RFC 8032, 32 bytes)
        uint40 validFrom; // the block timestamp it was bound
        uint40 validTo; // the block timestamp it was rotated out or revoked (0: still valid)
    }

    /// @notice One assignment of a device to a patient and when it held ([from, to)).
    struct Assignment {
        bytes32 patient; // keccak256(abi.encode(deviceId, patient address, salt)); 0: no patient
        uint40 validFrom; // the block timestamp it was made
        uint40 validTo; // the block timestamp it ended (0: current)
        address hospital; // the hospital that made it (the device's holder then)
    }

    event DeviceKeySet(bytes32 indexed deviceId, uint256 index, bytes32 publicKey, address indexed by);
    event DeviceKeyRevoked(bytes32 indexed deviceId, uint256 index, address indexed by);
    event DevicePatientAssigned(bytes32 indexed deviceId, uint256 index, bytes32 patient, address indexed hospital);

    /// @notice Only the device's manufacturer (still a manufacturer) sets its key.
    error NotDeviceManufacturer(bytes32 deviceId, address account);
    /// @notice Only the device's manufacturer or a regulator revokes its key.
    error NotDeviceManufacturerOrRegulator(bytes32 deviceId, address account);
    /// @notice Only the hospital holding an in-service device assigns it to a patient.
    error NotDeviceHolder(bytes32 deviceId, address account);
    /// @notice The device is decommissioned (or not in service, for an assignment).
    error DeviceNotInUse(bytes32 deviceId, uint8 status);
    /// @notice The zero key is no key.
    error InvalidPublicKey(bytes32 deviceId);
    /// @notice The device had this key before: a rotation needs a fresh key.
    error KeyReused(bytes32 deviceId, bytes32 publicKey);
    /// @notice The device has no valid key to revoke.
    error NoValidKey(bytes32 deviceId);
    /// @notice The assignment is the device's current one already.
    error AlreadyAssigned(bytes32 deviceId, bytes32 patient);
    /// @notice The device's key or assignment history is full.
    error HistoryFull(bytes32 deviceId, uint256 max);

    /// @notice (The device's manufacturer) Bind `publicKey` to the device, ending the
    /// validity of its current key, if any, at this block's timestamp.
    /// @param deviceId The device's id in the Traceability contract.
    /// @param publicKey The device's Ed25519 public key.
    /// @return index The key's index in the device's key history.
    function setKey(bytes32 deviceId, bytes32 publicKey) external returns (uint256 index);

    /// @notice (The device's manufacturer or a regulator) End the validity of the device's
    /// current key now, with no successor (the device was cloned or its key leaked).
    function revokeKey(bytes32 deviceId) external;

    /// @notice (The hospital holding the in-service device) Assign the device to a patient,
    /// given as a salted commitment, ending the current assignment now; 0 ends it with none.
    /// @return index The assignment's index in the device's assignment history.
    function assignPatient(bytes32 deviceId, bytes32 patient) external returns (uint256 index);

    /// @notice Every key the device had, oldest first.
    function keys(bytes32 deviceId) external view returns (DeviceKey[] memory);

    /// @notice Every assignment the device had, oldest first.
    function assignments(bytes32 deviceId) external view returns (Assignment[] memory);
}
