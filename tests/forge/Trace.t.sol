// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {Traceability} from "../../contracts/Traceability.sol";
import {ITraceability} from "../../contracts/interfaces/ITraceability.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {PROVIDER_ROLE, MANUFACTURER_ROLE, PHARMACY_ROLE, ZeroAddress} from "../../contracts/Common.sol";

contract TraceTest is Base {
    uint64 constant GTIN = 9506000134352;
    bytes20 constant LOT = "L2026-11";
    bytes32 batch;
    uint40 expiry;

    function setUp() public override {
        super.setUp();
        expiry = uint40(block.timestamp + 365 days);
        vm.startPrank(governor);
        trace.assignCompanyPrefix(9506000, 7, manufacturer); // GTIN 09506000134352
        trace.assignCompanyPrefix(844588, 7, manufacturer); // UDI-DI 00844588003288 (prefix 0844588)
        vm.stopPrank();
        vm.prank(manufacturer);
        batch = trace.registerBatch(GTIN, LOT, expiry, 1000, 1999, "coa");
    }

    function _segment(uint256 i) internal view returns (ITraceability.Segment memory) {
        return trace.segments(batch)[i];
    }

    function test_constructor_refuses_a_zero_registry() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new Traceability(IAccessControl(address(0)));
    }

    function test_register_refusals() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pharmacy, MANUFACTURER_ROLE)
        );
        vm.prank(pharmacy);
        trace.registerBatch(GTIN, "other", expiry, 1, 2, "");
        vm.startPrank(manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidBatch.selector, 0, 1, 2, expiry));
        trace.registerBatch(0, "other", expiry, 1, 2, "");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidBatch.selector, 1e14, 1, 2, expiry));
        trace.registerBatch(1e14, "other", expiry, 1, 2, "");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidBatch.selector, GTIN, 2, 1, expiry));
        trace.registerBatch(GTIN, "other", expiry, 2, 1, "");
        uint40 now_ = uint40(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.InvalidBatch.selector, GTIN, 1, 2, now_));
        trace.registerBatch(GTIN, "other", now_, 1, 2, "");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.BatchExists.selector, batch));
        trace.registerBatch(GTIN, LOT, expiry, 1, 2, "");
        vm.stopPrank();
        ITraceability.Batch memory b = trace.getBatch(batch);
        vm.assertEq(b.manufacturer, manufacturer);
        vm.assertEq(b.firstSerial, 1000);
        vm.assertEq(b.lastSerial, 1999);
    }

    function test_custody_splits_moves_and_dispensing() public {
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1200, 1799, distributor);
        vm.assertEq(trace.segments(batch).length, 1); // split only when accepted
        vm.assertEq(_segment(0).pendingTo, distributor);
        vm.assertEq(_segment(0).offeredFirst, 1200);
        (, address holder, address pendingTo,,,) = trace.verify(GTIN, LOT, 1200);
        vm.assertEq(holder, manufacturer);
        vm.assertEq(pendingTo, distributor);
        (,, pendingTo,,,) = trace.verify(GTIN, LOT, 1000); // not in the offered range
        vm.assertEq(pendingTo, address(0));

        vm.expectRevert(abi.encodeWithSelector(ITraceability.NoTransferToYou.selector, batch, 0, pharmacy));
        vm.prank(pharmacy);
        trace.accept(batch, 0);
        vm.expectEmit();
        emit ITraceability.TransferAccepted(batch, manufacturer, distributor, 0, 1200, 1799);
        vm.prank(distributor);
        trace.accept(batch, 0);
        vm.assertEq(trace.segments(batch).length, 3); // 1200-1799 moved, 1000-1199, 1800-1999 stay
        vm.assertEq(_segment(0).offeredFirst, 0);
        vm.assertEq(_segment(1).lastSerial, 1199);
        vm.assertEq(_segment(2).firstSerial, 1800);
        vm.assertEq(_segment(2).holder, manufacturer);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, distributor, PHARMACY_ROLE)
        );
        vm.prank(distributor);
        trace.dispense(batch, 0, 1300);

        vm.prank(distributor); // the whole segment: no split
        trace.offer(batch, 0, 1200, 1799, pharmacy);
        vm.prank(pharmacy);
        trace.accept(batch, 0);
        vm.assertEq(trace.segments(batch).length, 3);

        vm.startPrank(pharmacy);
        trace.dispense(batch, 0, 1300);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.AlreadyDispensed.selector, batch, 1300));
        trace.dispense(batch, 0, 1300);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.SerialsOutsideSegment.selector, batch, 0, 1000, 1000));
        trace.dispense(batch, 0, 1000);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotHolder.selector, batch, 1, pharmacy));
        trace.dispense(batch, 1, 1000);
        // A range holding a dispensed unit moves on paper; the unit stays dispensed.
        trace.offer(batch, 0, 1300, 1799, hospital);
        trace.dispense(batch, 0, 1200); // outside the offered range: still the pharmacy's to give
        vm.expectRevert(abi.encodeWithSelector(ITraceability.TransferPending.selector, batch, 0, hospital));
        trace.dispense(batch, 0, 1400);
        vm.stopPrank();
        vm.startPrank(hospital);
        trace.accept(batch, 0);
        trace.dispense(batch, 0, 1799); // hospitals (providers) dispense too
        vm.expectRevert(abi.encodeWithSelector(ITraceability.AlreadyDispensed.selector, batch, 1300));
        trace.dispense(batch, 0, 1300);
        vm.stopPrank();

        bool genuine;
        bool recalled;
        bool dispensed;
        bool expired;
        (genuine, holder, pendingTo, recalled, dispensed, expired) = trace.verify(GTIN, LOT, 1300);
        vm.assertTrue(genuine && dispensed);
        vm.assertFalse(recalled || expired);
        vm.assertEq(holder, hospital);
        vm.assertEq(pendingTo, address(0));
        (, holder,,,,) = trace.verify(GTIN, LOT, 1250);
        vm.assertEq(holder, pharmacy);
        vm.assertFalse(trace.isDispensed(batch, 1301));
    }

    function test_offer_refusals() public {
        vm.startPrank(manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotInSupplyChain.selector, stranger));
        trace.offer(batch, 0, 1000, 1099, stranger);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotInSupplyChain.selector, manufacturer));
        trace.offer(batch, 0, 1000, 1099, manufacturer);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.UnknownSegment.selector, batch, 5));
        trace.offer(batch, 5, 1000, 1099, distributor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.SerialsOutsideSegment.selector, batch, 0, 999, 1099));
        trace.offer(batch, 0, 999, 1099, distributor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.SerialsOutsideSegment.selector, batch, 0, 1000, 2000));
        trace.offer(batch, 0, 1000, 2000, distributor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.SerialsOutsideSegment.selector, batch, 0, 1100, 1099));
        trace.offer(batch, 0, 1100, 1099, distributor);
        trace.offer(batch, 0, 1000, 1999, distributor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.TransferPending.selector, batch, 0, distributor));
        trace.offer(batch, 0, 1000, 1999, pharmacy);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotHolder.selector, batch, 0, distributor));
        vm.prank(distributor);
        trace.offer(batch, 0, 1000, 1999, pharmacy);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.UnknownSegment.selector, batch, 9));
        vm.prank(distributor);
        trace.accept(batch, 9);
    }

    function test_an_offer_can_be_cancelled_by_either_side_only() public {
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NoTransferToYou.selector, batch, 0, manufacturer));
        vm.prank(manufacturer);
        trace.cancelOffer(batch, 0); // nothing pending
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1000, 1999, distributor);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NoTransferToYou.selector, batch, 0, stranger));
        vm.prank(stranger);
        trace.cancelOffer(batch, 0);
        vm.prank(distributor); // the receiver declines
        trace.cancelOffer(batch, 0);
        vm.assertEq(_segment(0).pendingTo, address(0));
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1000, 1999, distributor);
        vm.prank(manufacturer); // the holder withdraws it
        trace.cancelOffer(batch, 0);
        vm.assertEq(_segment(0).holder, manufacturer);
    }

    function test_a_recall_stops_every_movement() public {
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1000, 1499, pharmacy);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotBatchManufacturerOrRegulator.selector, batch, pharmacy));
        vm.prank(pharmacy);
        trace.recall(batch, "contaminated");
        vm.expectEmit();
        emit ITraceability.BatchRecalled(batch, regulator, "contaminated");
        vm.prank(regulator);
        trace.recall(batch, "contaminated");
        bytes memory recalled = abi.encodeWithSelector(ITraceability.BatchIsRecalled.selector, batch);
        vm.expectRevert(recalled);
        vm.prank(manufacturer);
        trace.recall(batch, "again");
        vm.expectRevert(recalled);
        vm.prank(pharmacy);
        trace.accept(batch, 0);
        vm.expectRevert(recalled);
        vm.prank(manufacturer);
        trace.offer(batch, 1, 1500, 1999, distributor);
        vm.expectRevert(recalled);
        vm.prank(manufacturer);
        trace.dispense(batch, 1, 1500);
        (,,, bool isRecalled,,) = trace.verify(GTIN, LOT, 1500);
        vm.assertTrue(isRecalled);
    }

    function test_expired_units_cannot_move_and_unknown_ones_are_not_genuine() public {
        vm.warp(expiry);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.BatchExpired.selector, batch, expiry));
        vm.prank(manufacturer);
        trace.offer(batch, 0, 1000, 1999, distributor);
        (bool genuine,,,,, bool expired) = trace.verify(GTIN, LOT, 1000);
        vm.assertTrue(genuine && expired);
        (genuine,,,,,) = trace.verify(GTIN, LOT, 2000);
        vm.assertFalse(genuine);
        (genuine,,,,,) = trace.verify(GTIN, LOT, 999);
        vm.assertFalse(genuine);
        (genuine,,,,,) = trace.verify(GTIN, "fake", 1000);
        vm.assertFalse(genuine);
        bytes32 unknown = trace.batchIdOf(GTIN, "fake");
        bytes memory err = abi.encodeWithSelector(ITraceability.UnknownBatch.selector, unknown);
        vm.expectRevert(err);
        trace.getBatch(unknown);
        vm.expectRevert(err);
        trace.segments(unknown);
        vm.expectRevert(err);
        trace.recall(unknown, "");
    }

    // ------------------------------------------------------------ devices

    uint64 constant DI = 844588003288; // (01)00844588003288
    bytes32 constant PUMP_PI = keccak256("(21)PUMP-1");
    bytes32 PUMP = keccak256(abi.encode(DI, PUMP_PI));

    function test_a_device_life() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, hospital, MANUFACTURER_ROLE)
        );
        vm.prank(hospital);
        trace.registerDevice(DI, PUMP_PI, "");
        vm.prank(manufacturer);
        vm.assertEq(trace.registerDevice(DI, PUMP_PI, "manual"), PUMP);
        vm.assertEq(trace.deviceIdOf(DI, PUMP_PI), PUMP);
        vm.expectRevert(abi.encodeWithSelector(ITraceability.DeviceExists.selector, PUMP));
        vm.prank(manufacturer);
        trace.registerDevice(DI, PUMP_PI, "manual");

        vm.expectRevert(
            abi.encodeWithSelector(ITraceability.WrongDeviceStatus.selector, PUMP, ITraceability.DeviceStatus.Registered)
        );
        vm.prank(manufacturer);
        trace.logService(PUMP, ITraceability.ServiceKind.Calibration, true, "");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotDeviceParty.selector, PUMP, hospital));
        vm.prank(hospital);
        trace.assignDevice(PUMP, hospital);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pharmacy, PROVIDER_ROLE)
        );
        vm.prank(manufacturer);
        trace.assignDevice(PUMP, pharmacy);
        vm.prank(manufacturer);
        trace.assignDevice(PUMP, hospital);

        vm.prank(hospital);
        trace.logService(PUMP, ITraceability.ServiceKind.Calibration, true, "report");
        vm.prank(manufacturer);
        trace.logService(PUMP, ITraceability.ServiceKind.Maintenance, true, "report");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotDeviceParty.selector, PUMP, otherHospital));
        vm.prank(otherHospital);
        trace.logService(PUMP, ITraceability.ServiceKind.QualityCheck, false, "");
        vm.prank(hospital); // moved to another hospital by its holder
        trace.assignDevice(PUMP, otherHospital);
        ITraceability.Device memory d = trace.getDevice(PUMP);
        vm.assertEq(d.holder, otherHospital);
        vm.assertEq(d.services, 2);

        vm.expectRevert(abi.encodeWithSelector(ITraceability.NotDeviceParty.selector, PUMP, hospital));
        vm.prank(hospital);
        trace.decommission(PUMP, "worn out");
        vm.prank(otherHospital);
        trace.decommission(PUMP, "worn out");
        bytes memory gone = abi.encodeWithSelector(
            ITraceability.WrongDeviceStatus.selector, PUMP, ITraceability.DeviceStatus.Decommissioned
        );
        vm.expectRevert(gone);
        vm.prank(regulator);
        trace.decommission(PUMP, "again");
        vm.expectRevert(gone);
        vm.prank(otherHospital);
        trace.assignDevice(PUMP, hospital);
    }

    function test_a_registered_device_is_decommissioned_by_its_maker_or_a_regulator() public {
        vm.startPrank(manufacturer);
        trace.registerDevice(DI, PUMP_PI, "");
        bytes32 other = trace.registerDevice(DI, keccak256("(21)PUMP-2"), "");
        trace.decommission(PUMP, "never shipped");
        vm.stopPrank();
        vm.prank(regulator);
        trace.decommission(other, "unsafe model");
        vm.assertTrue(trace.getDevice(other).status == ITraceability.DeviceStatus.Decommissioned);
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.UnknownDevice.selector, unknown));
        trace.getDevice(unknown);
    }
}
