// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IAccessLog} from "./interfaces/IAccessLog.sol";

/// @title AccessLog
/// @notice Merkle roots of signed access receipts: who read which record, why, and when.
contract AccessLog is IAccessLog {
    mapping(bytes32 root => Batch batch) private _batches;

    /// @inheritdoc IAccessLog
    function anchorBatch(address patient, bytes32 root, bytes32 batchDigest, uint32 count) external {
        if (root == bytes32(0) || patient == address(0) || count == 0 || batchDigest == bytes32(0)) {
            revert InvalidBatch(root, patient, count);
        }
        if (_batches[root].reader != address(0)) revert BatchExists(root);
        _batches[root] =
            Batch({reader: msg.sender, anchoredAt: uint40(block.timestamp), count: count, patient: patient});
        emit AccessBatchAnchored(root, msg.sender, patient, batchDigest, count);
    }

    /// @inheritdoc IAccessLog
    function getBatch(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc IAccessLog
    function verifyReceipt(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return _batches[root].reader != address(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
