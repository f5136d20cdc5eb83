// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConsentFixture} from "./ConsentFixture.sol";
import {ClaimsFixture} from "./ClaimsFixture.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {AUDITOR_ROLE} from "../../contracts/Common.sol";

/// Red-team review of ConsentManager and the contracts that rely on it. Each test asserts
/// the secure outcome, so it FAILS while the exploit works. Calls expected to be refused are
/// made low-level, so any fix (revert or no effect) makes the test pass.
contract RedTeamConsentTest is ConsentFixture {
    /// The patient denies the doctor a category ("all except mental health" style); a
    /// guardian may not replace or revoke that denial (PatientDecided), but it can grant the
    /// doctor a narrower scope (one record of that category), which the "most specific
    /// consent decides" rule puts above the patient's denial.
    function test_redteam_guardian_overrides_patient_category_denial_with_record_grant() public {
        vm.prank(patient);
        consent.appointGuardian(guardian);
        IConsentManager.GrantRequest memory no = _request(doctor, CATEGORY, bytes32(uint256(4)), TREATMENT);
        no.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, no);
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT));

        // Replacing the denial itself is refused, as documented ...
        vm.prank(guardian);
        (bool replaced,) = address(consent).call(
            abi.encodeCall(IConsentManager.grantFor, (patient, _request(doctor, CATEGORY, bytes32(uint256(4)), TREATMENT)))
        );
        vm.assertFalse(replaced);
        // ... but a record-level grant inside the denied category is accepted and wins.
        vm.prank(guardian);
        (bool narrower,) =
            address(consent).call(abi.encodeCall(IConsentManager.grantFor, (patient, _request(doctor, RECORD, R1, TREATMENT))));
        narrower; // accepted today; a fix may refuse it or make it yield to the denial
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT)); // FAILS today: true
    }

    /// Same with the widest denial: the patient denies the doctor every record; the guardian
    /// grants the doctor the record's category.
    function test_redteam_guardian_overrides_patient_all_denial_with_category_grant() public {
        vm.prank(patient);
        consent.appointGuardian(guardian);
        IConsentManager.GrantRequest memory no = _request(doctor, ALL, bytes32(0), TREATMENT);
        no.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, no);
        vm.prank(guardian);
        (bool narrower,) = address(consent).call(
            abi.encodeCall(IConsentManager.grantFor, (patient, _request(doctor, CATEGORY, bytes32(uint256(4)), TREATMENT)))
        );
        narrower;
        vm.assertFalse(consent.canAccess(doctor, R1, TREATMENT)); // FAILS today: true
    }

    /// The fix refuses only what gets around the patient's own denial: without one, or under
    /// a denial a guardian made (a guardian may revise a guardian's decision), a guardian's
    /// narrower grant still stands.
    function test_guardian_narrower_grants_stand_without_a_patient_denial() public {
        vm.prank(patient);
        consent.appointGuardian(guardian);
        vm.prank(guardian);
        consent.grantFor(patient, _request(doctor, RECORD, R1, TREATMENT));
        vm.assertTrue(consent.canAccess(doctor, R1, TREATMENT));

        IConsentManager.GrantRequest memory no = _request(doctor, ALL, bytes32(0), IConsentManager.Purpose.Research);
        no.deny = true;
        vm.prank(guardian);
        consent.grantFor(patient, no);
        vm.prank(guardian);
        consent.grantFor(patient, _request(doctor, CATEGORY, bytes32(uint256(4)), IConsentManager.Purpose.Research));
        vm.assertTrue(consent.canAccess(doctor, R1, IConsentManager.Purpose.Research));
    }

    /// A clinician who is also an auditor (the governor gave one address both roles) opens
    /// break-glass on a patient and then reviews its own access as justified: the review
    /// meant to catch an unjustified opening is its own author's word.
    function test_redteam_auditor_reviews_its_own_break_glass() public {
        vm.prank(governor);
        registry.grantRole(AUDITOR_ROLE, hospital);
        vm.prank(hospital);
        bytes32 accessId = consent.openBreakGlass(patient, "unconscious", 1 hours);
        vm.prank(hospital);
        (bool own,) = address(consent).call(abi.encodeCall(IConsentManager.reviewBreakGlass, (accessId, true)));
        vm.assertFalse(own);
        vm.assertTrue(consent.getBreakGlass(accessId).review == IConsentManager.Review.Pending);
        vm.prank(auditor); // another auditor still can
        consent.reviewBreakGlass(accessId, false);
        vm.assertTrue(consent.getBreakGlass(accessId).review == IConsentManager.Review.Unjustified);
    }
}

contract RedTeamClaimsTest is ClaimsFixture {
    /// Two providers the patient consented to for treatment (a GP with all-records access is
    /// the common case). `hospital` treats the patient and anchors the visit's record;
    /// `otherHospital` cites that record in its own claim first (or front-runs hospital's
    /// pending submitClaim with the same recordIds). It is auto-approved and paid for a visit
    /// it never provided, and the real provider can never bill its own record
    /// (EvidenceAlreadyClaimed binds the record to the thief's claim for good).
    function test_redteam_consented_provider_steals_another_providers_evidence() public {
        vm.prank(patient);
        consent.grant(
            otherHospital,
            IConsentManager.ScopeKind.All,
            bytes32(0),
            IConsentManager.Purpose.Treatment,
            uint40(block.timestamp + 400 days),
            ""
        );
        bytes32 record = _newRecord(hospital, 1); // hospital's visit

        vm.prank(otherHospital);
        (bool stolen,) = address(claims).call(abi.encodeCall(IClaimsManager.submitClaim, (_claim(300 * USD, record, "99213"))));
        // The provider that wrote the record then bills its own visit.
        vm.prank(hospital);
        (bool own,) = address(claims).call(abi.encodeCall(IClaimsManager.submitClaim, (_claim(300 * USD, record, "99213"))));

        vm.assertFalse(stolen); // FAILS today: the thief's claim is accepted and auto-approved
        vm.assertTrue(own); // FAILS today: EvidenceAlreadyClaimed(record, thief's claim)
    }
}
