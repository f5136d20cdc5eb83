// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {DeviceKeys} from "../../contracts/DeviceKeys.sol";
import {IDeviceKeys} from "../../contracts/interfaces/IDeviceKeys.sol";
import {ITraceability} from "../../contracts/interfaces/ITraceability.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MANUFACTURER_ROLE, PROVIDER_ROLE, ZeroAddress} from "../../contracts/Common.sol";

/// Every party against DeviceKeys: who may bind, rotate or revoke a device's signing key and
/// assign it to a patient, and what a stranger, a patient, a rival manufacturer or another
/// hospital gains by calling first, or with other arguments. Each attack is refused by name
/// and leaves the histories as they were.
contract DeviceKeysAttacksTest is Base {
    uint64 constant DI = 9506000200019; // the manufacturer's brand (prefix 9506000)
    uint64 constant RIVAL_DI = 9506010000012; // the rival's brand (prefix 950601)
    address internal rival = address(0x84);
    DeviceKeys internal deviceKeys;
    bytes32 internal sensor;
    bytes32 internal rivalDevice;
    bytes32 constant KEY1 = keccak256("sensor key 1");
    bytes32 constant KEY2 = keccak256("sensor key 2");
    bytes32 constant ALICE = keccak256("commitment: alice");
    bytes32 constant BOB = keccak256("commitment: bob");

    function setUp() public override {
        super.setUp();
        deviceKeys = new DeviceKeys(trace, registry);
        vm.startPrank(governor);
        registry.grantRole(MANUFACTURER_ROLE, rival);
        trace.assignCompanyPrefix(9506000, 7, manufacturer);
        trace.assignCompanyPrefix(950601, 6, rival);
        vm.stopPrank();
        vm.prank(manufacturer);
        sensor = trace.registerDevice(DI, keccak256("(21)GLU-1"), "ifu");
        vm.prank(rival);
        rivalDevice = trace.registerDevice(RIVAL_DI, keccak256("(21)X-1"), "ifu");
    }

    function _inService() internal {
        vm.prank(manufacturer);
        trace.assignDevice(sensor, hospital);
    }

    /// The next call is refused: the sensor is `status`, not in service.
    function _expectNotInUse(ITraceability.DeviceStatus status) internal {
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.DeviceNotInUse.selector, sensor, uint8(status)));
    }

    function test_deploying_without_a_trace_or_a_registry_is_refused() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "trace"));
        new DeviceKeys(ITraceability(address(0)), registry);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new DeviceKeys(trace, IAccessControl(address(0)));
        vm.assertEq(address(deviceKeys.trace()), address(trace));
        vm.assertEq(address(deviceKeys.registry()), address(registry));
    }

    function test_only_the_devices_manufacturer_binds_its_key() public {
        address[5] memory others = [stranger, patient, hospital, rival, regulator];
        _inService(); // even the hospital holding it may not
        for (uint256 i; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NotDeviceManufacturer.selector, sensor, others[i]));
            vm.prank(others[i]);
            deviceKeys.setKey(sensor, KEY1);
        }
        vm.assertEq(deviceKeys.keys(sensor).length, 0);
        vm.expectEmit();
        emit IDeviceKeys.DeviceKeySet(sensor, 0, KEY1, manufacturer);
        vm.prank(manufacturer);
        vm.assertEq(deviceKeys.setKey(sensor, KEY1), 0);
        IDeviceKeys.DeviceKey[] memory keys = deviceKeys.keys(sensor);
        vm.assertEq(keys[0].publicKey, KEY1);
        vm.assertEq(keys[0].validFrom, block.timestamp);
        vm.assertEq(keys[0].validTo, 0);
    }

    function test_a_manufacturer_whose_role_was_revoked_binds_no_more_keys() public {
        vm.prank(governor);
        registry.revokeRole(MANUFACTURER_ROLE, manufacturer);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NotDeviceManufacturer.selector, sensor, manufacturer));
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY1);
    }

    function test_keys_for_unknown_or_decommissioned_devices_and_empty_keys_are_refused() public {
        bytes32 ghost = keccak256("never registered");
        vm.expectRevert(abi.encodeWithSelector(ITraceability.UnknownDevice.selector, ghost));
        vm.prank(manufacturer);
        deviceKeys.setKey(ghost, KEY1);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.InvalidPublicKey.selector, sensor));
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, bytes32(0));
        vm.prank(manufacturer);
        trace.decommission(sensor, "end of life");
        _expectNotInUse(ITraceability.DeviceStatus.Decommissioned);
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY1);
    }

    function test_a_rotation_closes_the_old_key_at_the_block_time_and_never_brings_it_back() public {
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY1);
        uint256 rotatedAt = 1_800_000_000 + 1 days;
        vm.warp(rotatedAt);
        vm.prank(manufacturer);
        vm.assertEq(deviceKeys.setKey(sensor, KEY2), 1);
        IDeviceKeys.DeviceKey[] memory keys = deviceKeys.keys(sensor);
        vm.assertEq(keys[0].validFrom, 1_800_000_000);
        vm.assertEq(keys[0].validTo, rotatedAt);
        vm.assertEq(keys[1].validFrom, rotatedAt);
        vm.assertEq(keys[1].validTo, 0);
        // A rotated-out (perhaps leaked) key cannot be made valid again.
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.KeyReused.selector, sensor, KEY1));
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY1);
    }

    function test_front_running_a_key_binding_with_the_same_key_blocks_nothing() public {
        // The rival saw KEY1 in the mempool and binds it to its own device first.
        vm.prank(rival);
        deviceKeys.setKey(rivalDevice, KEY1);
        vm.prank(manufacturer); // the genuine binding still goes through
        deviceKeys.setKey(sensor, KEY1);
        vm.assertEq(deviceKeys.keys(sensor)[0].publicKey, KEY1);
        // Readings name their device's UDI inside what is signed, so the rival's binding
        // makes no reading of the sensor pass as the rival device's (checked off-chain).
    }

    function test_revocation_is_for_the_manufacturer_or_a_regulator_and_leaves_no_valid_key() public {
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NoValidKey.selector, sensor));
        vm.prank(manufacturer);
        deviceKeys.revokeKey(sensor);
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY1);
        address[3] memory others = [stranger, hospital, rival];
        for (uint256 i; i < others.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IDeviceKeys.NotDeviceManufacturerOrRegulator.selector, sensor, others[i])
            );
            vm.prank(others[i]);
            deviceKeys.revokeKey(sensor);
        }
        // Times as constants: under via-IR, block.timestamp read after a warp may be stale.
        uint256 revokedAt = 1_800_000_060;
        vm.warp(revokedAt);
        vm.expectEmit();
        emit IDeviceKeys.DeviceKeyRevoked(sensor, 0, regulator);
        vm.prank(regulator);
        deviceKeys.revokeKey(sensor);
        vm.assertEq(deviceKeys.keys(sensor)[0].validTo, revokedAt);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NoValidKey.selector, sensor));
        vm.prank(manufacturer);
        deviceKeys.revokeKey(sensor);
        // A new key after a revocation does not reopen or move the revoked one's end.
        vm.warp(revokedAt + 60);
        vm.prank(manufacturer);
        deviceKeys.setKey(sensor, KEY2);
        vm.assertEq(deviceKeys.keys(sensor)[0].validTo, revokedAt);
        vm.assertEq(deviceKeys.keys(sensor)[1].validFrom, revokedAt + 60);
    }

    function test_only_the_hospital_holding_an_in_service_device_assigns_its_patient() public {
        _expectNotInUse(ITraceability.DeviceStatus.Registered);
        vm.prank(manufacturer);
        deviceKeys.assignPatient(sensor, ALICE);
        _inService();
        address[5] memory others = [stranger, patient, manufacturer, otherHospital, regulator];
        for (uint256 i; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NotDeviceHolder.selector, sensor, others[i]));
            vm.prank(others[i]);
            deviceKeys.assignPatient(sensor, BOB);
        }
        vm.expectEmit();
        emit IDeviceKeys.DevicePatientAssigned(sensor, 0, ALICE, hospital);
        vm.prank(hospital);
        vm.assertEq(deviceKeys.assignPatient(sensor, ALICE), 0);
        IDeviceKeys.Assignment[] memory held = deviceKeys.assignments(sensor);
        vm.assertEq(held.length, 1);
        vm.assertEq(held[0].patient, ALICE);
        vm.assertEq(held[0].hospital, hospital);
        // A hospital no longer a provider assigns nothing, even while holding the device.
        vm.prank(governor);
        registry.revokeRole(PROVIDER_ROLE, hospital);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NotDeviceHolder.selector, sensor, hospital));
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, BOB);
    }

    function test_reassigning_closes_the_previous_assignment_and_repeats_are_refused() public {
        _inService();
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.AlreadyAssigned.selector, sensor, bytes32(0)));
        vm.prank(hospital); // "no patient" is where a device starts
        deviceKeys.assignPatient(sensor, bytes32(0));
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, ALICE);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.AlreadyAssigned.selector, sensor, ALICE));
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, ALICE);
        vm.warp(1_800_000_000 + 7 days);
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, BOB);
        vm.warp(1_800_000_000 + 8 days);
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, bytes32(0)); // returned: worn by no one
        IDeviceKeys.Assignment[] memory held = deviceKeys.assignments(sensor);
        vm.assertEq(held.length, 3);
        vm.assertEq(held[0].validTo, 1_800_000_000 + 7 days);
        vm.assertEq(held[1].validFrom, 1_800_000_000 + 7 days);
        vm.assertEq(held[1].validTo, 1_800_000_000 + 8 days);
        vm.assertEq(held[2].patient, bytes32(0));
        // A device moved to another hospital is assigned by that one only.
        vm.prank(hospital);
        trace.assignDevice(sensor, otherHospital);
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.NotDeviceHolder.selector, sensor, hospital));
        vm.prank(hospital);
        deviceKeys.assignPatient(sensor, ALICE);
        vm.prank(otherHospital);
        deviceKeys.assignPatient(sensor, ALICE);
        // Decommissioned: no more assignments.
        vm.prank(otherHospital);
        trace.decommission(sensor, "failed QC");
        _expectNotInUse(ITraceability.DeviceStatus.Decommissioned);
        vm.prank(otherHospital);
        deviceKeys.assignPatient(sensor, BOB);
    }

    function test_histories_are_bounded() public {
        _inService();
        uint256 max = deviceKeys.MAX_HISTORY();
        vm.startPrank(manufacturer);
        for (uint256 i; i < max; ++i) {
            deviceKeys.setKey(sensor, bytes32(i + 1));
        }
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.HistoryFull.selector, sensor, max));
        deviceKeys.setKey(sensor, bytes32(max + 1));
        vm.stopPrank();
        vm.startPrank(hospital);
        for (uint256 i; i < max; ++i) {
            deviceKeys.assignPatient(sensor, bytes32(i + 1));
        }
        vm.expectRevert(abi.encodeWithSelector(IDeviceKeys.HistoryFull.selector, sensor, max));
        deviceKeys.assignPatient(sensor, bytes32(max + 1));
        vm.stopPrank();
        vm.assertEq(deviceKeys.keys(sensor).length, max);
        vm.assertEq(deviceKeys.assignments(sensor).length, max);
    }
}
