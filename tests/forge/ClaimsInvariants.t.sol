// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base, Vm} from "./Base.sol";
import {ClaimsManager} from "../../contracts/ClaimsManager.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {MockStablecoin} from "../../contracts/test/MockStablecoin.sol";
import {RecordRegistry} from "../../contracts/RecordRegistry.sol";

/// Drives one insurer's escrow and one patient's claims through random sequences of
/// deposits, withdrawals, submissions, approvals, denials and settlements. Calls the
/// contract would refuse are skipped, so every run keeps moving.
contract ClaimsHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint64 internal constant USD = 1e6;

    ClaimsManager public immutable claims;
    MockStablecoin public immutable usd;
    address public immutable insurer;
    address public immutable hospital;
    address public immutable patient;
    uint32 public immutable policyId;
    uint32 public immutable today;
    RecordRegistry public immutable registry;

    bytes32[] public ids;
    uint256 public calls;

    constructor(
        ClaimsManager claims_,
        MockStablecoin usd_,
        address[3] memory parties, // insurer, hospital, patient
        uint32 policyId_,
        uint32 today_,
        RecordRegistry registry_
    ) {
        (claims, usd, insurer, hospital, patient) = (claims_, usd_, parties[0], parties[1], parties[2]);
        (policyId, today, registry) = (policyId_, today_, registry_);
    }

    function claimCount() external view returns (uint256) {
        return ids.length;
    }

    function deposit(uint256 amount) external {
        amount = 1 + amount % (50_000 * USD);
        usd.mint(insurer, amount);
        vm.prank(insurer);
        claims.deposit(amount);
        ++calls;
    }

    function withdraw(uint256 amount) external {
        IClaimsManager.Escrow memory e = claims.escrowOf(insurer);
        uint256 free = e.balance - e.reserved;
        if (free == 0) return;
        vm.prank(insurer);
        claims.withdraw(1 + amount % free);
        ++calls;
    }

    function submit(uint64 amount) external {
        // each claim cites a record of its own (a record backs at most one claim)
        bytes32 codes = bytes32(ids.length + 1);
        bytes32[] memory evidence = new bytes32[](1);
        evidence[0] = keccak256(abi.encode("evidence", codes));
        vm.prank(hospital);
        registry.anchor(evidence[0], patient, 1, codes);
        IClaimsManager.ClaimRequest memory r = IClaimsManager.ClaimRequest({
            policyId: policyId,
            patient: patient,
            amount: 1 + amount % (8_000 * USD),
            serviceDate: today,
            codesHash: codes,
            recordIds: evidence,
            claimDigest: codes
        });
        vm.prank(hospital);
        ids.push(claims.submitClaim(r));
        ++calls;
    }

    function approve(uint256 index, uint64 amount) external {
        (bytes32 id, IClaimsManager.Claim memory c) = _pick(index, IClaimsManager.ClaimStatus.Submitted);
        if (id == 0) return;
        vm.prank(insurer);
        try claims.approveClaim(id, 1 + amount % c.amount) {
            ++calls;
        } catch (bytes memory reason) {
            // the only refusal a submitted claim of this insurer can meet: escrow too small
            require(bytes4(reason) == IClaimsManager.InsufficientEscrow.selector, "unexpected refusal");
        }
    }

    function deny(uint256 index) external {
        (bytes32 id,) = _pick(index, IClaimsManager.ClaimStatus.Submitted);
        if (id == 0) return;
        vm.prank(insurer);
        try claims.denyClaim(id, "not-covered") {
            ++calls;
        } catch (bytes memory reason) {
            // a denial reserves what a dispute could award: refused only when escrow is short
            require(bytes4(reason) == IClaimsManager.InsufficientEscrow.selector, "unexpected refusal");
        }
    }

    /// Two weeks pass; every denial whose window closed is made final.
    function finalize(uint256 index) external {
        vm.warp(block.timestamp + 15 days);
        (bytes32 id,) = _pick(index, IClaimsManager.ClaimStatus.Denied);
        if (id == 0) return;
        (uint64 reserved,) = claims.denialOf(id);
        if (reserved == 0) return;
        claims.finalizeDenial(id);
        ++calls;
    }

    function settle(uint256 index) external {
        (bytes32 id,) = _pick(index, IClaimsManager.ClaimStatus.Approved);
        if (id == 0) return;
        bytes32[] memory batch = new bytes32[](1);
        batch[0] = id;
        vm.prank(insurer);
        claims.settle(batch);
        ++calls;
    }

    /// The first claim in `status`, starting the search at `index`.
    function _pick(uint256 index, IClaimsManager.ClaimStatus status)
        internal
        view
        returns (bytes32, IClaimsManager.Claim memory c)
    {
        uint256 n = ids.length;
        for (uint256 k; k < n; ++k) {
            bytes32 id = ids[(index % n + k) % n];
            c = claims.getClaim(id);
            if (c.status == status) return (id, c);
        }
        return (0, c);
    }
}

