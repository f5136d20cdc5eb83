// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "./Base.sol";
import {TrialsFixture, pairRoot, receiptDigest, receiptLeaf} from "./TrialsFixture.sol";
import {ClinicalTrials} from "../../contracts/ClinicalTrials.sol";
import {IClinicalTrials} from "../../contracts/interfaces/IClinicalTrials.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {AccessLog} from "../../contracts/AccessLog.sol";
import {ConsentManager} from "../../contracts/ConsentManager.sol";
import {MockStablecoin} from "../../contracts/test/MockStablecoin.sol";

/// Drives one trial's escrow through random sequences of funding, receipted reads and their
/// claims, milestones attested and claimed, withdrawals and time passing. Refusals the
/// contract may give (cap, escrow, a read outside the enrolment, already rewarded) are
/// checked to be those and skipped.
contract TrialsHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    ClinicalTrials public immutable trials;
    AccessLog public immutable accessLog;
    ConsentManager public immutable consent;
    MockStablecoin public immutable usd;
    address public immutable sponsor;
    uint32 public immutable trialId;
    address[3] public participants;
    bytes32[4][3] public records;
    uint256 public funded;
    uint256 private _nonce;

    constructor(
        ClinicalTrials trials_,
        AccessLog accessLog_,
        ConsentManager consent_,
        MockStablecoin usd_,
        address sponsor_,
        uint32 trialId_,
        address[3] memory participants_,
        bytes32[4][3] memory records_
    ) {
        (trials, accessLog, consent, usd, sponsor, trialId) = (trials_, accessLog_, consent_, usd_, sponsor_, trialId_);
        participants = participants_;
        records = records_;
    }

    function fund(uint256 amount) external {
        amount = 1 + amount % 30e6;
        usd.mint(sponsor, amount);
        vm.startPrank(sponsor);
        usd.approve(address(trials), amount);
        trials.fund(trialId, amount);
        vm.stopPrank();
        funded += amount;
    }

    /// The sponsor reads a record (any version 1-2) of a participant and anchors the receipt;
    /// the participant claims it.
    function readAndClaim(uint256 who, uint256 which, uint256 version) external {
        address participant = participants[who % 3];
        bytes32 recordId = records[who % 3][which % 4];
        uint32 v = uint32(1 + version % 2);
        uint64 readAt = uint64(block.timestamp);
        bytes32 digest = receiptDigest(
            address(accessLog), sponsor, participant, recordId, v, IConsentManager.Purpose.Research, readAt
        );
        bytes32 a = receiptLeaf(digest);
        bytes32 b = keccak256(abi.encode("another read", ++_nonce));
        bytes32 root = pairRoot(a, b);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;
        vm.prank(sponsor);
        accessLog.anchorBatch(participant, root, root, 2);
        vm.prank(participant);
        try trials.claimContribution(trialId, recordId, v, readAt, root, proof) {}
        catch (bytes memory reason) {
            _expect(
                reason,
                IClinicalTrials.AlreadyRewarded.selector,
                IClinicalTrials.RewardCapReached.selector,
                IClinicalTrials.InsufficientEscrow.selector,
                IClinicalTrials.AnchoredOutsideEnrolment.selector
            );
        }
    }

    function attest(uint256 who, uint256 milestone) external {
        vm.prank(sponsor);
        try trials.attestMilestone(trialId, participants[who % 3], bytes32(milestone % 5)) {}
        catch (bytes memory reason) {
            _expect(
                reason,
                IClinicalTrials.AlreadyRewarded.selector,
                IClinicalTrials.RewardCapReached.selector,
                IClinicalTrials.InsufficientEscrow.selector,
                IClinicalTrials.ParticipationEnded.selector
            );
        }
    }

    function claimMilestones(uint256 who) external {
        address participant = participants[who % 3];
        if (trials.getEnrolment(trialId, participant).owed == 0) return;
        vm.prank(participant);
        trials.claimMilestones(trialId);
    }

    function withdraw(uint256 who) external {
        address participant = participants[who % 3];
        if (trials.getEnrolment(trialId, participant).withdrawnAt != 0) return;
        IClinicalTrials.Trial memory t = trials.getTrial(trialId);
        if (block.timestamp >= t.endsAt) return; // nothing left to withdraw from
        bytes32 grantId =
            consent.grantIdOf(participant, sponsor, t.scopeKind, t.scopeValue, IConsentManager.Purpose.Research);
        vm.prank(participant);
        consent.revoke(grantId);
        trials.recordWithdrawal(trialId, participant);
    }

    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + 1 + seconds_ % 20 days);
    }

    function _expect(bytes memory reason, bytes4 a, bytes4 b, bytes4 c, bytes4 d) private pure {
        bytes4 got = bytes4(reason);
        require(got == a || got == b || got == c || got == d, "unexpected refusal");
    }
}

/// Whatever the sequence: the escrow is exactly the tokens the contract holds, what was
/// funded is either still in it or paid to a participant, the reserve is exactly the attested
/// milestones not yet claimed and never exceeds the escrow, and no participant ever earns
/// past the cap or holds more than they were paid.
contract TrialsInvariantTest is TrialsFixture {
    TrialsHandler handler;
    address[3] people;

    function setUp() public override {
        super.setUp();
        IClinicalTrials.Registration memory r = _registration();
        r.plannedEnrolment = 3;
        trialId = _register(r);
        address carol = address(0xCA201);
        people = [patient, bob, carol];
        bytes32[4][3] memory records;
        for (uint256 p; p < 3; ++p) {
            for (uint256 k; k < 4; ++k) {
                records[p][k] = keccak256(abi.encode("invariant record", p, k));
                vm.prank(hospital);
                registry.anchor(records[p][k], people[p], 4, records[p][k]);
            }
            _enrol(people[p]);
        }
        handler = new TrialsHandler(trials, accessLog, consent, usd, sponsor, trialId, people, records);
    }

    /// Forge fuzzes calls to these contracts only (the handler).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_escrow_is_backed_and_rewards_are_capped() public view {
        IClinicalTrials.Trial memory t = trials.getTrial(trialId);
        vm.assertEq(usd.balanceOf(address(trials)), t.escrow);
        vm.assertLe(t.reserved, t.escrow);
        uint256 owed;
        uint256 paid;
        for (uint256 p; p < 3; ++p) {
            IClinicalTrials.Enrolment memory e = trials.getEnrolment(trialId, people[p]);
            vm.assertLe(uint256(e.paid) + e.owed, CAP);
            vm.assertEq(usd.balanceOf(people[p]), e.paid);
            owed += e.owed;
            paid += e.paid;
        }
        vm.assertEq(t.reserved, owed);
        vm.assertEq(handler.funded(), uint256(t.escrow) + paid);
    }
}
