// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {EscrowFixture} from "./EscrowFixture.sol";
import {IKeyEscrow} from "../../contracts/interfaces/IKeyEscrow.sol";
import {PROVIDER_ROLE, EMERGENCY_ROLE} from "../../contracts/Common.sol";

/// What a patient, holder, guardian, emergency institution, clinician or stranger could try
/// with KeyEscrow, each refused (docs/security.md, "Keys held by others").
contract EscrowAttacksTest is EscrowFixture {
    /// `holder` releases share `index` of the patient's `kind` escrow under `requestId`, and is
    /// refused: the patient has no such request open.
    function _releaseFindsNoOpenRequest(address holder, IKeyEscrow.Kind kind, bytes32 requestId, uint8 index) internal {
        vm.prank(holder);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoOpenRequest.selector, patient, requestId));
        escrow.releaseShare(patient, kind, requestId, index, RELEASE);
    }

    // ------------------------------------------------------------------ backup holders

    /// A stranger posts a "share" for a patient's recovery (to feed the new device junk).
    function test_attack_strangerReleasesAShare() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotShareHolder.selector, stranger, patient, 0));
        escrow.releaseShare(patient, BACKUP, requestId, 0, RELEASE);
    }

    /// A holder releases its share when the patient asked for nothing (e.g. to a key of the
    /// holder's choosing, pretending the patient asked).
    function test_attack_holderReleasesWithoutARequest() public {
        _backup();
        _releaseFindsNoOpenRequest(gp, BACKUP, bytes32(0), 1);
    }

    /// A holder releases after the patient closed the request, or after it expired.
    function test_attack_holderReleasesAfterTheRequestEnded() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(patient);
        escrow.closeRecovery();
        _releaseFindsNoOpenRequest(gp, BACKUP, requestId, 1);

        requestId = _openRecovery();
        vm.warp(block.timestamp + 1 days);
        _releaseFindsNoOpenRequest(gp, BACKUP, requestId, 1);
    }

    /// A stranger opens a "recovery" and points a holder at it: the request is the stranger's
    /// own (it has no backup) and is not the patient's.
    function test_attack_strangerOpensARecoveryForThePatient() public {
        _backup();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoEscrow.selector, stranger, BACKUP));
        escrow.openRecovery(0x20, DEVICE_KEY, 1 days);

        vm.prank(stranger);
        escrow.createEscrow(BACKUP, 2, _three(relative, gp, guardian), _commitments(3), 0x20, PUBLIC_KEY, SHARES, 0);
        vm.prank(stranger);
        bytes32 strangers = escrow.openRecovery(0x20, DEVICE_KEY, 1 days);
        _releaseFindsNoOpenRequest(gp, BACKUP, strangers, 1);
    }

    /// A stranger closes the patient's recovery to block it.
    function test_attack_strangerClosesThePatientsRecovery() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoOpenRequest.selector, stranger, bytes32(0)));
        escrow.closeRecovery();
        vm.assertEq(escrow.getRecovery(patient).requestId, requestId);
        vm.assertTrue(escrow.getRecovery(patient).expiresAt > block.timestamp);
    }

    /// A holder releases the same share again (a second, different ciphertext to confuse the
    /// device, or to fill the trail).
    function test_attack_holderReleasesTwice() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.startPrank(relative);
        escrow.releaseShare(patient, BACKUP, requestId, 0, RELEASE);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.AlreadyReleased.selector, patient, requestId, 0));
        escrow.releaseShare(patient, BACKUP, requestId, 0, keccak256("another"));
        vm.stopPrank();
    }

    /// A holder releases another holder's share index.
    function test_attack_holderReleasesAnotherHoldersIndex() public {
        _backup();
        bytes32 requestId = _openRecovery();
        vm.prank(relative);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotShareHolder.selector, relative, patient, 1));
        escrow.releaseShare(patient, BACKUP, requestId, 1, RELEASE);
        vm.prank(relative);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotShareHolder.selector, relative, patient, 200));
        escrow.releaseShare(patient, BACKUP, requestId, 200, RELEASE);
    }

    /// A holder the patient replaced (re-share) still takes part in a recovery.
    function test_attack_replacedHolderReleasesAfterReshare() public {
        _backup();
        _backup(_three(relative, gp, doctor)); // the guardian is replaced by the doctor
        bytes32 requestId = _openRecovery();
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NotShareHolder.selector, guardian, patient, 2));
        escrow.releaseShare(patient, BACKUP, requestId, 2, RELEASE);
    }

    /// One holder is given two shares (listed twice): at threshold 2 it alone rebuilds the key.
    function test_attack_oneHolderWithTwoShares() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidHolder.selector, gp));
        _backup(_three(gp, relative, gp));
    }

    /// The patient lists itself as a holder (its share would be encrypted to the very key it
    /// can lose, and a threshold of 2 would then rest on one other holder).
    function test_attack_patientHoldsItsOwnShare() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidHolder.selector, patient));
        _backup(_three(relative, patient, gp));
    }

    /// A threshold of one: any single holder (say a grantee who also holds a share) would
    /// hold the whole key.
    function test_attack_thresholdOfOne() public {
        address[] memory holders = _three(relative, gp, guardian);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.InvalidThreshold.selector, 1, 3, 3));
        escrow.createEscrow(BACKUP, 1, holders, _commitments(3), 0x20, PUBLIC_KEY, SHARES, 0);
    }

    // ------------------------------------------------------------------ emergency holders

    /// An emergency institution releases a share when no break-glass is open.
    function test_attack_institutionReleasesWithoutBreakGlass() public {
        _enrollEmergency();
        _releaseFindsNoOpenRequest(emergencyA, EMERGENCY_KEY, bytes32(0), 0);
    }

    /// ...citing a break-glass opened for another patient.
    function test_attack_releaseUnderAnotherPatientsBreakGlass() public {
        _enrollEmergency();
        vm.prank(hospital);
        bytes32 other = consent.openBreakGlass(stranger, keccak256("unconscious-in-ED"), 4 hours);
        _releaseFindsNoOpenRequest(emergencyA, EMERGENCY_KEY, other, 0);
    }

    /// ...after the break-glass was closed, or expired.
    function test_attack_releaseAfterBreakGlassEnded() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(patient);
        consent.closeBreakGlass(accessId);
        _releaseFindsNoOpenRequest(emergencyA, EMERGENCY_KEY, accessId, 0);

        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, true);
        accessId = _breakGlass();
        vm.warp(block.timestamp + 4 hours);
        _releaseFindsNoOpenRequest(emergencyB, EMERGENCY_KEY, accessId, 1);
    }

    /// ...after an auditor found the break-glass unjustified.
    function test_attack_releaseAfterUnjustifiedVerdict() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, false);
        _releaseFindsNoOpenRequest(emergencyA, EMERGENCY_KEY, accessId, 0);
    }

    /// ...to a clinician whose provider role was revoked during its break-glass.
    function test_attack_releaseToAClinicianNoLongerAProvider() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(governor);
        registry.revokeRole(PROVIDER_ROLE, hospital);
        _releaseFindsNoOpenRequest(emergencyA, EMERGENCY_KEY, accessId, 0);
    }

    /// An institution that is also a provider opens a break-glass itself and releases to
    /// itself: its own share would count towards the threshold, so one other institution
    /// would be enough.
    function test_attack_institutionReleasesToItsOwnBreakGlass() public {
        _enrollEmergency();
        vm.prank(governor);
        registry.grantRole(PROVIDER_ROLE, emergencyA);
        vm.prank(emergencyA);
        bytes32 accessId = consent.openBreakGlass(patient, keccak256("unconscious-in-ED"), 4 hours);
        vm.prank(emergencyA);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.ReleaseToSelf.selector, emergencyA));
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, RELEASE);
        vm.prank(emergencyB);
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 1, RELEASE);
    }

    /// ...after the patient opted out of emergency escrow.
    function test_attack_releaseAfterOptOut() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(patient);
        escrow.removeEscrow(EMERGENCY_KEY);
        vm.prank(emergencyA);
        vm.expectRevert(abi.encodeWithSelector(IKeyEscrow.NoEscrow.selector, patient, EMERGENCY_KEY));
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, RELEASE);
    }

    /// ...by an institution governance has since removed.
    function test_attack_releaseByARemovedInstitution() public {
        _enrollEmergency();
        bytes32 accessId = _breakGlass();
        vm.prank(governor);
        registry.revokeRole(EMERGENCY_ROLE, emergencyA);
        vm.prank(emergencyA);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, emergencyA, EMERGENCY_ROLE)
        );
        escrow.releaseShare(patient, EMERGENCY_KEY, accessId, 0, RELEASE);
    }

    /// An emergency institution that also holds a backup share uses a break-glass as if it
    /// were the patient's recovery request.
    function test_attack_backupShareReleasedUnderBreakGlass() public {
        _backup(_three(relative, emergencyA, gp));
        bytes32 accessId = _breakGlass();
        _releaseFindsNoOpenRequest(emergencyA, BACKUP, accessId, 1);
    }

    /// A patient names friends as "emergency" holders: only institutions governance admitted
    /// may hold emergency shares (hospitals split every record's data key among them).
    function test_attack_emergencyHoldersNotChosenByGovernance() public {
        vm.prank(patient);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, relative, EMERGENCY_ROLE)
        );
        escrow.createEscrow(EMERGENCY_KEY, 2, _three(emergencyA, relative, emergencyC), new bytes32[](0), 0, "", 0, KEYS);
    }
}
