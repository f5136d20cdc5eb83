// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

// Shared set-up for the Forge tests: the cheatcodes they use (declared here, so nothing
// beyond the forge binary is needed) and a deployment wired as scripts/deploy.py wires it.
// These tests exist to pin down every branch of the contracts (`make coverage`); the
// behaviour users rely on is tested through Ape in tests/*.py.

import {RecordRegistry} from "../../contracts/RecordRegistry.sol";
import {ConsentManager} from "../../contracts/ConsentManager.sol";
import {ClaimsManager} from "../../contracts/ClaimsManager.sol";
import {KeyDirectory} from "../../contracts/KeyDirectory.sol";
import {KeyEscrow} from "../../contracts/KeyEscrow.sol";
import {AccessLog} from "../../contracts/AccessLog.sol";
import {Traceability} from "../../contracts/Traceability.sol";
import {ClinicalTrials} from "../../contracts/ClinicalTrials.sol";
import {MockStablecoin} from "../../contracts/test/MockStablecoin.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {
    PROVIDER_ROLE,
    INSURER_ROLE,
    AUDITOR_ROLE,
    ARBITRATOR_ROLE,
    MANUFACTURER_ROLE,
    DISTRIBUTOR_ROLE,
    PHARMACY_ROLE,
    REGULATOR_ROLE,
    EMERGENCY_ROLE,
    SPONSOR_ROLE
} from "../../contracts/Common.sol";

/// Forge's cheatcodes (the subset these tests use).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert() external;
    function expectEmit() external;
    function warp(uint256 timestamp) external;
    function load(address target, bytes32 slot) external view returns (bytes32);
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function assertEq(uint256 left, uint256 right) external pure;
    function assertEq(address left, address right) external pure;
    function assertEq(bytes32 left, bytes32 right) external pure;
    function assertEq(bool left, bool right) external pure;
    function assertTrue(bool condition) external pure;
    function assertLe(uint256 left, uint256 right) external pure;
    function assertFalse(bool condition) external pure;
}

abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant PATIENT_KEY = 0xA11CE;
    address internal governor = address(0x60);
    address internal hospital = address(0x40);
    address internal otherHospital = address(0x41);
    address internal insurer = address(0x50);
    address internal auditor = address(0x70);
    address internal arbitrator = address(0x71);
    address internal manufacturer = address(0x80);
    address internal distributor = address(0x81);
    address internal pharmacy = address(0x82);
    address internal regulator = address(0x83);
    address internal stranger = address(0x99);
    address internal emergencyA = address(0xE1);
    address internal emergencyB = address(0xE2);
    address internal emergencyC = address(0xE3);
    address internal sponsor = address(0x5F);
    address internal otherSponsor = address(0x5E);
    address internal patient;

    RecordRegistry internal registry;
    ConsentManager internal consent;
    ClaimsManager internal claims;
    KeyDirectory internal keys;
    KeyEscrow internal escrow;
    AccessLog internal accessLog;
    Traceability internal trace;
    ClinicalTrials internal trials;
    MockStablecoin internal usd;

    function setUp() public virtual {
        vm.warp(1_800_000_000);
        patient = vm.addr(PATIENT_KEY);
        registry = new RecordRegistry(governor);
        consent = new ConsentManager(registry);
        usd = new MockStablecoin();
        claims = new ClaimsManager(registry, consent, usd);
        keys = new KeyDirectory();
        escrow = new KeyEscrow(registry, consent);
        accessLog = new AccessLog();
        trace = new Traceability(registry);
        trials = new ClinicalTrials(registry, consent, accessLog, usd);
        vm.startPrank(governor);
        registry.grantRole(PROVIDER_ROLE, hospital);
        registry.grantRole(PROVIDER_ROLE, otherHospital);
        registry.grantRole(INSURER_ROLE, insurer);
        registry.grantRole(AUDITOR_ROLE, auditor);
        registry.grantRole(ARBITRATOR_ROLE, arbitrator);
        registry.grantRole(MANUFACTURER_ROLE, manufacturer);
        registry.grantRole(DISTRIBUTOR_ROLE, distributor);
        registry.grantRole(PHARMACY_ROLE, pharmacy);
        registry.grantRole(REGULATOR_ROLE, regulator);
        registry.grantRole(EMERGENCY_ROLE, emergencyA);
        registry.grantRole(EMERGENCY_ROLE, emergencyB);
        registry.grantRole(EMERGENCY_ROLE, emergencyC);
        registry.grantRole(SPONSOR_ROLE, sponsor);
        registry.grantRole(SPONSOR_ROLE, otherSponsor);
        vm.stopPrank();
    }

    /// Anchor a record of `category` for `patient` as `hospital`.
    function _anchor(bytes32 recordId, uint8 category) internal {
        vm.prank(hospital);
        registry.anchor(recordId, patient, category, keccak256(abi.encode(recordId)));
    }

    function _request(address grantee, IConsentManager.ScopeKind kind, bytes32 value, IConsentManager.Purpose purpose)
        internal
        view
        returns (IConsentManager.GrantRequest memory)
    {
        return IConsentManager.GrantRequest({
            grantee: grantee,
            kind: kind,
            value: value,
            purpose: purpose,
            start: 0,
            end: uint40(block.timestamp + 365 days),
            deny: false,
            keysDigest: bytes32(0)
        });
    }
}
