// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IAccessLog} from "./interfaces/IAccessLog.sol";

/// @title AccessLog
/// @notice Merkle roots of signed access receipts: who read which record, why, and when.
contract AccessLog is IAccessLog {
    /// One slot per batch: the reader is part of the key, so it is not stored again.
    struct Stored {
        address patient;
        uint40 anchoredAt;
        uint32 count;
    }

    mapping(bytes32 batchId => Stored batch) private _batches;

    /// @inheritdoc IAccessLog
    function anchorBatch(address patient, bytes32 root, bytes32 batchDigest, uint32 count)
        external
        returns (bytes32 batchId)
    {
        if (root == bytes32(0) || patient == address(0) || count == 0 || batchDigest == bytes32(0)) {
            revert InvalidBatch(root, patient, batchDigest, count);
        }
        batchId = _batchId(msg.sender, root);
        if (_batches[batchId].patient != address(0)) revert BatchExists(msg.sender, root);
        _batches[batchId] = Stored({patient: patient, anchoredAt: uint40(block.timestamp), count: count});
        emit AccessBatchAnchored(root, msg.sender, patient, batchDigest, count);
    }

    /// @inheritdoc IAccessLog
    function getBatch(address reader, bytes32 root) external view returns (Batch memory batch) {
        Stored memory stored = _batches[_batchId(reader, root)];
        if (stored.patient != address(0)) {
            batch = Batch({
                reader: reader, anchoredAt: stored.anchoredAt, count: stored.count, patient: stored.patient
            });
        }
    }

    /// @inheritdoc IAccessLog
    function verifyReceipt(address reader, bytes32 root, bytes32 receiptDigest, bytes32[] calldata proof)
        external
        view
        returns (bool included)
    {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))));
        return _batches[_batchId(reader, root)].patient != address(0)
            && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    function _batchId(address reader, bytes32 root) private pure returns (bytes32) {
        return keccak256(abi.encode(reader, root));
    }
}
