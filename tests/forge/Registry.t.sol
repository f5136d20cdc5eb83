// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {RecordRegistry} from "../../contracts/RecordRegistry.sol";
import {KeyDirectory} from "../../contracts/KeyDirectory.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {IKeyDirectory} from "../../contracts/interfaces/IKeyDirectory.sol";
import {IAccessLog} from "../../contracts/interfaces/IAccessLog.sol";
import {PROVIDER_ROLE, INSURER_ROLE, AUDITOR_ROLE, ZeroAddress} from "../../contracts/Common.sol";

contract RegistryTest is Base {
    bytes32 constant R1 = keccak256("record-1");

    function test_constructor_refuses_a_zero_governor() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0))
        );
        new RecordRegistry(address(0));
    }

    function test_anchor_then_read_back_every_field() public {
        vm.expectEmit();
        emit IRecordRegistry.RecordAnchored(R1, patient, 1, bytes32(uint256(7)));
        vm.prank(hospital);
        registry.anchor(R1, patient, 3, bytes32(uint256(7)));
        IRecordRegistry.RecordHead memory head = registry.getRecord(R1);
        vm.assertEq(head.patient, patient);
        vm.assertEq(head.authorId, registry.providerId(hospital));
        vm.assertEq(head.version, 1);
        vm.assertEq(head.category, 3);
        vm.assertTrue(head.status == IRecordRegistry.RecordStatus.Active);
        vm.assertTrue(registry.recordExists(R1));
        vm.assertEq(registry.patientOf(R1), patient);
        vm.assertEq(registry.latestVersion(R1), 1);
        vm.assertEq(registry.authorOf(R1), hospital);
        vm.assertEq(registry.providerAddress(registry.providerId(hospital)), hospital);
        (bytes32 p, bytes32 i, bytes32 a) = registry.roles();
        vm.assertEq(p, PROVIDER_ROLE);
        vm.assertEq(i, INSURER_ROLE);
        vm.assertEq(a, AUDITOR_ROLE);
    }

    function test_anchor_refusals() public {
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, PROVIDER_ROLE));
        vm.prank(stranger);
        registry.anchor(R1, patient, 1, bytes32(uint256(1)));

        vm.startPrank(hospital);
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidAnchor.selector, bytes32(0), bytes32(uint256(1))));
        registry.anchor(bytes32(0), patient, 1, bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidAnchor.selector, R1, bytes32(0)));
        registry.anchor(R1, patient, 1, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidPatient.selector, R1, address(0)));
        registry.anchor(R1, address(0), 1, bytes32(uint256(1)));
        registry.anchor(R1, patient, 1, bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.RecordExists.selector, R1));
        registry.anchor(R1, patient, 1, bytes32(uint256(2)));
        vm.stopPrank();
    }

    function test_anchor_batch_and_its_limits() public {
        IRecordRegistry.Anchor[] memory anchors = new IRecordRegistry.Anchor[](3);
        for (uint256 i; i < 3; ++i) {
            anchors[i] = IRecordRegistry.Anchor(bytes32(i + 1), patient, uint8(i), bytes32(i + 100));
        }
        vm.prank(hospital);
        registry.anchorBatch(anchors);
        vm.assertEq(registry.getRecord(bytes32(uint256(3))).category, 2);

        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidBatchSize.selector, 0, 500));
        vm.prank(hospital);
        registry.anchorBatch(new IRecordRegistry.Anchor[](0));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidBatchSize.selector, 501, 500));
        vm.prank(hospital);
        registry.anchorBatch(new IRecordRegistry.Anchor[](501));
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, PROVIDER_ROLE));
        vm.prank(stranger);
        registry.anchorBatch(anchors);
    }

    function test_supersede_and_retract_by_the_author_only() public {
        _anchor(R1, 1);
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.InvalidAnchor.selector, R1, bytes32(0)));
        vm.prank(hospital);
        registry.supersede(R1, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.UnknownRecord.selector, bytes32(uint256(9))));
        vm.prank(hospital);
        registry.supersede(bytes32(uint256(9)), bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.NotRecordAuthor.selector, R1, otherHospital, hospital));
        vm.prank(otherHospital);
        registry.supersede(R1, bytes32(uint256(1)));

        vm.prank(hospital);
        vm.assertEq(registry.supersede(R1, bytes32(uint256(2))), 2);
        vm.expectEmit();
        emit IRecordRegistry.RecordRetracted(R1, patient, 2, "wrong patient");
        vm.prank(hospital);
        registry.retract(R1, "wrong patient");
        vm.assertTrue(registry.getRecord(R1).status == IRecordRegistry.RecordStatus.EnteredInError);
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.RecordIsRetracted.selector, R1, 2));
        vm.prank(hospital);
        registry.retract(R1, "again");
    }

    function test_views_refuse_unknown_records() public {
        bytes32 unknown = bytes32(uint256(404));
        vm.assertFalse(registry.recordExists(unknown));
        bytes memory err = abi.encodeWithSelector(IRecordRegistry.UnknownRecord.selector, unknown);
        vm.expectRevert(err);
        registry.getRecord(unknown);
        vm.expectRevert(err);
        registry.patientOf(unknown);
        vm.expectRevert(err);
        registry.latestVersion(unknown);
        vm.expectRevert(err);
        registry.authorOf(unknown);
    }

    function test_a_revoked_provider_keeps_its_id_and_regains_it() public {
        uint32 id = registry.providerId(hospital);
        vm.prank(governor);
        registry.revokeRole(PROVIDER_ROLE, hospital);
        vm.assertEq(registry.activeProviderId(hospital), 0);
        vm.assertEq(registry.providerId(hospital), id);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, hospital, PROVIDER_ROLE));
        vm.prank(hospital);
        registry.anchor(R1, patient, 1, bytes32(uint256(1)));
        vm.prank(governor);
        registry.grantRole(PROVIDER_ROLE, hospital);
        vm.assertEq(registry.activeProviderId(hospital), id);
        // revoking a role someone does not hold, or another role, leaves providers alone
        vm.startPrank(governor);
        registry.revokeRole(PROVIDER_ROLE, stranger);
        registry.revokeRole(INSURER_ROLE, hospital);
        registry.grantRole(INSURER_ROLE, hospital);
        vm.stopPrank();
        vm.assertEq(registry.activeProviderId(hospital), id);
    }

    function test_roles_cannot_go_to_the_zero_address() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "account"));
        vm.prank(governor);
        registry.grantRole(PROVIDER_ROLE, address(0));
    }
}

