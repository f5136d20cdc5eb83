// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EscrowFixture} from "./EscrowFixture.sol";
import {KeyEscrow} from "../../contracts/KeyEscrow.sol";
import {IKeyEscrow} from "../../contracts/interfaces/IKeyEscrow.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {ZeroAddress} from "../../contracts/Common.sol";

/// KeyEscrow: set-up, re-share, removal, recovery requests, releases, re-wrapped keys.
contract EscrowTest is EscrowFixture {
    function test_constructorRefusesZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new KeyEscrow(IRecordRegistry(address(0)), consent);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "consent"));
        new KeyEscrow(registry, IConsentManager(address(0)));
    }

    function test_backupStoresHoldersAndCommitments() public {
        vm.assertEq(_backup(), 1);
        IKeyEscrow.Escrow memory stored = escrow.getEscrow(patient, BACKUP);
        vm.assertEq(stored.threshold, 2);
        vm.assertEq(stored.holders, 3);
        vm.assertEq(stored.keyCommitment, keccak256(abi.encode(uint16(0x20), PUBLIC_KEY)));
        vm.assertEq(stored.sharesDigest, SHARES);
        vm.assertEq(stored.keysDigest, bytes32(0));
        IKeyEscrow.Share memory share = escrow.getShare(patient, BACKUP, 1, 1);
        vm.assertEq(share.holder, gp);
        vm.assertEq(share.commitment, keccak256(abi.encode("share", uint256(1))));
    }

    function test_backupIgnoresAKeysDigest() public {
        vm.prank(patient);
        escrow.createEscrow(BACKUP, 2, _three(relative, gp, guardian), _commitments(3), 0x20, PUBLIC_KEY, SHARES, KEYS);
        vm.assertEq(escrow.getEscrow(patient, BACKUP).keysDigest, bytes32(0));
    }

    function test_thresholdBounds() public {
        address[] memory holders = _three(relative, gp, guardian);
        bytes32[] memory commitments = _commitments(3);
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 1, 3, 3));
        escrow.createEscrow(BACKUP, 1, holders, commitments, 0x20, PUBLIC_KEY, SHARES, 0);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 4, 3, 3));
        escrow.createEscrow(BACKUP, 4, holders, commitments, 0x20, PUBLIC_KEY, SHARES, 0);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 2, 3, 2));
        escrow.createEscrow(BACKUP, 2, holders, _commitments(2), 0x20, PUBLIC_KEY, SHARES, 0);
        address[] memory many = new address[](17);
        for (uint256 i; i < 17; ++i) {
            many[i] = address(uint160(0x1000 + i));
        }
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 2, 17, 17));
        escrow.createEscrow(BACKUP, 2, many, _commitments(17), 0x20, PUBLIC_KEY, SHARES, 0);
        vm.stopPrank();
    }

    function test_missingValuesAreRefused() public {
        address[] memory holders = _three(relative, gp, guardian);
        bytes32[] memory commitments = _commitments(3);
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "publicKey"));
        escrow.createEscrow(BACKUP, 2, holders, commitments, 0x20, "", SHARES, 0);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "sharesDigest"));
        escrow.createEscrow(BACKUP, 2, holders, commitments, 0x20, PUBLIC_KEY, 0, 0);
        commitments[2] = 0;
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "commitment"));
        escrow.createEscrow(BACKUP, 2, holders, commitments, 0x20, PUBLIC_KEY, SHARES, 0);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "keysDigest"));
        escrow.createEscrow(EMERGENCY_KEY, 2, _three(emergencyA, emergencyB, emergencyC), new bytes32[](0), 0, "", 0, 0);
        vm.stopPrank();
    }

    /// An emergency escrow stores who holds shares and the older records' key object, and
    /// no key: the data keys are split per record.
    function test_emergencyEscrowHasNoKeyOfItsOwn() public {
        vm.assertEq(_enrollEmergency(), 1);
        IKeyEscrow.Escrow memory stored = escrow.getEscrow(patient, EMERGENCY_KEY);
        vm.assertEq(stored.threshold, 2);
        vm.assertEq(stored.holders, 3);
        vm.assertEq(stored.kemId, 0);
        vm.assertEq(stored.keyCommitment, bytes32(0));
        vm.assertEq(stored.sharesDigest, bytes32(0));
        vm.assertEq(stored.keysDigest, KEYS);
        IKeyEscrow.Share memory share = escrow.getShare(patient, EMERGENCY_KEY, 1, 2);
        vm.assertEq(share.holder, emergencyC);
        vm.assertEq(share.commitment, bytes32(0));
    }

    /// A key, a shares object or commitments given for an emergency escrow are refused: a
    /// client that sent them would believe a key exists that no release ever uses.
    function test_emergencyEscrowRefusesAKey() public {
        address[] memory institutions = _three(emergencyA, emergencyB, emergencyC);
        bytes32[] memory none = new bytes32[](0);
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 2, 3, 3));
        escrow.createEscrow(EMERGENCY_KEY, 2, institutions, _commitments(3), 0, "", 0, KEYS);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotForEmergency.selector, "publicKey"));
        escrow.createEscrow(EMERGENCY_KEY, 2, institutions, none, 0x20, "", 0, KEYS);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotForEmergency.selector, "publicKey"));
        escrow.createEscrow(EMERGENCY_KEY, 2, institutions, none, 0, PUBLIC_KEY, 0, KEYS);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotForEmergency.selector, "sharesDigest"));
        escrow.createEscrow(EMERGENCY_KEY, 2, institutions, none, 0, "", SHARES, KEYS);
        vm.stopPrank();
    }

    function test_zeroHolderIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidHolder.selector, address(0)));
        _backup(_three(relative, address(0), gp));
    }

    function test_reshareStartsANewEpoch() public {
        _backup();
        vm.assertEq(_backup(_three(relative, gp, doctor)), 2);
        vm.assertEq(escrow.getShare(patient, BACKUP, 2, 2).holder, doctor);
        vm.assertEq(escrow.getShare(patient, BACKUP, 1, 2).holder, guardian);
    }

    function test_removeEscrow() public {
        _enrollEmergency();
        vm.prank(patient);
        escrow.removeEscrow(EMERGENCY_KEY);
        IKeyEscrow.Escrow memory stored = escrow.getEscrow(patient, EMERGENCY_KEY);
        vm.assertEq(stored.holders, 0);
        vm.assertEq(stored.epoch, 1);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoEscrow.selector, patient, EMERGENCY_KEY));
        escrow.removeEscrow(EMERGENCY_KEY);
        vm.assertEq(_enrollEmergency(), 2);
    }

    function test_openAndCloseRecovery() public {
        _backup();
        bytes32 requestId = _openRecovery();
        IKeyEscrow.Recovery memory recovery = escrow.getRecovery(patient);
        vm.assertEq(recovery.requestId, requestId);
        vm.assertEq(recovery.expiresAt, block.timestamp + 1 days);
        vm.assertEq(recovery.epoch, 1);
        vm.assertEq(recovery.deviceKeyCommitment, keccak256(abi.encode(uint16(0x20), DEVICE_KEY)));
        vm.prank(patient);
        escrow.closeRecovery();
        vm.assertEq(escrow.getRecovery(patient).expiresAt, block.timestamp);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoOpenRequest.selector, patient, requestId));
        escrow.closeRecovery();
    }

    function test_recoveryNeedsABackupAKeyAndADuration() public {
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoEscrow.selector, patient, BACKUP));
        escrow.openRecovery(0x20, DEVICE_KEY, 1 days);
        _backup();
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "devicePublicKey"));
        escrow.openRecovery(0x20, "", 1 days);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidDuration.selector, 0, 7 days));
        escrow.openRecovery(0x20, DEVICE_KEY, 0);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidDuration.selector, 7 days + 1, 7 days));
        escrow.openRecovery(0x20, DEVICE_KEY, 7 days + 1);
        vm.stopPrank();
    }

    function test_reshareWaitsForAnOpenRecovery() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.RecoveryOpen.selector, requestId));
        _backup();
        vm.prank(patient);
        escrow.closeRecovery();
        vm.assertEq(_backup(), 2);
    }

    function test_holdersReleaseForARecovery() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(relative);
        escrow.releaseShare(patient, BACKUP, requestId, 0, RELEASE);
        vm.prank(guardian);
        escrow.releaseShare(patient, BACKUP, requestId, 2, RELEASE);
        vm.assertTrue(escrow.isReleased(patient, BACKUP, requestId, 0));
        vm.assertFalse(escrow.isReleased(patient, BACKUP, requestId, 1));
        vm.assertTrue(escrow.isReleased(patient, BACKUP, requestId, 2));
    }

    function test_releaseNeedsADigest() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(relative);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "releaseDigest"));
        escrow.releaseShare(patient, BACKUP, requestId, 0, 0);
    }

    function test_institutionsReleaseDuringBreakGlass() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(emergencyA);
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, RELEASE);
        vm.prank(emergencyC);
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 2, RELEASE);
        vm.assertTrue(escrow.isReleased(patient, EMERGENCY_KEY, accessId, 2));
        vm.assertEq(escrow.getEscrow(patient, EMERGENCY_KEY).keysDigest, KEYS);
    }

    /// A record anchored during the emergency, after an institution released, needs its
    /// share too: the institution releases again while the access is open (each an event).
    function test_institutionReleasesAgainWhileOpen() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.startPrank(emergencyA);
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, RELEASE);
        vm.expectEmit();
        emit IKeyEscrow.ShareReleased(patient, EMERGENCY_KEY, accessId, emergencyA, 0, 1, keccak256("again"));
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, keccak256("again"));
        vm.stopPrank();
        vm.assertTrue(escrow.isReleased(patient, EMERGENCY_KEY, accessId, 0));
    }

    function test_recordRewrap() public {
        vm.prank(patient);
        escrow.recordRewrap(KEYS);
        vm.assertEq(escrow.rewrapOf(patient), KEYS);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.MissingValue.selector, "keysDigest"));
        escrow.recordRewrap(0);
    }
}
