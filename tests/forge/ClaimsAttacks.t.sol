// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ClaimsFixture} from "./ClaimsFixture.sol";
import {ClaimsManager} from "../../contracts/ClaimsManager.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {BlacklistToken} from "../../contracts/test/BlacklistToken.sol";
import {ZeroAddress} from "../../contracts/Common.sol";

/// The attacks an adversarial review of ClaimsManager found, each written as the attacker
/// would run it; every one must be refused (or come to nothing) with a named error.
contract ClaimsAttacksTest is ClaimsFixture {
    // ---------------------------------------------------------------- 1. billing strangers

    /// A provider with no care relationship cites another hospital's record of the patient.
    function test_attack1_billing_another_hospitals_record_is_refused() public {
        bytes32 record = _newRecord(hospital, 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NoCareRelationship.selector, record, otherHospital));
        vm.prank(otherHospital);
        claims.submitClaim(_claim(300 * USD, record, "99213"));
    }

    /// A provider anchors a fabricated record under the patient's address and bills it.
    function test_attack1_billing_a_fabricated_record_is_refused() public {
        bytes32 fake = _newRecord(otherHospital, 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NoCareRelationship.selector, fake, otherHospital));
        vm.prank(otherHospital);
        claims.submitClaim(_claim(300 * USD, fake, "99213"));
        // nothing was approved, reserved or charged to the patient
        (,, IClaimsManager.PolicyUsage memory usage) = claims.policy(policyId);
        vm.assertEq(usage.approvedTotal, 0);
        vm.assertEq(usage.deductibleUsed, 0);
        vm.assertEq(claims.escrowOf(insurer).reserved, 0);
    }

    /// A treatment consent the patient narrowed with a denial covers nothing it denies.
    function test_attack1_billing_a_record_the_patient_withheld_from_the_provider_is_refused() public {
        bytes32 record = _newRecord(hospital, 5);
        IConsentManager.GrantRequest memory deny =
            _request(hospital, IConsentManager.ScopeKind.Category, bytes32(uint256(5)), IConsentManager.Purpose.Treatment);
        deny.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, deny);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NoCareRelationship.selector, record, hospital));
        vm.prank(hospital);
        claims.submitClaim(_claim(300 * USD, record, "99213"));
    }

    // ---------------------------------------------------------------- 2. billing twice

    /// The same visit, the same record, one bit of the codes hash changed.
    function test_attack2_rebilling_a_record_with_other_codes_is_refused() public {
        bytes32 record = _newRecord(hospital, 1);
        bytes32 first = _submitCiting(300 * USD, record, "99213");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.EvidenceAlreadyClaimed.selector, record, first));
        _submitCiting(300 * USD, record, bytes32(uint256(bytes32("99213")) ^ 1));
        vm.assertEq(claims.evidenceClaim(record), first);
    }

    /// One record cited twice in one claim counts once: refused.
    function test_attack2_citing_one_record_twice_in_a_claim_is_refused() public {
        bytes32 record = _newRecord(hospital, 1);
        IClaimsManager.ClaimRequest memory r = _claim(300 * USD, record, "x");
        r.recordIds = new bytes32[](2);
        (r.recordIds[0], r.recordIds[1]) = (record, record);
        bytes32 id = claims.claimIdOf(policyId, patient, hospital, today, "x");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.EvidenceAlreadyClaimed.selector, record, id));
        vm.prank(hospital);
        claims.submitClaim(r);
    }

    /// Eleven 499-token claims in a day, each under the threshold, each with its own record:
    /// only the first is approved on submission, the rest wait for the insurer, and the
    /// patient's genuine claim later still finds the limit.
    function test_attack2_draining_the_limit_with_small_auto_approved_claims_is_capped() public {
        uint256 automatic;
        for (uint256 i; i < 11; ++i) {
            bytes32 id = _submit(499 * USD, bytes32(i + 1));
            if (_status(id) == IClaimsManager.ClaimStatus.Approved) ++automatic;
        }
        vm.assertEq(automatic, 1);
        vm.assertEq(claims.autoApprovedOn(hospital, patient, today), 499 * USD);
        (,, IClaimsManager.PolicyUsage memory usage) = claims.policy(policyId);
        vm.assertLe(usage.approvedTotal, 499 * USD);
        // the cap is per day: tomorrow one more may pass, as the policy intends
        vm.warp(t0 + 1 days);
        vm.assertTrue(_status(_submit(400 * USD, "tomorrow")) == IClaimsManager.ClaimStatus.Approved);
    }

    /// The claim id binds the policy: a claim under one policy does not collide with, nor
    /// block, the same service billed under another (nor can one policy's claim be moved).
    function test_attack2_a_claim_id_binds_its_policy() public {
        vm.prank(insurer);
        uint32 second = claims.issuePolicy(_terms());
        bytes32 a = _submit(300 * USD, "99213");
        IClaimsManager.ClaimRequest memory r = _claim(300 * USD, _newRecord(hospital, 1), "99213");
        r.policyId = second;
        vm.prank(hospital);
        bytes32 b = claims.submitClaim(r);
        vm.assertTrue(a != b);
        vm.assertEq(a, claims.claimIdOf(policyId, patient, hospital, today, "99213"));
        vm.assertEq(b, claims.claimIdOf(second, patient, hospital, today, "99213"));
        vm.assertEq(claims.getClaim(b).policyId, second);
    }

    // ---------------------------------------------------------------- 3. retracted evidence

    function test_attack3_retracted_evidence_is_refused() public {
        bytes32 record = _newRecord(hospital, 1);
        vm.prank(hospital);
        registry.retract(record, "entered-in-error");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.RetractedEvidence.selector, record));
        _submitCiting(300 * USD, record, "99213");
    }

    // ---------------------------------------------------------------- 4. starving the arbitrator

    /// The insurer denies, the provider disputes, the insurer empties its escrow: the
    /// arbitrator's award must still be payable.
    function test_attack4_insurer_starving_the_arbitrator_is_refused() public {
        bytes32 id = _submit(2_000 * USD, "big");
        vm.prank(insurer);
        claims.denyClaim(id, "no");
        // at most 2,000 less 20% co-pay can be awarded: 1,600 stays reserved
        (uint64 reserved, uint256 until) = claims.denialOf(id);
        vm.assertEq(reserved, 1_600 * USD);
        vm.assertEq(until, t0 + 14 days);
        vm.prank(hospital);
        claims.disputeClaim(id);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimsManager.InsufficientEscrow.selector, insurer, 8_400 * USD, 10_000 * USD)
        );
        vm.prank(insurer);
        claims.withdraw(10_000 * USD);
        vm.prank(insurer);
        claims.withdraw(8_400 * USD);
        vm.prank(arbitrator);
        claims.resolveDispute(id, true, 2_000 * USD, "necessary");
        // 100 deductible, 20% of 1,900 -> 1,520 approved; the rest of the reserve is free
        vm.assertEq(claims.getClaim(id).approved, 1_520 * USD);
        vm.assertEq(claims.escrowOf(insurer).reserved, 1_520 * USD);
        vm.prank(insurer);
        claims.settle(_one(id));
        vm.assertEq(usd.balanceOf(hospital), 1_520 * USD);
    }

    /// A denial reserves no more than what is left of the policy's limit: an award can never
    /// exceed it, so the insurer's other escrow stays free.
    function test_attack4_a_denial_reserves_at_most_the_limit_left() public {
        bytes32 first = _submit(4_000 * USD, "first");
        vm.prank(insurer);
        claims.approveClaim(first, 4_000 * USD);
        uint64 limitLeft = 5_000 * USD - claims.getClaim(first).approved;
        bytes32 id = _submit(3_000 * USD, "second");
        vm.prank(insurer);
        claims.denyClaim(id, "no");
        (uint64 reserved,) = claims.denialOf(id);
        // 3,000 less 20% co-pay would be 2,400; only the limit left can be awarded
        vm.assertTrue(limitLeft < 2_400 * USD);
        vm.assertEq(reserved, limitLeft);
    }

    /// An insurer without the escrow to back a dispute cannot deny (it must fund first).
    function test_attack4_denying_without_escrow_to_back_a_dispute_is_refused() public {
        bytes32 id = _submit(2_000 * USD, "big");
        vm.prank(insurer);
        claims.withdraw(10_000 * USD);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InsufficientEscrow.selector, insurer, 0, 1_600 * USD));
        vm.prank(insurer);
        claims.denyClaim(id, "no");
    }

    /// An undisputed denial's reserve comes back once the window closes, not before; a
    /// dispute denied by the arbitrator releases it at once.
    function test_a_denial_reserve_is_released_when_the_denial_becomes_final() public {
        bytes32 id = _submit(2_000 * USD, "big");
        vm.prank(insurer);
        claims.denyClaim(id, "no");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DisputeWindowOpen.selector, id, t0 + 14 days));
        claims.finalizeDenial(id);
        vm.warp(t0 + 14 days);
        vm.expectEmit();
        emit IClaimsManager.DenialFinal(id, 1_600 * USD);
        vm.prank(stranger); // anyone may
        claims.finalizeDenial(id);
        vm.assertEq(claims.escrowOf(insurer).reserved, 0);
        (uint64 reserved, uint256 until) = claims.denialOf(id);
        vm.assertEq(reserved, 0);
        vm.assertEq(until, 0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DisputeWindowClosed.selector, id, 0));
        claims.finalizeDenial(id);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DisputeWindowClosed.selector, id, 0));
        vm.prank(hospital);
        claims.disputeClaim(id);

        bytes32 second = _submit(2_500 * USD, "second");
        vm.prank(insurer);
        claims.denyClaim(second, "no");
        vm.prank(patient);
        claims.disputeClaim(second);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongStatus.selector, second, IClaimsManager.ClaimStatus.Disputed));
        claims.finalizeDenial(second);
        vm.prank(arbitrator);
        claims.resolveDispute(second, false, 0, "upheld");
        vm.assertEq(claims.escrowOf(insurer).reserved, 0);
    }

    // ---------------------------------------------------------------- 8. unpayable payee

    /// A blacklisted provider's claim in a batch neither blocks the others nor locks its
    /// reserve: it is settled, and the provider collects the payment to another address.
    function test_attack8_an_unpayable_provider_does_not_block_settlement() public {
        BlacklistToken busd = new BlacklistToken();
        ClaimsManager cm = new ClaimsManager(registry, consent, busd);
        busd.mint(insurer, 10_000 * USD);
        vm.startPrank(insurer);
        busd.approve(address(cm), type(uint256).max);
        cm.deposit(10_000 * USD);
        uint32 p = cm.issuePolicy(_terms());
        vm.stopPrank();
        vm.prank(patient);
        consent.grant(otherHospital, IConsentManager.ScopeKind.All, bytes32(0), IConsentManager.Purpose.Treatment, uint40(t0 + 30 days), "");
        bytes32[] memory ids = new bytes32[](2);
        address[2] memory providers = [hospital, otherHospital];
        for (uint256 i; i < 2; ++i) {
            IClaimsManager.ClaimRequest memory r = _claim(1_100 * USD, _newRecord(providers[i], 1), bytes32(i));
            r.policyId = p;
            vm.prank(providers[i]);
            ids[i] = cm.submitClaim(r);
            vm.prank(insurer);
            cm.approveClaim(ids[i], 1_100 * USD);
        }
        busd.setBlacklisted(hospital, true);
        vm.expectEmit();
        emit IClaimsManager.PaymentDeferred(ids[0], hospital, 800 * USD);
        vm.prank(insurer);
        cm.settle(ids);
        vm.assertTrue(cm.getClaim(ids[0]).status == IClaimsManager.ClaimStatus.Paid);
        vm.assertTrue(cm.getClaim(ids[1]).status == IClaimsManager.ClaimStatus.Paid);
        vm.assertEq(busd.balanceOf(otherHospital), 880 * USD);
        vm.assertEq(cm.escrowOf(insurer).reserved, 0);
        vm.assertEq(cm.owedTo(hospital), 800 * USD);
        // the provider collects to an address the token accepts; only once
        address treasury = address(0x4242);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "to"));
        vm.prank(hospital);
        cm.withdrawOwed(address(0));
        vm.prank(hospital);
        cm.withdrawOwed(treasury);
        vm.assertEq(busd.balanceOf(treasury), 800 * USD);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NothingOwed.selector, hospital));
        vm.prank(hospital);
        cm.withdrawOwed(treasury);
        // the escrow and the deferred payments are always backed by tokens held
        vm.assertEq(busd.balanceOf(address(cm)), cm.escrowOf(insurer).balance);
    }

    // ---------------------------------------------------------------- 10. future services

    function test_attack10_a_future_service_date_is_refused() public {
        IClaimsManager.ClaimRequest memory r = _claim(300 * USD, _newRecord(hospital, 1), "99213");
        r.serviceDate = today + 1;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.ServiceDateInFuture.selector, today + 1, today));
        vm.prank(hospital);
        claims.submitClaim(r);
    }
}