/// Whatever the sequence: the escrow is always backed by tokens the contract holds, never
/// reserves more than it holds, reserves exactly the approved-but-unpaid claims and what
/// open denials could still be awarded, has paid
/// the provider exactly the settled claims, the policy never commits past its limit, and
/// no claim's shares exceed what was claimed.
contract ClaimsInvariantTest is Base {
    uint64 constant USD = 1e6;
    uint64 constant LIMIT = 20_000 * USD;
    ClaimsHandler handler;
    uint32 policyId;
    uint256 providerStart;

    function setUp() public override {
        super.setUp();
        vm.startPrank(patient);
        consent.grant(
            insurer, IConsentManager.ScopeKind.All, bytes32(0), IConsentManager.Purpose.Payment, type(uint32).max, ""
        );
        consent.grant(
            hospital, IConsentManager.ScopeKind.All, bytes32(0), IConsentManager.Purpose.Treatment, type(uint32).max, ""
        );
        vm.stopPrank();
        vm.startPrank(insurer);
        usd.approve(address(claims), type(uint256).max);
        policyId = claims.issuePolicy(
            IClaimsManager.PolicyTerms({
                patient: patient,
                limit: LIMIT,
                deductible: 300 * USD,
                copayBps: 1_500,
                coveredCategories: uint32(1) << 1,
                start: uint40(block.timestamp - 1 days),
                end: type(uint32).max,
                autoApproveBelow: 400 * USD
            })
        );
        vm.stopPrank();
        handler = new ClaimsHandler(
            claims, usd, [insurer, hospital, patient], policyId, uint32(block.timestamp / 1 days), registry
        );
        providerStart = usd.balanceOf(hospital);
    }

    /// Forge fuzzes calls to these contracts only (the handler).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_escrow_is_backed_and_reserves_exactly_the_unpaid_approvals() public view {
        IClaimsManager.Escrow memory e = claims.escrowOf(insurer);
        vm.assertEq(usd.balanceOf(address(claims)), e.balance);
        vm.assertLe(e.reserved, e.balance);
        uint256 reserved;
        uint256 paid;
        uint256 committed;
        uint256 n = handler.claimCount();
        for (uint256 i; i < n; ++i) {
            IClaimsManager.Claim memory c = claims.getClaim(handler.ids(i));
            if (c.status == IClaimsManager.ClaimStatus.Approved) reserved += c.approved;
            (uint64 forDispute,) = claims.denialOf(handler.ids(i));
            reserved += forDispute;
            if (c.status == IClaimsManager.ClaimStatus.Paid) paid += c.approved;
            if (c.status == IClaimsManager.ClaimStatus.Approved || c.status == IClaimsManager.ClaimStatus.Paid) {
                committed += c.approved;
                // shares of the allowed amount, which is at most what was claimed
                vm.assertLe(uint256(c.approved) + c.patientShare, c.amount);
            }
        }
        vm.assertEq(e.reserved, reserved);
        vm.assertEq(usd.balanceOf(hospital) - providerStart, paid);
        (,, IClaimsManager.PolicyUsage memory usage) = claims.policy(policyId);
        vm.assertEq(usage.approvedTotal, committed);
        vm.assertLe(committed, LIMIT);
    }
}
