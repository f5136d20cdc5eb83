// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IAccessLog
/// @notice The read audit trail (HIPAA §164.312(b)). Every read through the SDK produces an
/// access receipt signed by the reader (EIP-712: reader, patient, record, version, purpose,
/// time). Readers batch their receipts per patient, store the batch encrypted to the patient
/// on IPFS, and anchor the batch's Merkle root here; the patient's client shows the trail and
/// can prove any receipt is in an anchored batch.
/// @dev A batch is keyed by (reader, root): its id is `keccak256(abi.encode(reader, root))`,
/// so only the reader can ever fill its own batch and nobody can occupy another reader's root
/// by anchoring a copy of it first. Leaves are domain-separated from internal nodes: the leaf
/// of a receipt is `keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))))`, as
/// OpenZeppelin's StandardMerkleTree builds them, so a 64-byte internal node can never be
/// presented as a receipt.
interface IAccessLog {
    /// @notice What the log keeps per anchored batch.
    struct Batch {
        address reader; // who read (and signed every receipt in the batch); zero if none
        uint40 anchoredAt; // when the root was anchored
        uint32 count; // receipts in the batch
        address patient; // whose records were read
    }

    /// @notice `reader` anchored a batch of `count` access receipts about `patient`, with
    /// Merkle root `root`, stored (encrypted to the patient) at `batchDigest`. The batch's id
    /// is `keccak256(abi.encode(reader, root))`.
    event AccessBatchAnchored(
        bytes32 indexed root, address indexed reader, address indexed patient, bytes32 batchDigest, uint32 count
    );

    /// @notice `reader` has already anchored a batch with this root.
    error BatchExists(address reader, bytes32 root);
    /// @notice A batch needs a root, a patient, a digest and at least one receipt.
    error InvalidBatch(bytes32 root, address patient, bytes32 batchDigest, uint32 count);

    /// @notice Anchor, as the reader (`msg.sender`), the Merkle root of `count` receipts about
    /// `patient` stored at `batchDigest`.
    /// @dev Reverts with `InvalidBatch` if the root, patient or digest is zero or `count` is 0,
    /// and with `BatchExists` if the sender anchored this root before. Another reader's batch
    /// with the same root is a different batch and never blocks this one.
    /// @param patient Whose records the receipts are about.
    /// @param root Merkle root over the batch's leaves (see the contract's dev note).
    /// @param batchDigest sha2-256 digest of the encrypted batch on IPFS.
    /// @param count Number of receipts in the batch.
    /// @return batchId `keccak256(abi.encode(msg.sender, root))`, the batch's key.
    function anchorBatch(address patient, bytes32 root, bytes32 batchDigest, uint32 count)
        external
        returns (bytes32 batchId);

    /// @notice The batch `reader` anchored under `root`.
    /// @param reader The reader that anchored the batch (and signed its receipts).
    /// @param root The batch's Merkle root.
    /// @return batch The batch; all zero (reader included) if `reader` anchored no such root.
    function getBatch(address reader, bytes32 root) external view returns (Batch memory batch);

    /// @notice Whether the receipt with EIP-712 digest `receiptDigest` is in the batch
    /// `reader` anchored under `root`.
    /// @param reader The reader that anchored the batch.
    /// @param root The batch's Merkle root.
    /// @param receiptDigest The receipt's EIP-712 digest; the contract hashes it into the leaf
    /// (`keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))))`).
    /// @param proof Sibling path from the leaf to the root (sorted-pair keccak256, as
    /// OpenZeppelin's MerkleProof).
    /// @return included True if `reader` anchored `root` and the proof leads from the leaf to it.
    function verifyReceipt(address reader, bytes32 root, bytes32 receiptDigest, bytes32[] calldata proof)
        external
        view
        returns (bool included);
}
