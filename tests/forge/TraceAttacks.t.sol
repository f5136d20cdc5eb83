// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {ITraceability} from "../../contracts/interfaces/ITraceability.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MANUFACTURER_ROLE, DISTRIBUTOR_ROLE, PHARMACY_ROLE} from "../../contracts/Common.sol";

/// Forge's cheatcode to make a contract's storage cold again (as in a fresh transaction).
interface VmCool {
    function cool(address target) external;
}

/// Regression tests for findings 6, 11 and 12 of the adversarial review of Traceability:
/// each attack first succeeded against the code before the fix (the test failed), and is now
/// refused with a named error. Plus the governance of company prefixes the fix brought.
contract TraceAttacksTest is Base {
    event log_named_uint(string key, uint256 val);

    uint64 constant GTIN = 9506000134352; // the brand owner's (manufacturer's) prefix 9506000
    uint64 constant DI = 9506000200019; // a device of the same brand
    address internal rival = address(0x84);
    uint40 expiry;

    function setUp() public override {
        super.setUp();
        expiry = uint40(block.timestamp + 365 days);
        vm.startPrank(governor);
        registry.grantRole(MANUFACTURER_ROLE, rival);
        trace.assignCompanyPrefix(9506000, 7, manufacturer);
        trace.assignCompanyPrefix(950601, 6, rival); // the rival's own brand
        vm.stopPrank();
    }

    function _register(bytes20 lot, uint64 first, uint64 last) internal returns (bytes32 batch) {
        vm.prank(manufacturer);
        batch = trace.registerBatch(GTIN, lot, expiry, first, last, "coa");
    }

    // ------------------------------------------------------------ 6: squatting

    function test_attack6_squatting_a_competitors_lot_is_refused() public {
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixNotYours.selector, GTIN, rival));
        vm.prank(rival); // the brand owner's predictable next lot, pre-registered
        trace.registerBatch(GTIN, "L2026-12", expiry, 1, 1000, "fake coa");
        bytes32 batch = _register("L2026-12", 1, 1000); // the genuine registration goes through
        (bool genuine, address holder,,,,) = trace.verify(GTIN, "L2026-12", 1);
        vm.assertTrue(genuine);
        vm.assertEq(holder, manufacturer);
        vm.prank(manufacturer); // and the brand owner can recall its lot
        trace.recall(batch, "quality");
        // The rival registers under its own prefix only.
        vm.prank(rival);
        trace.registerBatch(9506010000012, "L2026-12", expiry, 1, 10, "coa");
    }

    function test_attack6_squatting_a_competitors_device_is_refused() public {
        bytes32 serial = keccak256("(21)PUMP-1");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixNotYours.selector, DI, rival));
        vm.prank(rival);
        trace.registerDevice(DI, serial, "fake manual");
        // The id is computed on-chain from the DI, so the rival's own DI names another device.
        vm.prank(rival);
        bytes32 own = trace.registerDevice(9506010000012, serial, "manual");
        vm.prank(manufacturer);
        bytes32 genuine = trace.registerDevice(DI, serial, "manual");
        vm.assertTrue(own != genuine);
        vm.assertEq(trace.getDevice(genuine).manufacturer, manufacturer);
    }

    function test_device_identifiers_must_be_gtins() public {
        vm.startPrank(manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidDeviceIdentifier.selector, 0));
        trace.registerDevice(0, "", "");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidDeviceIdentifier.selector, 1e14));
        trace.registerDevice(1e14, "", "");
        vm.stopPrank();
    }

    function test_company_prefixes_are_assigned_by_the_governor_only_and_never_overlap() public {
        bytes memory notGovernor =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, manufacturer, bytes32(0));
        vm.expectRevert(notGovernor);
        vm.prank(manufacturer);
        trace.assignCompanyPrefix(1234567, 7, manufacturer);
        vm.expectRevert(notGovernor);
        vm.prank(manufacturer);
        trace.revokeCompanyPrefix(950601, 6);

        vm.startPrank(governor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidCompanyPrefix.selector, 12345, 5));
        trace.assignCompanyPrefix(12345, 5, manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidCompanyPrefix.selector, 1, 13));
        trace.assignCompanyPrefix(1, 13, manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidCompanyPrefix.selector, 1234567, 6));
        trace.assignCompanyPrefix(1234567, 6, manufacturer);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pharmacy, MANUFACTURER_ROLE)
        );
        trace.assignCompanyPrefix(1234567, 7, pharmacy);
        // 95060001 begins with 9506000 (assigned); 950600 is the start of 9506000
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixOverlaps.selector, 95060001, 8));
        trace.assignCompanyPrefix(95060001, 8, rival);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixOverlaps.selector, 950600, 6));
        trace.assignCompanyPrefix(950600, 6, rival);
        // 0950600 (a 7-digit prefix with a leading zero) is another prefix
        trace.assignCompanyPrefix(950600, 7, rival);

        // reassignment (a brand changing hands) names the previous owner
        vm.expectEmit();
        emit ITraceability.CompanyPrefixAssigned(9506000, 7, rival, manufacturer);
        trace.assignCompanyPrefix(9506000, 7, rival);
        (uint64 prefix, uint8 digits, address owner) = trace.companyPrefixOf(GTIN);
        vm.assertEq(prefix, 9506000);
        vm.assertEq(digits, 7);
        vm.assertEq(owner, rival);

        vm.expectEmit();
        emit ITraceability.CompanyPrefixRevoked(9506000, 7, rival);
        trace.revokeCompanyPrefix(9506000, 7);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixNotAssigned.selector, 9506000, 7));
        trace.revokeCompanyPrefix(9506000, 7);
        (,, owner) = trace.companyPrefixOf(GTIN);
        vm.assertEq(owner, address(0));
        (,, owner) = trace.companyPrefixOf(1e14);
        vm.assertEq(owner, address(0));
        trace.assignCompanyPrefix(95060001, 8, rival); // no longer overlaps
        trace.revokeCompanyPrefix(95060001, 8);
        trace.assignCompanyPrefix(950600, 6, rival); // nothing under it any more
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ITraceability.CompanyPrefixNotYours.selector, GTIN, manufacturer));
        vm.prank(manufacturer);
        trace.registerBatch(GTIN, "AFTER", expiry, 1, 2, "");
    }

    // ------------------------------------------------------------ 11: unbounded gas

    function test_attack11_offering_a_huge_range_costs_constant_gas() public {
        uint64 last = (uint64(1) << 40) - 1; // 2^40 units
        bytes32 batch = _register("HUGE", 0, last);
        VmCool(address(vm)).cool(address(trace));
        VmCool(address(vm)).cool(address(registry));
        uint256 before = gasleft();
        vm.prank(manufacturer);
        trace.offer{gas: 100_000}(batch, 0, 1, last - 1, distributor);
        uint256 used = before - gasleft();
        emit log_named_uint("offer of 2^40 - 2 units (gas)", used);
        vm.assertLe(used, 60_000);
        VmCool(address(vm)).cool(address(trace));
        VmCool(address(vm)).cool(address(registry));
        before = gasleft();
        vm.prank(distributor);
        trace.accept{gas: 200_000}(batch, 0);
        used = before - gasleft();
        emit log_named_uint("accept of 2^40 - 2 units, two splits (gas)", used);
        vm.assertLe(used, 130_000);
        vm.assertEq(trace.segments(batch).length, 3);
    }

    function test_attack11_cancelled_offers_leave_no_split() public {
        bytes32 batch = _register("CANCEL", 1, 1000);
        vm.startPrank(manufacturer);
        for (uint256 i; i < 50; ++i) {
            trace.offer(batch, 0, 500, 500, distributor);
            trace.cancelOffer(batch, 0);
        }
        vm.stopPrank();
        vm.assertEq(trace.segments(batch).length, 1);
    }

    function test_attack11_splitting_a_batch_into_many_segments_is_capped() public {
        uint256 max = trace.MAX_SEGMENTS();
        bytes32 batch = _register("SPLIT", 1, 100_000);
        // Units 1..10 to the distributor (segment 0), the rest stays the manufacturer's (1).
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1, 10, distributor);
        vm.prank(distributor);
        trace.accept(batch, 0);
        // Then the manufacturer and a colluding pharmacy move single units: unit i from the
        // remainder, one new segment each time, until one short of the cap.
        uint64 unit = 11;
        for (uint32 remainder = 1; remainder < max - 2; ++remainder) {
            vm.prank(manufacturer);
            trace.offer(batch, remainder, unit, unit, pharmacy);
            vm.prank(pharmacy);
            trace.accept(batch, remainder);
            ++unit;
        }
        uint32 rest = uint32(max - 2);
        vm.assertEq(trace.segments(batch).length, max - 1);
        // A split in the middle would add two: refused at the offer.
        vm.expectRevert(abi.encodeWithSelector(ITraceability.TooManySegments.selector, batch, max));
        vm.prank(manufacturer);
        trace.offer(batch, rest, 50_000, 50_000, pharmacy);
        // Two offers adding one each are fine now, but only the first can be accepted.
        vm.prank(manufacturer);
        trace.offer(batch, rest, unit, unit, pharmacy);
        vm.prank(distributor);
        trace.offer(batch, 0, 1, 5, pharmacy);
        vm.prank(pharmacy);
        trace.accept(batch, rest);
        vm.assertEq(trace.segments(batch).length, max);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.TooManySegments.selector, batch, max));
        vm.prank(pharmacy);
        trace.accept(batch, 0);
        // At the cap, whole segments still move.
        vm.prank(distributor);
        trace.cancelOffer(batch, 0);
        vm.prank(distributor);
        trace.offer(batch, 0, 1, 10, pharmacy);
        vm.prank(pharmacy);
        trace.accept(batch, 0);

        // verify at the cap: the worst case is a unit in the last segment.
        ITraceability.Segment memory lastSegment = trace.segments(batch)[max - 1];
        VmCool(address(vm)).cool(address(trace)); // every slot read cold, as in its own call
        VmCool(address(vm)).cool(address(registry));
        uint256 before = gasleft();
        (bool genuine, address holder,,,,) = trace.verify(GTIN, "SPLIT", lastSegment.lastSerial);
        uint256 used = before - gasleft();
        emit log_named_uint("verify at MAX_SEGMENTS, last segment (gas)", used);
        vm.assertTrue(genuine);
        vm.assertEq(holder, lastSegment.holder);
        // 2.49M with the optimizer (README); the bound leaves room for `forge coverage`'s
        // unoptimized, instrumented build (3.2M) and stays far below an eth_call cap.
        vm.assertLe(used, 5_000_000);
    }

    // ------------------------------------------------------------ 12: revoked roles

    function test_attack12_a_revoked_party_cannot_offer() public {
        bytes32 batch = _register("REVOKED", 1, 1000);
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1, 1000, distributor);
        vm.prank(distributor);
        trace.accept(batch, 0);
        vm.prank(governor);
        registry.revokeRole(DISTRIBUTOR_ROLE, distributor);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, distributor, DISTRIBUTOR_ROLE)
        );
        vm.prank(distributor);
        trace.offer(batch, 0, 1, 1000, pharmacy);
    }

    function test_attack12_accepting_an_offer_after_the_role_was_revoked_is_refused() public {
        bytes32 batch = _register("REVOKED2", 1, 1000);
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1, 1000, pharmacy);
        vm.prank(governor);
        registry.revokeRole(PHARMACY_ROLE, pharmacy);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pharmacy, DISTRIBUTOR_ROLE)
        );
        vm.prank(pharmacy);
        trace.accept(batch, 0);
        vm.prank(manufacturer); // the holder takes it back
        trace.cancelOffer(batch, 0);
    }
}
