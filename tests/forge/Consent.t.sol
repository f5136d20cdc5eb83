// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ConsentFixture} from "./ConsentFixture.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ConsentManager} from "../../contracts/ConsentManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {PROVIDER_ROLE, AUDITOR_ROLE, ZeroAddress} from "../../contracts/Common.sol";

contract ConsentTest is ConsentFixture {
    function test_constructor_refuses_a_zero_registry() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new ConsentManager(IRecordRegistry(address(0)));
    }

    function test_grant_by_record_category_and_all_then_revoke() public {
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        uint40 end = uint40(block.timestamp + 1 days);
        bytes32 id = consent.grantIdOf(patient, doctor, RECORD, R1, TREATMENT);
        vm.expectEmit();
        emit IConsentManager.ConsentGranted(id, patient, doctor, RECORD, R1, TREATMENT, uint40(block.timestamp), end, "k");
        vm.prank(patient);
        vm.assertEq(consent.grant(doctor, RECORD, R1, TREATMENT, end, "k"), id);
        (bool allowed, address owner, uint8 category) = consent.accessInfo(doctor, R1, TREATMENT);
        vm.assertTrue(allowed);
        vm.assertEq(owner, patient);
        vm.assertEq(category, 4);
        IConsentManager.Consent memory c = consent.getConsent(id);
        vm.assertEq(c.patient, patient);
        vm.assertEq(c.end, end);

        vm.prank(patient);
        consent.revoke(id);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        vm.assertEq(consent.getConsent(id).end, 0);

        vm.prank(patient);
        consent.grant(doctor, CATEGORY, bytes32(uint256(4)), TREATMENT, end, "");
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
        vm.assertFalse(consent.canAccess(doctor, R1, IConsentManager.Purpose.Research));
        vm.warp(end); // (timestamps are kept in variables: via-IR may reuse an earlier read)
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT)); // expired at `end`

        vm.prank(patient);
        consent.grant(doctor, ALL, bytes32(0), TREATMENT, end + 1 days, "");
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_a_record_denial_beats_an_all_records_grant() public {
        vm.startPrank(patient);
        consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 1 days), "");
        IConsentManager.GrantRequest memory deny = _request(doctor, RECORD, R1, TREATMENT);
        deny.deny = true;
        bytes32 id = consent.grantIdOf(patient, doctor, RECORD, R1, TREATMENT);
        vm.expectEmit();
        emit IConsentManager.ConsentDenied(id, patient, doctor, RECORD, R1, TREATMENT, uint40(block.timestamp), deny.end);
        consent.grantFor(patient, deny);
        vm.stopPrank();
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_a_consent_that_starts_later_is_not_active_yet() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        r.start = uint40(block.timestamp + 1 hours);
        vm.prank(patient);
        consent.grantFor(patient, r);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        vm.warp(r.start);
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_grant_refusals() public {
        uint40 end = uint40(block.timestamp + 1 days);
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGrantee.selector, address(0)));
        consent.grant(address(0), ALL, bytes32(0), TREATMENT, end, "");
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGrantee.selector, patient));
        consent.grant(patient, ALL, bytes32(0), TREATMENT, end, "");
        uint40 now_ = uint40(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidPeriod.selector, now_, now_, block.timestamp));
        consent.grant(doctor, ALL, bytes32(0), TREATMENT, now_, "");
        IConsentManager.GrantRequest memory past = _request(doctor, ALL, bytes32(0), TREATMENT);
        past.start = now_ - 100;
        past.end = now_ - 10;
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidPeriod.selector, now_ - 100, now_ - 10, now_));
        consent.grantFor(patient, past);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.RecordNotOfPatient.selector, R1, doctor));
        vm.prank(doctor); // the record is not the doctor's to share
        consent.grant(stranger, RECORD, R1, TREATMENT, end, "");
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidScope.selector, CATEGORY, bytes32(uint256(256))));
        consent.grant(doctor, CATEGORY, bytes32(uint256(256)), TREATMENT, end, "");
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidScope.selector, ALL, bytes32(uint256(1))));
        consent.grant(doctor, ALL, bytes32(uint256(1)), TREATMENT, end, "");
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.NotPatientOrGuardian.selector, doctor, patient));
        vm.prank(doctor);
        consent.grantFor(patient, _request(doctor, ALL, bytes32(0), TREATMENT));
    }

    function test_guardians_act_for_the_patient_until_removed() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGuardian.selector, address(0)));
        consent.appointGuardian(address(0));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGuardian.selector, patient));
        consent.appointGuardian(patient);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGuardian.selector, guardian));
        consent.removeGuardian(guardian);
        consent.appointGuardian(guardian);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidGuardian.selector, guardian));
        consent.appointGuardian(guardian); // already one
        vm.stopPrank();
        vm.assertTrue(consent.isGuardian(patient, guardian));

        IConsentManager.GrantRequest[] memory requests = new IConsentManager.GrantRequest[](2);
        requests[0] = _request(doctor, ALL, bytes32(0), TREATMENT);
        requests[1] = _request(doctor, RECORD, R1, IConsentManager.Purpose.Research);
        vm.prank(guardian);
        bytes32[] memory ids = consent.grantBatch(patient, requests);
        vm.assertTrue(consent.canAccess(doctor, R1, IConsentManager.Purpose.Research));
        vm.prank(guardian);
        consent.revokeBatch(ids);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));

        vm.prank(patient);
        consent.removeGuardian(guardian);
        vm.assertFalse(consent.isGuardian(patient, guardian));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.NotPatientOrGuardian.selector, guardian, patient));
        vm.prank(guardian);
        consent.grantBatch(patient, requests);
    }

    function test_batch_limits_and_unknown_consents() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidBatchSize.selector, 0, 100));
        consent.grantBatch(patient, new IConsentManager.GrantRequest[](0));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidBatchSize.selector, 101, 100));
        consent.grantBatch(patient, new IConsentManager.GrantRequest[](101));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidBatchSize.selector, 0, 100));
        consent.revokeBatch(new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidBatchSize.selector, 101, 100));
        consent.revokeBatch(new bytes32[](101));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.UnknownConsent.selector, bytes32(uint256(1))));
        consent.revoke(bytes32(uint256(1)));
        bytes32 id = consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 1 days), "");
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.NotPatientOrGuardian.selector, doctor, patient));
        vm.prank(doctor);
        consent.revoke(id);
    }

    // ------------------------------------------------------------ signatures

    function test_grant_and_revoke_by_signature_once_each() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, 0, deadline);
        vm.prank(stranger); // anyone may relay
        bytes32 id = consent.grantBySig(patient, r, deadline, sig);
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
        vm.assertEq(consent.signatureNonce(patient, id), 1);
        vm.assertEq(consent.getConsent(id).decidedBy, 255);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        consent.grantBySig(patient, r, deadline, sig); // replay: the consent's nonce moved on

        bytes memory revokeSig = _signRevoke(id, 1, deadline);
        vm.prank(stranger);
        consent.revokeBySig(id, deadline, revokeSig);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.UnknownConsent.selector, id));
        consent.revokeBySig(id, deadline, revokeSig);
    }

    function test_expired_and_cancelled_signatures_are_refused() public {
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signGrant(r, 0, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.SignatureExpired.selector, deadline, deadline + 1));
        consent.grantBySig(patient, r, deadline, sig);

        deadline += 1 hours;
        sig = _signGrant(r, 0, deadline);
        vm.expectEmit();
        emit IConsentManager.SignaturesCancelled(patient, 5);
        vm.prank(patient);
        consent.cancelSignatures(5);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        consent.grantBySig(patient, r, deadline, sig);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidNonce.selector, 5, 5));
        vm.prank(patient);
        consent.cancelSignatures(5);
    }

    /// A patient whose account is a contract wallet (ERC-1271) signs through it: the wallet's
    /// answer decides, and a wallet that refuses, answers garbage or reverts gives no consent.
    function test_a_contract_wallet_patient_signs_through_erc1271() public {
        Wallet wallet = new Wallet(vm.addr(PATIENT_KEY));
        IConsentManager.GrantRequest memory r = _request(doctor, ALL, bytes32(0), TREATMENT);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                consent.GRANT_TYPEHASH(), address(wallet), r.grantee, r.kind, r.value, r.purpose, r.start, r.end,
                r.deny, r.keysDigest, 0, deadline
            )
        );
        bytes memory sig = _sign(structHash);
        for (uint8 mode = 1; mode <= 3; ++mode) {
            wallet.setMode(mode); // refuses, answers a short word, reverts
            vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, address(wallet)));
            consent.grantBySig(address(wallet), r, deadline, sig);
        }
        wallet.setMode(0);
        vm.prank(stranger);
        bytes32 id = consent.grantBySig(address(wallet), r, deadline, sig);
        vm.assertEq(consent.getConsent(id).patient, address(wallet));
        vm.assertEq(consent.getConsent(id).decidedBy, 255);
    }

    // ------------------------------------------------------------ break-glass

    function test_break_glass_opens_emergency_reads_for_its_window_and_is_reviewed_once() public {
        vm.prank(hospital);
        bytes32 accessId = consent.openBreakGlass(patient, "unconscious", 1 hours);
        vm.assertTrue(consent.canAccess(hospital, R1, EMERGENCY));
        vm.assertFalse(consent.canAccess(hospital, R1, TREATMENT));
        IConsentManager.BreakGlass memory access = consent.getBreakGlass(accessId);
        vm.assertEq(access.clinician, hospital);
        vm.assertEq(access.patient, patient);
        vm.warp(access.expiresAt);
        vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));

        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, hospital, AUDITOR_ROLE));
        vm.prank(hospital);
        consent.reviewBreakGlass(accessId, true);
        vm.expectEmit();
        emit IConsentManager.BreakGlassReviewed(accessId, auditor, IConsentManager.Review.Unjustified);
        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, false);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.UnknownOrReviewed.selector, accessId));
        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, true);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.UnknownOrReviewed.selector, bytes32(0)));
        vm.prank(auditor);
        consent.reviewBreakGlass(bytes32(0), true);
    }

    function test_break_glass_refusals() public {
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, PROVIDER_ROLE));
        vm.prank(stranger);
        consent.openBreakGlass(patient, "x", 1 hours);
        vm.startPrank(hospital);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "patient"));
        consent.openBreakGlass(address(0), "x", 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidDuration.selector, 0, 24 hours));
        consent.openBreakGlass(patient, "x", 0);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidDuration.selector, 24 hours + 1, 24 hours));
        consent.openBreakGlass(patient, "x", 24 hours + 1);
        vm.stopPrank();
    }

    function test_access_to_an_unknown_record_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordRegistry.UnknownRecord.selector, bytes32(uint256(5))));
        consent.canAccess(doctor, bytes32(uint256(5)), TREATMENT);
    }

    function test_a_patient_can_appoint_guardians_247_times_in_all() public {
        vm.startPrank(patient);
        for (uint160 i = 1; i <= 247; ++i) {
            consent.appointGuardian(address(0x1000 + i));
            if (i % 2 == 0) consent.removeGuardian(address(0x1000 + i));
        }
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.TooManyGuardianAppointments.selector, patient, 247));
        consent.appointGuardian(guardian);
        vm.stopPrank();
        // The 247th appointment (bit 247, the highest) still acts for the patient.
        vm.prank(address(0x1000 + 247));
        consent.grantFor(patient, _request(doctor, ALL, bytes32(0), TREATMENT));
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
    }

    function test_a_guardian_may_replace_an_expired_patient_denial_and_its_own() public {
        vm.prank(patient);
        consent.appointGuardian(guardian);
        IConsentManager.GrantRequest memory no = _request(doctor, ALL, bytes32(0), TREATMENT);
        no.deny = true;
        uint256 t0 = 1_800_000_000; // Base's start (via-IR may re-read block.timestamp after a warp)
        no.end = uint40(t0 + 1 days);
        vm.prank(patient);
        bytes32 id = consent.grantFor(patient, no);
        vm.warp(t0 + 1 days);
        vm.startPrank(guardian);
        consent.grantFor(patient, _request(doctor, ALL, bytes32(0), TREATMENT)); // the denial expired
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));
        no.end = uint40(t0 + 2 days);
        consent.grantFor(patient, no); // a guardian's denial ...
        consent.revoke(id); // ... it may take back
        vm.stopPrank();
        vm.assertEq(consent.getConsent(id).end, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentManager.InvalidPeriod.selector, t0 + 1 days, uint40(1) << 32, t0 + 1 days
            )
        );
        no.end = uint40(1) << 32; // past 2106
        vm.prank(patient);
        consent.grantFor(patient, no);
    }

    function test_signed_revocation_edges() public {
        vm.prank(patient);
        bytes32 id = consent.grant(doctor, ALL, bytes32(0), TREATMENT, uint40(block.timestamp + 30 days), "");
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory early = _signRevoke(id, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        consent.revokeBySig(id, deadline, early); // signed before the direct grant
        // A signed denial relayed after: at one nonce a revocation does not undo a denial.
        IConsentManager.GrantRequest memory no = _request(doctor, ALL, bytes32(0), TREATMENT);
        no.deny = true;
        bytes memory denySig = _signGrant(no, 1, deadline);
        bytes memory revokeSig = _signRevoke(id, 1, deadline);
        consent.grantBySig(patient, no, deadline, denySig);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidSignature.selector, patient));
        consent.revokeBySig(id, deadline, revokeSig);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.SignatureExpired.selector, deadline, deadline + 1));
        consent.revokeBySig(id, deadline, revokeSig);
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.InvalidNonce.selector, 0, uint256(1) << 240));
        vm.prank(patient);
        consent.cancelSignatures(uint256(1) << 240);
    }

    function test_break_glass_close_and_late_review() public {
        vm.prank(patient);
        consent.appointGuardian(guardian);
        vm.prank(hospital);
        bytes32 accessId = consent.openBreakGlass(patient, "x", 1 hours);
        vm.expectEmit();
        emit IConsentManager.BreakGlassClosed(accessId, guardian);
        vm.prank(guardian);
        consent.closeBreakGlass(accessId);
        vm.assertFalse(consent.canAccess(hospital, R1, EMERGENCY));
        vm.expectRevert(abi.encodeWithSelector(IConsentManager.BreakGlassNotOpen.selector, bytes32(0)));
        consent.closeBreakGlass(bytes32(0));
        vm.prank(auditor);
        consent.reviewBreakGlass(accessId, false); // after it ended: the verdict is recorded
        vm.assertEq(uint8(consent.getBreakGlass(accessId).review), uint8(IConsentManager.Review.Unjustified));
    }
}

/// A minimal ERC-1271 wallet owned by one key; `mode` makes it refuse (1), answer a short
/// word (2) or revert (3).
contract Wallet is IERC1271 {
    address immutable owner;
    uint8 public mode;

    constructor(address owner_) {
        owner = owner_;
    }

    function setMode(uint8 m) external {
        mode = m;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (mode == 3) revert("wallet offline");
        if (mode == 2) {
            assembly {
                mstore(0, 0x1626ba7e)
                return(28, 4)
            }
        }
        if (mode == 1 || ECDSA.recover(hash, signature) != owner) return 0xffffffff;
        return IERC1271.isValidSignature.selector;
    }
}