contract KeyDirectoryTest is Base {
    function test_publish_rotate_revoke() public {
        bytes memory key = new bytes(32);
        key[0] = 0x01;
        vm.prank(patient);
        vm.assertEq(keys.publishKey(0x0020, key), 1);
        vm.prank(patient);
        vm.assertEq(keys.publishKey(0x0020, key), 2);
        (bytes32 commitment, uint32 version) = keys.keyCommitment(patient, 0x0020);
        vm.assertEq(commitment, keccak256(abi.encode(uint16(0x0020), uint32(2), key)));
        vm.assertEq(version, 2);
        vm.prank(patient);
        vm.assertEq(keys.publishKey(0x647a, new bytes(1216)), 1);

        vm.expectEmit();
        emit IKeyDirectory.KeyRevoked(patient, 0x0020, 2);
        vm.prank(patient);
        keys.revokeKey(0x0020);
        (commitment, version) = keys.keyCommitment(patient, 0x0020);
        vm.assertEq(commitment, bytes32(0));
        vm.assertEq(version, 2);
        vm.expectRevert(abi.encodeWithSelector(IKeyDirectory.NoKey.selector, patient, uint16(0x0020)));
        vm.prank(patient);
        keys.revokeKey(0x0020);
    }

    function test_wrong_lengths_and_unknown_kems_are_refused() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyDirectory.InvalidKeyLength.selector, uint16(0x0020), 31, 32));
        keys.publishKey(0x0020, new bytes(31));
        vm.expectRevert(abi.encodeWithSelector(IKeyDirectory.InvalidKeyLength.selector, uint16(0x647a), 32, 1216));
        keys.publishKey(0x647a, new bytes(32));
        vm.expectRevert(abi.encodeWithSelector(IKeyDirectory.UnsupportedKem.selector, uint16(0x0010)));
        keys.publishKey(0x0010, new bytes(32));
    }
}

contract AccessLogTest is Base {
    /// The leaf the contract builds from a receipt's EIP-712 digest.
    function _leaf(bytes32 receiptDigest) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(receiptDigest))));
    }

    function test_anchor_a_batch_and_verify_a_receipt() public {
        bytes32 digestA = keccak256("a");
        bytes32 leafA = _leaf(digestA);
        bytes32 leafB = _leaf(keccak256("b"));
        bytes32 root = leafA < leafB ? keccak256(abi.encode(leafA, leafB)) : keccak256(abi.encode(leafB, leafA));
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = leafB;
        vm.assertFalse(accessLog.verifyReceipt(insurer, root, digestA, proof)); // not anchored yet
        vm.assertEq(accessLog.getBatch(insurer, root).reader, address(0));
        vm.expectEmit();
        emit IAccessLog.AccessBatchAnchored(root, insurer, patient, bytes32(uint256(1)), 2);
        vm.prank(insurer);
        bytes32 batchId = accessLog.anchorBatch(patient, root, bytes32(uint256(1)), 2);
        vm.assertEq(batchId, keccak256(abi.encode(insurer, root)));
        IAccessLog.Batch memory batch = accessLog.getBatch(insurer, root);
        vm.assertEq(batch.reader, insurer);
        vm.assertEq(batch.patient, patient);
        vm.assertEq(batch.count, 2);
        vm.assertEq(batch.anchoredAt, block.timestamp);
        vm.assertTrue(accessLog.verifyReceipt(insurer, root, digestA, proof));
        vm.assertFalse(accessLog.verifyReceipt(insurer, root, keccak256("c"), proof));
        vm.assertFalse(accessLog.verifyReceipt(hospital, root, digestA, proof)); // another reader
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.BatchExists.selector, insurer, root));
        accessLog.anchorBatch(patient, root, bytes32(uint256(1)), 2);
    }

    function test_malformed_batches_are_refused() public {
        bytes32 root = keccak256("root");
        bytes32 d = bytes32(uint256(1));
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.InvalidBatch.selector, bytes32(0), patient, d, 1));
        accessLog.anchorBatch(patient, bytes32(0), d, 1);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.InvalidBatch.selector, root, address(0), d, 1));
        accessLog.anchorBatch(address(0), root, d, 1);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.InvalidBatch.selector, root, patient, d, 0));
        accessLog.anchorBatch(patient, root, d, 0);
        vm.expectRevert(abi.encodeWithSelector(IAccessLog.InvalidBatch.selector, root, patient, bytes32(0), 1));
        accessLog.anchorBatch(patient, root, bytes32(0), 1);
    }
}
