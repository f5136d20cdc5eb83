// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title IRecordRegistry
/// @notice Append-only anchors of encrypted medical records stored on IPFS.
/// @dev Storage holds one slot per record (what other contracts must read: whose record,
/// its category, its author, its latest version, whether it was retracted). Every version's
/// content address lives in the `RecordAnchored` event as a 32-byte digest: the CID is
/// always CIDv1, codec dag-pb (0x70), multihash sha2-256 over `cidDigest`. The ciphertext is
/// a UnixFS file built with fixed parameters (1 MiB chunks, dag-pb leaves, balanced layout),
/// so a client rebuilds the exact CID and re-derives it from the fetched bytes, for records
/// of one block or many, without trusting any IPFS node. The registry is also the governance
/// every carechain contract reads roles from (`hasRole`); a caller without the role a call
/// needs is refused with OpenZeppelin's `AccessControlUnauthorizedAccount(account,
/// neededRole)` by every contract.
interface IRecordRegistry is IAccessControl {
    /// @notice Lifecycle of a record.
    enum RecordStatus {
        None, // never anchored
        Active, // its latest version is current
        EnteredInError // retracted by its author; kept, never overwritten
    }

    /// @notice What the registry keeps in storage for a record (one slot).
    struct RecordHead {
        address patient; // whose record it is
        uint32 authorId; // provider id of the author (see providerAddress)
        uint32 version; // latest version, counting from 1
        uint8 category; // record category code (see the SDK's Category enum)
        RecordStatus status; // Active or EnteredInError
    }

    /// @notice One record of a batch.
    struct Anchor {
        bytes32 recordId; // chosen by the provider (random; never derived from identifiers)
        address patient; // whose record it is
        uint8 category; // record category code
        bytes32 cidDigest; // sha2-256 digest inside the CID
    }

    /// @notice A provider was admitted for the first time and given a compact id.
    event ProviderRegistered(address indexed account, uint32 providerId);

    /// @notice A version of a record was anchored (version 1 creates the record; a higher
    /// version supersedes the previous one). The category is fixed at creation: read it
    /// with `getRecord` (kept out of the event to keep anchoring cheap).
    event RecordAnchored(
        bytes32 indexed recordId,
        address indexed patient,
        uint32 version,
        bytes32 cidDigest
    );

    /// @notice The author marked a record "entered in error". Its history stays readable.
    event RecordRetracted(bytes32 indexed recordId, address indexed patient, uint32 version, bytes32 reason);

    /// @notice A record with this id already exists.
    error RecordExists(bytes32 recordId);
    /// @notice No record has this id.
    error UnknownRecord(bytes32 recordId);
    /// @notice Only the record's author may add versions to it or retract it.
    error NotRecordAuthor(bytes32 recordId, address caller, address author);
    /// @notice The record was retracted; it takes no new versions.
    error RecordIsRetracted(bytes32 recordId, uint32 version);
    /// @notice A record id of zero, or a digest of zero, was given.
    error InvalidAnchor(bytes32 recordId, bytes32 cidDigest);
    /// @notice A patient cannot be the zero address.
    error InvalidPatient(bytes32 recordId, address patient);
    /// @notice A batch was empty or larger than `max`.
    error InvalidBatchSize(uint256 size, uint256 max);

    /// @notice Anchor version 1 of a new record. Only admitted providers; any provider may
    /// anchor for any patient (what makes a record evidence for a claim is the patient's
    /// Treatment consent for its provider, checked by the ClaimsManager).
    /// @param recordId A fresh random id chosen by the provider.
    /// @param patient Whose record it is.
    /// @param category The record's category code.
    /// @param cidDigest The sha2-256 digest inside the ciphertext's CID.
    function anchor(bytes32 recordId, address patient, uint8 category, bytes32 cidDigest) external;

    /// @notice Anchor version 1 of many new records in one transaction.
    /// @param anchors The records; at most `MAX_BATCH`.
    function anchorBatch(Anchor[] calldata anchors) external;

    /// @notice Anchor a new version of an existing record; it supersedes the previous one.
    /// @return version The new version number.
    function supersede(bytes32 recordId, bytes32 cidDigest) external returns (uint32 version);

    /// @notice Mark a record "entered in error". Terminal; nothing is deleted.
    /// @param reason A reason code (e.g. keccak256 of a FHIR reason code); never free text.
    function retract(bytes32 recordId, bytes32 reason) external;

    /// @notice Whether a record with this id exists.
    function recordExists(bytes32 recordId) external view returns (bool);

    /// @notice The stored head of a record; reverts with `UnknownRecord` if there is none.
    function getRecord(bytes32 recordId) external view returns (RecordHead memory);

    /// @notice Whose record it is; reverts with `UnknownRecord` if there is none.
    function patientOf(bytes32 recordId) external view returns (address);

    /// @notice The latest version number; reverts with `UnknownRecord` if there is none.
    function latestVersion(bytes32 recordId) external view returns (uint32);

    /// @notice The author of a record; reverts with `UnknownRecord` if there is none.
    function authorOf(bytes32 recordId) external view returns (address);

    /// @notice The compact id of a provider (0 if it was never admitted).
    function providerId(address provider) external view returns (uint32);

    /// @notice The id of `provider` if it is admitted now, else 0 (one read for other contracts).
    function activeProviderId(address provider) external view returns (uint32);

    /// @notice The address behind a provider id (zero if unknown).
    function providerAddress(uint32 id) external view returns (address);
}
