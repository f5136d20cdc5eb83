// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TrialsFixture} from "./TrialsFixture.sol";
import {ClinicalTrials} from "../../contracts/ClinicalTrials.sol";
import {IClinicalTrials} from "../../contracts/interfaces/IClinicalTrials.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {IAccessLog} from "../../contracts/interfaces/IAccessLog.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ZeroAddress} from "../../contracts/Common.sol";

/// ClinicalTrials as its users rely on it: registration, amendments (an outcome switch only
/// after the first enrolment), enrolment by consent, results, overdue trials, rewards.
contract TrialsTest is TrialsFixture {
    function test_constructorRefusesZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "registry"));
        new ClinicalTrials(IRecordRegistry(address(0)), consent, accessLog, usd);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "consent"));
        new ClinicalTrials(registry, IConsentManager(address(0)), accessLog, usd);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "accessLog"));
        new ClinicalTrials(registry, consent, IAccessLog(address(0)), usd);
        vm.expectRevert(abi.encodeWithSelector(ZeroAddress.selector, "token"));
        new ClinicalTrials(registry, consent, accessLog, IERC20(address(0)));
    }

    function test_registerKeepsVersionOneAndTheTerms() public view {
        IClinicalTrials.Trial memory trial = trials.getTrial(trialId);
        vm.assertEq(trials.trialCount(), 1);
        vm.assertEq(trial.sponsor, sponsor);
        vm.assertEq(trial.version, 1);
        vm.assertEq(trial.primaryOutcomes, PRIMARY);
        vm.assertEq(trial.enrolled, 0);
        IClinicalTrials.Version memory v1 = trials.getVersion(trialId, 1);
        vm.assertEq(v1.protocolDigest, PROTOCOL);
        vm.assertEq(v1.studyDigest, STUDY);
        vm.assertEq(v1.registeredAt, block.timestamp);
        vm.assertFalse(v1.outcomeSwitch);
    }

    function test_allRecordsScopeRegisters() public {
        IClinicalTrials.Registration memory r = _registration();
        (r.scopeKind, r.scopeValue) = (ALL, bytes32(0));
        vm.assertEq(_register(r), 2);
    }

    function test_amendBeforeEnrolmentChangesOutcomesWithoutAFlag() public {
        vm.prank(sponsor);
        (uint16 version, bool switched) = trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "ethics committee review");
        vm.assertEq(version, 2);
        vm.assertFalse(switched);
        vm.assertEq(trials.getTrial(trialId).outcomeSwitches, 0);
    }

    function test_amendAfterEnrolmentKeepingOutcomesIsNoSwitch() public {
        _enrol(patient);
        vm.prank(sponsor);
        (, bool switched) = trials.amend(trialId, keccak256("protocol v2"), STUDY, PRIMARY, "new site");
        vm.assertFalse(switched);
    }

    function test_changingThePrimaryOutcomeAfterEnrolmentIsFlaggedForever() public {
        _enrol(patient);
        vm.warp(block.timestamp + 10 days);
        vm.prank(sponsor);
        (uint16 version, bool switched) = trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "slow recruitment");
        vm.assertTrue(switched);
        IClinicalTrials.Version memory v2 = trials.getVersion(trialId, version);
        vm.assertTrue(v2.outcomeSwitch);
        vm.assertTrue(v2.registeredAt > trials.getTrial(trialId).firstEnrolmentAt);
        // Switching back is a second switch, not an erasure of the first.
        vm.prank(sponsor);
        (, switched) = trials.amend(trialId, PROTOCOL, STUDY, PRIMARY, "reverted");
        vm.assertTrue(switched);
        vm.assertEq(trials.getTrial(trialId).outcomeSwitches, 2);
        vm.assertTrue(trials.getVersion(trialId, 2).outcomeSwitch);
    }

    function test_enrolCountsParticipantsByAddressOnly() public {
        uint256 t0 = 1_800_000_000; // Base's clock (a literal: via-IR may re-read block.timestamp after a warp)
        bytes32 grantId = _enrol(patient);
        vm.warp(t0 + 1 days);
        _enrol(bob);
        IClinicalTrials.Trial memory trial = trials.getTrial(trialId);
        vm.assertEq(trial.enrolled, 2);
        vm.assertEq(trial.firstEnrolmentAt, t0);
        vm.assertEq(trials.getEnrolment(trialId, patient).enrolledAt, t0);
        vm.assertEq(grantId, consent.grantIdOf(patient, sponsor, CATEGORY, SCOPE, RESEARCH));
    }

    function test_resultsPostedAndOverdue() public {
        vm.assertFalse(trials.isOverdue(trialId));
        vm.assertFalse(trials.isOverdue(99));
        vm.warp(trials.getTrial(trialId).resultsDue + 1);
        vm.assertTrue(trials.isOverdue(trialId));
        vm.prank(sponsor);
        trials.postResults(trialId, keccak256("results"));
        vm.assertFalse(trials.isOverdue(trialId));
        vm.assertEq(trials.getTrial(trialId).resultsDigest, keccak256("results"));
    }

    function test_contributionIsPaidOnceFromTheEscrow() public {
        _enrol(patient);
        _fund(100e6);
        vm.warp(block.timestamp + 1 hours);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.assertEq(_claim(patient, R1, readAt, root, proof), PER_CONTRIBUTION);
        vm.assertEq(usd.balanceOf(patient), PER_CONTRIBUTION);
        vm.assertEq(trials.getTrial(trialId).escrow, 100e6 - PER_CONTRIBUTION);
        vm.assertTrue(trials.rewarded(keccak256(abi.encode(sponsor, patient, R1, uint32(1)))));
    }

    function test_allScopeTrialRewardsAnyCategory() public {
        IClinicalTrials.Registration memory r = _registration();
        (r.scopeKind, r.scopeValue) = (ALL, bytes32(0));
        trialId = _register(r);
        uint40 endsAt = _endsAt();
        vm.prank(patient);
        consent.grant(sponsor, ALL, bytes32(0), RESEARCH, endsAt, bytes32(0));
        vm.prank(patient);
        trials.enrol(trialId, 1);
        _fund(100e6);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R3);
        vm.assertEq(_claim(patient, R3, readAt, root, proof), PER_CONTRIBUTION);
    }

    function test_milestoneReservedThenClaimed() public {
        _enrol(patient);
        _fund(100e6);
        vm.prank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        vm.assertEq(trials.getTrial(trialId).reserved, PER_MILESTONE);
        vm.assertEq(trials.getEnrolment(trialId, patient).owed, PER_MILESTONE);
        vm.prank(patient);
        vm.assertEq(trials.claimMilestones(trialId), PER_MILESTONE);
        vm.assertEq(usd.balanceOf(patient), PER_MILESTONE);
        IClinicalTrials.Trial memory trial = trials.getTrial(trialId);
        vm.assertEq(trial.reserved, 0);
        vm.assertEq(trial.escrow, 100e6 - PER_MILESTONE);
        vm.assertEq(trials.getEnrolment(trialId, patient).paid, PER_MILESTONE);
    }

    /// A withdrawn consent stops future rewards, not earned ones.
    function test_withdrawalKeepsEarnedRewards() public {
        bytes32 grantId = _enrol(patient);
        _fund(100e6);
        vm.prank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.warp(block.timestamp + 1 days);
        vm.prank(patient);
        consent.revoke(grantId);
        // Not recorded yet: the read anchored before now still counts.
        vm.assertEq(_claim(patient, R1, readAt, root, proof), PER_CONTRIBUTION);
        trials.recordWithdrawal(trialId, patient);
        vm.assertEq(trials.getEnrolment(trialId, patient).withdrawnAt, block.timestamp);
        vm.prank(patient);
        vm.assertEq(trials.claimMilestones(trialId), PER_MILESTONE);
        vm.assertEq(usd.balanceOf(patient), PER_CONTRIBUTION + PER_MILESTONE);
    }

    function test_readsAnchoredBeforeARecordedWithdrawalStillPay() public {
        bytes32 grantId = _enrol(patient);
        _fund(100e6);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R2);
        vm.warp(block.timestamp + 1 days);
        vm.prank(patient);
        consent.revoke(grantId);
        trials.recordWithdrawal(trialId, patient);
        vm.warp(block.timestamp + 30 days);
        vm.assertEq(_claim(patient, R2, readAt, root, proof), PER_CONTRIBUTION);
    }

    function test_reclaimAfterTheClaimWindowLeavesWhatIsOwed() public {
        _enrol(patient);
        _fund(100e6);
        vm.prank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        vm.warp(uint256(_endsAt()) + trials.CLAIM_WINDOW());
        vm.prank(sponsor);
        trials.reclaim(trialId);
        vm.assertEq(usd.balanceOf(sponsor), 100e6 - PER_MILESTONE);
        vm.prank(patient);
        trials.claimMilestones(trialId);
        vm.assertEq(usd.balanceOf(patient), PER_MILESTONE);
        vm.assertEq(usd.balanceOf(address(trials)), 0);
    }
}
