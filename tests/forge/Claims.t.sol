// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ClaimsFixture} from "./ClaimsFixture.sol";
import {ClaimsManager} from "../../contracts/ClaimsManager.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EighteenDecimalToken} from "../../contracts/test/EighteenDecimalToken.sol";
import {ZeroAddress, INSURER_ROLE, PROVIDER_ROLE, ARBITRATOR_ROLE} from "../../contracts/Common.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract ClaimsTest is ClaimsFixture {
    bytes32 constant NOT_CONSENTED = keccak256("no consent record");

    function setUp() public override {
        super.setUp();
        _anchor(NOT_CONSENTED, 1);
        IConsentManager.GrantRequest memory deny =
            _request(insurer, IConsentManager.ScopeKind.Record, NOT_CONSENTED, IConsentManager.Purpose.Payment);
        deny.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, deny);
    }

    function test_constructor_refuses_zero_addresses() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new ClaimsManager(IRecordRegistry(address(0)), consent, usd);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "consent"));
        new ClaimsManager(registry, IConsentManager(address(0)), usd);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "token"));
        new ClaimsManager(registry, consent, IERC20(address(0)));
    }

    function test_constructor_refuses_a_token_without_six_decimals() public {
        EighteenDecimalToken e18 = new EighteenDecimalToken();
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnsupportedToken.selector, address(e18), 18));
        new ClaimsManager(registry, consent, IERC20(address(e18)));
        // a contract that is no token at all (no decimals()) is refused the same way
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnsupportedToken.selector, address(registry), 0));
        new ClaimsManager(registry, consent, IERC20(address(registry)));
    }

    /// Whatever the policy's terms and the amounts approved: the insurer's and the patient's
    /// shares add up to the amount, the insurer never pays past the limit nor the patient
    /// past the deductible's use, the escrow reserves exactly what was approved, and
    /// settlement moves exactly that to the provider.
    function testFuzz_shares_add_up_and_stay_within_the_terms(
        uint64 limit,
        uint64 deductible,
        uint16 copayBps,
        uint64 first,
        uint64 second
    ) public {
        limit = uint64(_bound(limit, 1, 1_000_000 * USD));
        deductible = uint64(_bound(deductible, 0, limit < 100_000 * USD ? limit : 100_000 * USD));
        copayBps = uint16(_bound(copayBps, 0, 10_000));
        uint64[2] memory amounts =
            [uint64(_bound(first, 1, 1_000_000 * USD)), uint64(_bound(second, 1, 1_000_000 * USD))];
        IClaimsManager.PolicyTerms memory terms = _terms();
        (terms.limit, terms.deductible, terms.copayBps, terms.autoApproveBelow) = (limit, deductible, copayBps, 0);
        usd.mint(insurer, 2_000_000 * USD);
        vm.startPrank(insurer);
        claims.deposit(2_000_000 * USD);
        uint32 fuzzed = claims.issuePolicy(terms);
        vm.stopPrank();
        uint256 reservedBefore = claims.escrowOf(insurer).reserved;
        bytes32[] memory ids = new bytes32[](2);
        uint256 approvedTotal;
        for (uint256 i; i < 2; ++i) {
            IClaimsManager.ClaimRequest memory r = _claim(amounts[i], _newRecord(hospital, 1), bytes32(i));
            r.policyId = fuzzed;
            vm.prank(hospital);
            ids[i] = claims.submitClaim(r);
            vm.prank(insurer);
            claims.approveClaim(ids[i], amounts[i]);
            IClaimsManager.Claim memory c = claims.getClaim(ids[i]);
            vm.assertEq(uint256(c.approved) + c.patientShare, amounts[i]);
            approvedTotal += c.approved;
        }
        (, , IClaimsManager.PolicyUsage memory usage) = claims.policy(fuzzed);
        vm.assertEq(usage.approvedTotal, approvedTotal);
        vm.assertLe(approvedTotal, limit);
        vm.assertLe(usage.deductibleUsed, deductible);
        vm.assertEq(claims.escrowOf(insurer).reserved - reservedBefore, approvedTotal);
        uint256 paidBefore = usd.balanceOf(hospital);
        vm.prank(insurer);
        claims.settle(ids);
        vm.assertEq(usd.balanceOf(hospital) - paidBefore, approvedTotal);
        vm.assertEq(claims.escrowOf(insurer).reserved, reservedBefore);
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    function test_escrow_deposit_and_withdraw() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, INSURER_ROLE)
        );
        vm.prank(stranger);
        claims.deposit(1);
        vm.startPrank(insurer);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 0));
        claims.deposit(0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InsufficientEscrow.selector, insurer, 10_000 * USD, 0));
        claims.withdraw(0);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimsManager.InsufficientEscrow.selector, insurer, 10_000 * USD, 10_001 * USD)
        );
        claims.withdraw(10_001 * USD);
        uint256 before = usd.balanceOf(insurer);
        claims.withdraw(1_000 * USD);
        vm.stopPrank();
        vm.assertEq(usd.balanceOf(insurer) - before, 1_000 * USD);
        vm.assertEq(claims.escrowOf(insurer).balance, 9_000 * USD);
    }

    /// The fork suite (tests/fork/conftest.py, POLICY_COUNT_SLOT) reads the policy counter
    /// from storage slot 8 on the upstream node; a change to ClaimsManager's storage must
    /// update it there too.
    function test_policy_counter_is_in_the_slot_the_fork_suite_reads() public {
        vm.assertEq(uint256(vm.load(address(claims), bytes32(uint256(8)))), policyId);
        vm.prank(insurer);
        uint32 next = claims.issuePolicy(_terms());
        vm.assertEq(uint256(vm.load(address(claims), bytes32(uint256(8)))), next);
        vm.assertEq(next, policyId + 1);
    }

    function test_policy_terms_are_checked() public {
        IClaimsManager.PolicyTerms memory terms = _terms();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, INSURER_ROLE)
        );
        vm.prank(stranger);
        claims.issuePolicy(terms);
        vm.startPrank(insurer);
        terms.patient = address(0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "patient is zero"));
        claims.issuePolicy(terms);
        terms = _terms();
        terms.limit = 0;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "limit is zero"));
        claims.issuePolicy(terms);
        terms = _terms();
        terms.deductible = terms.limit + 1; // a policy that could never pay
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "deductible above the limit"));
        claims.issuePolicy(terms);
        terms = _terms();
        terms.copayBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "co-pay above 100%"));
        claims.issuePolicy(terms);
        terms = _terms();
        terms.end = terms.start;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "period is empty or over"));
        claims.issuePolicy(terms);
        terms = _terms();
        terms.start = uint40(t0 - 10 days);
        terms.end = uint40(t0 - 1 days);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidPolicy.selector, "period is empty or over"));
        claims.issuePolicy(terms);
        vm.stopPrank();
        (address owner, IClaimsManager.PolicyTerms memory stored, IClaimsManager.PolicyUsage memory usage) =
            claims.policy(policyId);
        vm.assertEq(owner, insurer);
        vm.assertEq(stored.limit, 5_000 * USD);
        vm.assertEq(usage.approvedTotal, 0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnknownPolicy.selector, 99));
        claims.policy(99);
    }

    function test_a_small_covered_claim_is_approved_on_submission_and_settled() public {
        // 300: the first 100 is deductible (patient), then 20% co-pay of 200 -> insurer pays 160
        bytes32 id = _submit(300 * USD, "99213");
        IClaimsManager.Claim memory c = claims.getClaim(id);
        vm.assertTrue(c.status == IClaimsManager.ClaimStatus.Approved);
        vm.assertEq(c.approved, 160 * USD);
        vm.assertEq(c.patientShare, 140 * USD);
        vm.assertEq(claims.escrowOf(insurer).reserved, 160 * USD);

        bytes32[] memory ids = new bytes32[](1);
        ids[0] = id;
        vm.expectEmit();
        emit IClaimsManager.ClaimPaid(id, hospital, 160 * USD);
        vm.prank(insurer);
        claims.settle(ids);
        vm.assertEq(usd.balanceOf(hospital), 160 * USD);
        vm.assertTrue(_status(id) == IClaimsManager.ClaimStatus.Paid);
        vm.assertEq(claims.escrowOf(insurer).reserved, 0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongStatus.selector, id, IClaimsManager.ClaimStatus.Paid));
        vm.prank(insurer);
        claims.settle(ids);
    }

    function test_uncovered_large_and_unfunded_claims_wait_for_review() public {
        vm.assertTrue(
            _status(_submitCiting(300 * USD, _newRecord(hospital, 5), "a")) == IClaimsManager.ClaimStatus.Submitted
        );
        vm.assertTrue(
            _status(_submitCiting(300 * USD, _newRecord(hospital, 40), "b")) == IClaimsManager.ClaimStatus.Submitted
        );
        vm.assertTrue(_status(_submit(501 * USD, "c")) == IClaimsManager.ClaimStatus.Submitted);
        vm.prank(insurer);
        claims.withdraw(10_000 * USD);
        vm.assertTrue(_status(_submit(300 * USD, "d")) == IClaimsManager.ClaimStatus.Submitted);
    }

    function test_submission_refusals() public {
        bytes32 covered = _newRecord(hospital, 1);
        IClaimsManager.ClaimRequest memory r = _claim(300 * USD, covered, "x");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, PROVIDER_ROLE)
        );
        vm.prank(stranger);
        claims.submitClaim(r);
        vm.startPrank(hospital);
        r.amount = 0;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 0));
        claims.submitClaim(r);
        r.amount = uint64(type(uint48).max) + 1; // a patient share could not be stored
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, r.amount));
        claims.submitClaim(r);
        r = _claim(300 * USD, covered, "x");
        r.policyId = 77;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnknownPolicy.selector, 77));
        claims.submitClaim(r);
        r = _claim(300 * USD, covered, "x");
        r.patient = stranger;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongPatient.selector, policyId, stranger));
        claims.submitClaim(r);
        r = _claim(300 * USD, covered, "x");
        r.serviceDate = today - 2;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.PolicyNotActive.selector, policyId, today - 2));
        claims.submitClaim(r);
        r.serviceDate = today + 1;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.ServiceDateInFuture.selector, today + 1, today));
        claims.submitClaim(r);
        r = _claim(300 * USD, covered, "x");
        r.recordIds = new bytes32[](0);
        vm.expectRevert(IClaimsManager.NoEvidence.selector);
        claims.submitClaim(r);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NoPaymentConsent.selector, NOT_CONSENTED, insurer));
        claims.submitClaim(_claim(300 * USD, NOT_CONSENTED, "x"));
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnknownRecord.selector, bytes32(uint256(4))));
        claims.submitClaim(_claim(300 * USD, bytes32(uint256(4)), "x"));
        vm.stopPrank();

        bytes32 foreign = keccak256("someone else's record");
        vm.prank(hospital);
        registry.anchor(foreign, stranger, 1, bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.RecordNotOfPatient.selector, foreign, patient));
        vm.prank(hospital);
        claims.submitClaim(_claim(300 * USD, foreign, "x"));

        bytes32 id = _submitCiting(300 * USD, covered, "x");
        bytes32 another = _newRecord(hospital, 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DuplicateClaim.selector, id));
        _submitCiting(300 * USD, another, "x");

        // a service after the policy's end, billed after it
        bytes32 late = _newRecord(hospital, 1);
        vm.warp(t0 + 367 days);
        r = _claim(300 * USD, late, "late");
        r.serviceDate = today + 366;
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.PolicyNotActive.selector, policyId, today + 366));
        vm.prank(hospital);
        claims.submitClaim(r);
    }

    function test_review_deny_dispute_and_arbitration() public {
        bytes32 id = _submit(2_000 * USD, "big");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NotPolicyInsurer.selector, policyId, stranger));
        vm.prank(stranger);
        claims.approveClaim(id, 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnknownClaim.selector, bytes32(0)));
        vm.prank(insurer);
        claims.approveClaim(bytes32(0), 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 0));
        vm.prank(insurer);
        claims.approveClaim(id, 0);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 2_001 * USD));
        vm.prank(insurer);
        claims.approveClaim(id, 2_001 * USD);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongStatus.selector, id, IClaimsManager.ClaimStatus.Submitted));
        vm.prank(hospital);
        claims.disputeClaim(id);

        vm.prank(insurer);
        claims.denyClaim(id, "not necessary");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongStatus.selector, id, IClaimsManager.ClaimStatus.Denied));
        vm.prank(insurer);
        claims.denyClaim(id, "again");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.NotPartyToClaim.selector, id, stranger));
        vm.prank(stranger);
        claims.disputeClaim(id);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.WrongStatus.selector, id, IClaimsManager.ClaimStatus.Denied));
        vm.prank(arbitrator);
        claims.resolveDispute(id, true, 1, "");
        vm.prank(patient); // the patient may dispute too
        claims.disputeClaim(id);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, insurer, ARBITRATOR_ROLE)
        );
        vm.prank(insurer);
        claims.resolveDispute(id, true, 1, "");
        vm.startPrank(arbitrator);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 0));
        claims.resolveDispute(id, true, 0, "");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidAmount.selector, 2_001 * USD));
        claims.resolveDispute(id, true, 2_001 * USD, "");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.UnknownClaim.selector, bytes32(0)));
        claims.resolveDispute(bytes32(0), true, 1, "");
        claims.resolveDispute(id, true, 1_000 * USD, "medically necessary");
        vm.stopPrank();
        // 1,000: 100 deductible, 20% of 900 co-pay -> 720
        vm.assertEq(claims.getClaim(id).approved, 720 * USD);

        // a dispute denied by the arbitrator is final
        bytes32 second = _submit(2_500 * USD, "second");
        vm.prank(insurer);
        claims.denyClaim(second, "no");
        vm.prank(hospital);
        claims.disputeClaim(second);
        vm.prank(arbitrator);
        claims.resolveDispute(second, false, 0, "upheld");
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DisputeWindowClosed.selector, second, 0));
        vm.prank(hospital);
        claims.disputeClaim(second);

        // and a denial not disputed within 14 days stands
        bytes32 third = _submit(2_600 * USD, "third");
        vm.prank(insurer);
        claims.denyClaim(third, "no");
        vm.warp(t0 + 14 days);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.DisputeWindowClosed.selector, third, t0 + 14 days));
        vm.prank(hospital);
        claims.disputeClaim(third);
    }

    function test_the_limit_caps_payment_and_escrow_must_cover_an_approval() public {
        bytes32 a = _submit(4_000 * USD, "a");
        bytes32 b = _submit(4_000 * USD, "b");
        vm.startPrank(insurer);
        claims.approveClaim(a, 4_000 * USD); // 100 deductible, 20% of 3,900 -> 3,120
        claims.approveClaim(b, 4_000 * USD); // 20% of 4,000 -> 3,200, capped by the 1,880 left
        vm.stopPrank();
        vm.assertEq(claims.getClaim(a).approved, 3_120 * USD);
        vm.assertEq(claims.getClaim(b).approved, 1_880 * USD);
        vm.assertEq(claims.getClaim(b).patientShare, 2_120 * USD);

        vm.prank(insurer);
        claims.issuePolicy(_terms());
        vm.prank(insurer);
        claims.withdraw(10_000 * USD - 5_000 * USD);
        IClaimsManager.ClaimRequest memory r = _claim(4_000 * USD, _newRecord(hospital, 1), "d");
        r.policyId = 2;
        vm.prank(hospital);
        bytes32 d = claims.submitClaim(r);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InsufficientEscrow.selector, insurer, 0, 3_120 * USD));
        vm.prank(insurer);
        claims.approveClaim(d, 4_000 * USD);
    }

    function test_settlement_batches_are_bounded() public {
        vm.startPrank(insurer);
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidBatchSize.selector, 0, 100));
        claims.settle(new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(IClaimsManager.InvalidBatchSize.selector, 101, 100));
        claims.settle(new bytes32[](101));
        vm.stopPrank();
    }
}
