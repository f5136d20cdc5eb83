// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConsentFixture} from "./ConsentFixture.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {PROVIDER_ROLE} from "../../contracts/Common.sol";

/// The contract review's consent attacks (issue 14: 5, 9 and 13), each written as the
/// attacker would run it. Calls that are refused now are made low-level and their revert
/// data compared with the named error, so the file also compiled (and failed) on the code
/// the review attacked.
contract ConsentAttacksTest is ConsentFixture {
    address sockPuppet = address(0x6B);

    // ------------------------------------------------------------ helpers

    function _id(address grantee) internal view returns (bytes32) {
        return consent.grantIdOf(patient, grantee, ALL, bytes32(0), TREATMENT);
    }

    /// The nonce a signature about `grantId` must carry now: `signatureNonce` where it exists,
    /// else the patient's single counter the review attacked.
    function _nonce(bytes32 grantId) internal view returns (uint256) {
        (bool ok, bytes memory ret) =
            address(consent).staticcall(abi.encodeWithSignature("signatureNonce(address,bytes32)", patient, grantId));
        if (ok) return abi.decode(ret, (uint256));
        return consent.nonces(patient);
    }

    /// Call the ConsentManager as `who` and require the revert to be exactly `expected`.
    function _refused(address who, bytes memory call, bytes memory expected) internal {
        vm.prank(who);
        (bool ok, bytes memory ret) = address(consent).call(call);
        vm.assertFalse(ok);
        vm.assertEq(keccak256(ret), keccak256(expected));
    }

    // ------------------------------------------------------------ 5: stale signatures

    function test_attack5_a_held_signed_grant_cannot_undo_the_patients_later_denial() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, _nonce(_id(doctor)), deadline);
        // The patient changes their mind and denies the doctor directly; the doctor, who
        // was handed the signed grant earlier, relays it afterwards.
        IConsentManager.GrantRequest memory no = _request(doctor, ALL, bytes32(0), TREATMENT);
        no.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, no);
        bytes memory call = abi.encodeCall(IConsentManager.grantBySig, (patient, r, deadline, sig));
        _refused(doctor, call, abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_attack5_a_held_signed_grant_cannot_undo_the_patients_later_revocation() public {
        vm.prank(patient);
        bytes32 id = consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 30 days), "");
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, _nonce(id), deadline); // a year, signed, not relayed
        vm.prank(patient);
        consent.revoke(id);
        bytes memory call = abi.encodeCall(IConsentManager.grantBySig, (patient, r, deadline, sig));
        _refused(doctor, call, abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_attack5_a_held_signed_grant_cannot_block_the_patients_signed_revocation() public {
        vm.prank(patient);
        bytes32 id = consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 30 days), "");
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory grantSig = _signGrant(r, _nonce(id), deadline);
        bytes memory revokeSig = _signRevoke(id, _nonce(id), deadline); // signed after
        // The doctor sees the revocation in the mempool and front-runs it with the grant.
        vm.prank(doctor);
        consent.grantBySig(patient, r, deadline, grantSig);
        vm.prank(stranger);
        (bool ok,) = address(consent).call(abi.encodeCall(IConsentManager.revokeBySig, (id, deadline, revokeSig)));
        vm.assertTrue(ok);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        // Relayed once, the revocation is spent.
        _refused(
            stranger,
            abi.encodeCall(IConsentManager.revokeBySig, (id, deadline, revokeSig)),
            abi.encodeWithSelector(IConsentManager.UnknownConsent.selector, id)
        );
    }

    function test_attack5_a_held_signed_revocation_cannot_undo_the_patients_later_grant() public {
        vm.prank(patient);
        bytes32 id = consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 30 days), "");
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory revokeSig = _signRevoke(id, _nonce(id), deadline);
        // The patient decides to keep the doctor after all and extends the consent directly.
        vm.prank(patient);
        consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 60 days), "");
        _refused(
            stranger,
            abi.encodeCall(IConsentManager.revokeBySig, (id, deadline, revokeSig)),
            abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient)
        );
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_attack5_a_relayed_grant_cannot_be_replayed_after_a_revocation() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, _nonce(_id(doctor)), deadline);
        vm.prank(doctor);
        bytes32 id = consent.grantBySig(patient, r, deadline, sig);
        vm.prank(patient);
        consent.revoke(id);
        bytes memory call = abi.encodeCall(IConsentManager.grantBySig, (patient, r, deadline, sig));
        _refused(doctor, call, abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_attack5_a_decision_on_one_consent_leaves_signatures_for_others_valid() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, _nonce(_id(doctor)), deadline);
        vm.prank(patient);
        consent.grant(insurer, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 30 days), "");
        vm.prank(stranger);
        consent.grantBySig(patient, r, deadline, sig);
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
    }

    // ------------------------------------------------------------ 9: break-glass

    function _openBreakGlass() internal returns (bytes32 accessId) {
        vm.prank(hospital);
        accessId = consent.openBreakGlass(patient, "unconscious", 24 hours);
        vm.assertTrue(consent.canAccess(hospital, R1, EMERGENCY));
    }

    function test_attack9_break_glass_ends_when_the_clinician_is_removed() public {
        _openBreakGlass();
        vm.prank(governor);
        registry.revokeRole(PROVIDER_ROLE, hospital);
        vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));
    }

    function test_attack9_an_unjustified_verdict_ends_break_glass() public {
        bytes32 accessId = _openBreakGlass();
        vm.warp(block.timestamp + 1 hours);
        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, false);
        vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));
    }

    function test_attack9_break_glass_cannot_be_reopened_back_to_back() public {
        bytes32 first = _openBreakGlass();
        vm.warp(block.timestamp + 24 hours);
        vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));
        bytes memory reopen = abi.encodeCall(IConsentManager.openBreakGlass, (patient, "still unconscious", 24 hours));
        bytes memory blocked = abi.encodeWithSignature(
            "BreakGlassBlocked(bytes32,uint8)", first, uint8(IConsentManager.Review.Pending)
        );
        _refused(hospital, reopen, blocked);
        // Once an auditor finds the first justified, the clinician may open another.
        vm.prank(auditor);
        consent.reviewBreakGlass(first, true);
        vm.prank(hospital);
        bytes32 second = consent.openBreakGlass(patient, "still unconscious", 24 hours);
        vm.assertTrue(consent.canAccess(hospital, R1, EMERGENCY));
        // One found unjustified bars this clinician from this patient's break-glass.
        vm.prank(auditor);
        consent.reviewBreakGlass(second, false);
        blocked = abi.encodeWithSignature(
            "BreakGlassBlocked(bytes32,uint8)", second, uint8(IConsentManager.Review.Unjustified)
        );
        _refused(hospital, reopen, blocked);
    }

    function test_attack9_the_patient_the_clinician_or_an_auditor_can_close_break_glass_early() public {
        address[3] memory closers = [patient, hospital, auditor];
        for (uint256 i; i < closers.length; ++i) {
            bytes32 accessId = _openBreakGlass();
            bytes memory close = abi.encodeWithSignature("closeBreakGlass(bytes32)", accessId);
            _refused(
                stranger,
                close,
                abi.encodeWithSelector(IConsentManager.NotPatientOrGuardian.selector, stranger, patient)
            );
            vm.prank(closers[i]);
            (bool ok,) = address(consent).call(close);
            vm.assertTrue(ok);
            vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));
            _refused(closers[i], close, abi.encodeWithSignature("BreakGlassNotOpen(bytes32)", accessId));
            vm.prank(auditor);
            consent.reviewBreakGlass(accessId, true);
        }
    }

    // ------------------------------------------------------------ 13: guardians

    function _appointGuardian() internal {
        vm.prank(patient);
        consent.appointGuardian(guardian);
    }

    function test_attack13_a_guardian_cannot_grant_itself_access() public {
        _appointGuardian();
        IConsentManager.GrantRequest memory forever = _request(guardian, ALL, bytes32(0), TREATMENT);
        forever.end = type(uint40).max;
        _refused(
            guardian,
            abi.encodeCall(IConsentManager.grantFor, (patient, forever)),
            abi.encodeWithSignature("GuardianOwnAccess(address)", guardian)
        );
        vm.assertFalse(consent.canAccess(guardian, R1, TREATMENT));
    }

    function test_attack13_a_guardian_cannot_override_or_revoke_the_patients_denial() public {
        _appointGuardian();
        IConsentManager.GrantRequest memory no = _request(guardian, ALL, bytes32(0), TREATMENT);
        no.deny = true;
        vm.prank(patient);
        bytes32 denied = consent.grantFor(patient, no);
        IConsentManager.GrantRequest memory yes = _request(guardian, ALL, bytes32(0), TREATMENT);
        _refused(
            guardian,
            abi.encodeCall(IConsentManager.grantFor, (patient, yes)),
            abi.encodeWithSignature("GuardianOwnAccess(address)", guardian)
        );
        // Nor a denial the patient made about someone else.
        no.grantee = doctor;
        vm.prank(patient);
        bytes32 doctorDenied = consent.grantFor(patient, no);
        yes.grantee = doctor;
        bytes memory patientsDecision = abi.encodeWithSignature("PatientDecided(bytes32)", doctorDenied);
        _refused(guardian, abi.encodeCall(IConsentManager.grantFor, (patient, yes)), patientsDecision);
        _refused(guardian, abi.encodeCall(IConsentManager.revoke, (doctorDenied)), patientsDecision);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        vm.assertFalse(consent.canAccess(guardian, R1, TREATMENT));
        vm.assertTrue(consent.getConsent(denied).deny);
    }

    function test_attack13_grants_a_guardian_made_end_with_its_removal() public {
        _appointGuardian();
        IConsentManager.GrantRequest memory r = _request(sockPuppet, ALL, bytes32(0), TREATMENT);
        r.end = type(uint32).max;
        vm.prank(guardian);
        consent.grantFor(patient, r);
        vm.assertTrue(consent.canAccess(sockPuppet, R1, TREATMENT));
        vm.prank(patient);
        consent.removeGuardian(guardian);
        vm.assertFalse(consent.canAccess(sockPuppet, R1, TREATMENT));
        // Appointed again, the old grants stay void: a new appointment is a new mandate.
        _appointGuardian();
        vm.assertFalse(consent.canAccess(sockPuppet, R1, TREATMENT));
    }
}
