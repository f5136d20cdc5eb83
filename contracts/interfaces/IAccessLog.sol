// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IAccessLog
/// @notice The read audit trail (HIPAA §164.312(b)). Every read through the SDK produces an
/// access receipt signed by the reader (EIP-712: reader, patient, record, version, purpose,
/// time). Readers batch their receipts per patient, store the batch encrypted to the patient
/// on IPFS, and anchor the batch's Merkle root here; the patient's client shows the trail and
/// can prove any receipt is in an anchored batch.
interface IAccessLog {
    /// @notice What the log keeps per anchored root.
    struct Batch {
        address reader; // who read (and signed every receipt in the batch)
        uint40 anchoredAt; // when the root was anchored
        uint32 count; // receipts in the batch
        address patient; // whose records were read
    }

    /// @notice A reader anchored a batch of access receipts about one patient.
    event AccessBatchAnchored(
        bytes32 indexed root, address indexed reader, address indexed patient, bytes32 batchDigest, uint32 count
    );

    /// @notice This root was anchored already.
    error BatchExists(bytes32 root);
    /// @notice A batch needs a root, a patient, a digest and at least one receipt.
    error InvalidBatch(bytes32 root, address patient, uint32 count);

    /// @notice Anchor the Merkle root of `count` receipts about `patient`, stored at `batchDigest`.
    function anchorBatch(address patient, bytes32 root, bytes32 batchDigest, uint32 count) external;

    /// @notice The batch anchored under `root` (reader zero if none).
    function getBatch(bytes32 root) external view returns (Batch memory);

    /// @notice Whether `leaf` is in the batch anchored under `root`, given its Merkle `proof`
    /// (sorted-pair keccak256, as OpenZeppelin's MerkleProof).
    function verifyReceipt(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);
}
