// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

// Adversarial review, finding 7 (anyone could file receipts under any patient) and 14d
// (verifyReceipt accepted an internal Merkle node as a leaf). Each attack test is named after
// the attack and was written first, against the code that allowed it (there it failed:
// BatchExists for the front-run, `true` for the internal node).

import {Base} from "./Base.sol";
import {IAccessLog} from "../../contracts/interfaces/IAccessLog.sol";

contract AccessLogAttacksTest is Base {
    address internal doctor = address(0xD0C);
    address internal attacker = address(0xBAD);
    address internal decoy = address(0xDEC0);

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// The leaf the contract builds from a receipt's EIP-712 digest.
    function _leaf(bytes32 receiptDigest) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))));
    }

    /// Attack 7: the attacker copies the doctor's pending root from the mempool and anchors
    /// it first under a decoy patient. Before the fix the doctor's anchor then reverted for
    /// good (BatchExists) and the receipts were filed under the decoy. Now the copy is the
    /// attacker's own batch (keyed by its address) and the doctor's anchor goes through.
    function test_attack7_copied_root_front_run_under_a_decoy_patient() public {
        bytes32 root = keccak256("doctor's pending root");
        vm.prank(attacker);
        bytes32 copyId = accessLog.anchorBatch(decoy, root, bytes32(uint256(1)), 3);

        vm.prank(doctor);
        bytes32 batchId = accessLog.anchorBatch(patient, root, bytes32(uint256(2)), 3);

        vm.assertEq(batchId, keccak256(abi.encode(doctor, root)));
        vm.assertEq(copyId, keccak256(abi.encode(attacker, root)));
        IAccessLog.Batch memory genuine = accessLog.getBatch(doctor, root);
        vm.assertEq(genuine.reader, doctor);
        vm.assertEq(genuine.patient, patient);
        IAccessLog.Batch memory copy = accessLog.getBatch(attacker, root);
        vm.assertEq(copy.reader, attacker); // filed under the copier, never under the doctor
        vm.assertEq(copy.patient, decoy);
    }

    /// Attack 7, the occupied slot: once a reader's (reader, root) batch exists nobody can
    /// write it again — not the reader (BatchExists carries reader and root), and a copier
    /// only ever writes its own.
    function test_attack7_a_readers_batch_cannot_be_overwritten() public {
        bytes32 root = keccak256("root");
        vm.prank(doctor);
        accessLog.anchorBatch(patient, root, bytes32(uint256(1)), 2);
        vm.prank(attacker);
        accessLog.anchorBatch(decoy, root, bytes32(uint256(9)), 9);
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.BatchExists.selector, attacker, root));
        accessLog.anchorBatch(patient, root, bytes32(uint256(9)), 9);
        vm.prank(doctor);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.BatchExists.selector, doctor, root));
        accessLog.anchorBatch(decoy, root, bytes32(uint256(1)), 2);
        IAccessLog.Batch memory batch = accessLog.getBatch(doctor, root);
        vm.assertEq(batch.patient, patient);
        vm.assertEq(batch.count, 2);
    }

    /// Attack 7, misattribution: a junk batch anchored under a patient is attributed to
    /// whoever anchored it, and proves nothing about another reader's receipts.
    function test_attack7_junk_batch_under_a_patient_is_the_junk_anchorers() public {
        bytes32 digest = keccak256("doctor's receipt");
        bytes32 root = _leaf(digest); // a one-receipt tree: the root is the leaf
        vm.prank(attacker);
        accessLog.anchorBatch(patient, root, bytes32(uint256(7)), 1);
        bytes32[] memory none = new bytes32[](0);
        vm.assertTrue(accessLog.verifyReceipt(attacker, root, digest, none));
        vm.assertFalse(accessLog.verifyReceipt(doctor, root, digest, none)); // not the doctor's
        vm.assertEq(accessLog.getBatch(doctor, root).reader, address(0));
    }

    /// Attack 14d: a 64-byte internal node of an anchored tree presented as a 32-byte leaf,
    /// with the rest of the path as its proof. Before the fix verifyReceipt said yes; now the
    /// contract hashes the receipt digest into the leaf, so a node is never a leaf.
    function test_attack14d_internal_node_presented_as_a_receipt() public {
        bytes32[4] memory leaves =
            [_leaf(keccak256("r0")), _leaf(keccak256("r1")), _leaf(keccak256("r2")), _leaf(keccak256("r3"))];
        bytes32 left = _pair(leaves[0], leaves[1]);
        bytes32 right = _pair(leaves[2], leaves[3]);
        bytes32 root = _pair(left, right);
        vm.prank(doctor);
        accessLog.anchorBatch(patient, root, bytes32(uint256(1)), 4);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = right;
        vm.assertFalse(accessLog.verifyReceipt(doctor, root, left, proof));
        // ...while a genuine receipt of the same tree verifies.
        bytes32[] memory path = new bytes32[](2);
        path[0] = leaves[1];
        path[1] = right;
        vm.assertTrue(accessLog.verifyReceipt(doctor, root, keccak256("r0"), path));
        // ...and the leaf itself presented as a digest does not.
        vm.assertFalse(accessLog.verifyReceipt(doctor, root, leaves[0], path));
    }
}
