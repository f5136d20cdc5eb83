// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConsentFixture} from "./ConsentFixture.sol";
import {IKeyEscrow} from "../../contracts/interfaces/IKeyEscrow.sol";

/// What the escrow suites share: the patient's 2-of-3 backup (a relative, their GP, a
/// guardian) and 2-of-3 emergency escrow (three admitted emergency institutions), and a
/// break-glass opened by the hospital.
abstract contract EscrowFixture is ConsentFixture {
    IKeyEscrow.Kind constant BACKUP = IKeyEscrow.Kind.Backup;
    IKeyEscrow.Kind constant EMERGENCY_KEY = IKeyEscrow.Kind.Emergency;
    address relative = address(0xA1);
    address gp = address(0xA2);
    bytes constant PUBLIC_KEY = hex"0102030405060708091011121314151617181920212223242526272829303132";
    bytes constant DEVICE_KEY = hex"a1a2a3a4a5a6a7a8a9b0b1b2b3b4b5b6b7b8b9c0c1c2c3c4c5c6c7c8c9d0d1d2";
    bytes32 constant SHARES = keccak256("shares on IPFS");
    bytes32 constant KEYS = keccak256("older records' data keys, split among the institutions");
    bytes32 constant RELEASE = keccak256("a share encrypted to its recipient");

    function _three(address a, address b, address c) internal pure returns (address[] memory list) {
        list = new address[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _commitments(uint256 count) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            list[i] = keccak256(abi.encode("share", i));
        }
    }

    /// The patient backs up its record key with `holders`, 2 of them needed.
    function _backup(address[] memory holders) internal returns (uint32) {
        vm.prank(patient);
        return escrow.createEscrow(BACKUP, 2, holders, _commitments(holders.length), 0x20, PUBLIC_KEY, SHARES, 0);
    }

    function _backup() internal returns (uint32) {
        return _backup(_three(relative, gp, guardian));
    }

    /// The patient enrols in emergency escrow with the three institutions, 2 needed: its
    /// records' data keys are split among them (no key, shares object or commitments here).
    function _enrollEmergency() internal returns (uint32) {
        vm.prank(patient);
        return escrow.createEscrow(
            EMERGENCY_KEY, 2, _three(emergencyA, emergencyB, emergencyC), new bytes32[](0), 0, "", 0, KEYS
        );
    }

    function _openRecovery() internal returns (bytes32) {
        vm.prank(patient);
        return escrow.openRecovery(0x20, DEVICE_KEY, 1 days);
    }

    function _breakGlass() internal returns (bytes32) {
        vm.prank(hospital);
        return consent.openBreakGlass(patient, keccak256("unconscious-in-ED"), 4 hours);
    }
}
