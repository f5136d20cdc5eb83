// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TrialsFixture, receiptLeaf} from "./TrialsFixture.sol";
import {IClinicalTrials} from "../../contracts/interfaces/IClinicalTrials.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";
import {SPONSOR_ROLE} from "../../contracts/Common.sol";

/// What a sponsor, participant, other sponsor or stranger could try with ClinicalTrials,
/// each refused (docs/trials.md, "Who may cheat").
contract TrialsAttacksTest is TrialsFixture {
    // ------------------------------------------------------------------ registration

    /// A stranger (no sponsor role) registers a "trial" to collect research consents.
    function test_attack_strangerRegisters() public {
        IClinicalTrials.Registration memory r = _registration();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, SPONSOR_ROLE)
        );
        trials.register(r);
    }

    /// A registration without its documents or outcomes: nothing to hold the sponsor to.
    function test_attack_registrationWithoutDocuments() public {
        IClinicalTrials.Registration memory r = _registration();
        r.protocolDigest = 0;
        _expectMissing("protocolDigest");
        _register(r);
        r = _registration();
        r.studyDigest = 0;
        _expectMissing("studyDigest");
        _register(r);
        r = _registration();
        r.primaryOutcomes = 0;
        _expectMissing("primaryOutcomes");
        _register(r);
    }

    /// A trial whose consent scope is one record, or an out-of-range category, or "all" with a value.
    function test_attack_invalidScope() public {
        IClinicalTrials.Registration memory r = _registration();
        (r.scopeKind, r.scopeValue) = (RECORD, R1);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InvalidScope.selector, RECORD, R1));
        _register(r);
        (r.scopeKind, r.scopeValue) = (CATEGORY, bytes32(uint256(256)));
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InvalidScope.selector, CATEGORY, bytes32(uint256(256))));
        _register(r);
        (r.scopeKind, r.scopeValue) = (ALL, bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InvalidScope.selector, ALL, bytes32(uint256(1))));
        _register(r);
    }

    /// Dates out of order: enrolment already closed, a trial ending before enrolment closes,
    /// results due before the end (or never), nobody planned.
    function test_attack_invalidSchedule() public {
        IClinicalTrials.Registration memory r = _registration();
        r.plannedEnrolment = 0;
        _expectSchedule(r);
        r = _registration();
        r.enrolmentCloses = uint40(block.timestamp);
        _expectSchedule(r);
        r = _registration();
        r.endsAt = r.enrolmentCloses - 1;
        _expectSchedule(r);
        r = _registration();
        r.resultsDue = r.endsAt - 1;
        _expectSchedule(r);
        r = _registration();
        r.resultsDue = uint40(type(uint32).max) + 1;
        _expectSchedule(r);
    }

    // ------------------------------------------------------------------ amendments and results

    /// A stranger, or another sponsor, amends the trial or posts its "results".
    function test_attack_strangerPostsResultsOrAmends() public {
        address[2] memory intruders = [stranger, otherSponsor];
        for (uint256 i; i < 2; ++i) {
            vm.prank(intruders[i]);
            vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotSponsor.selector, trialId, intruders[i]));
            trials.postResults(trialId, keccak256("fake results"));
            vm.prank(intruders[i]);
            vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotSponsor.selector, trialId, intruders[i]));
            trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "hostile");
        }
    }

    /// Results for a trial that does not exist.
    function test_attack_unknownTrial() public {
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.UnknownTrial.selector, uint32(7)));
        trials.postResults(7, keccak256("results"));
    }

    /// The sponsor replaces posted results, or amends the outcomes after results are out.
    function test_attack_sponsorRewritesAfterResults() public {
        vm.prank(sponsor);
        trials.postResults(trialId, keccak256("results"));
        uint40 at = uint40(block.timestamp);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ResultsAlreadyPosted.selector, trialId, at));
        trials.postResults(trialId, keccak256("better results"));
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ResultsAlreadyPosted.selector, trialId, at));
        trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "post hoc");
    }

    /// Empty results, an amendment without a reason or with an essay for one.
    function test_attack_emptyResultsOrReason() public {
        _expectMissing("results");
        vm.prank(sponsor);
        trials.postResults(trialId, 0);
        _expectMissing("reason");
        vm.prank(sponsor);
        trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "");
        _expectMissing("reason");
        vm.prank(sponsor);
        trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, string(new bytes(257)));
        _expectMissing("studyDigest");
        vm.prank(sponsor);
        trials.amend(trialId, PROTOCOL, 0, SWITCHED, "no study");
    }

    // ------------------------------------------------------------------ enrolment

    /// Enrolment after the trial closed: past its date, full, or with results out.
    function test_attack_enrolAfterTheTrialClosed() public {
        IClinicalTrials.Trial memory trial = trials.getTrial(trialId);
        vm.warp(trial.enrolmentCloses);
        vm.prank(patient);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, trial.endsAt, bytes32(0));
        vm.prank(patient);
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.EnrolmentClosed.selector, trialId, trial.enrolmentCloses, 0)
        );
        trials.enrol(trialId, 1);
    }

    function test_attack_enrolBeyondThePlannedNumber() public {
        _enrol(patient);
        _enrol(bob);
        address third = address(0x3333);
        uint40 endsAt = _endsAt();
        vm.prank(third);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, endsAt, bytes32(0));
        uint40 closes = trials.getTrial(trialId).enrolmentCloses;
        vm.prank(third);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.EnrolmentClosed.selector, trialId, closes, 2));
        trials.enrol(trialId, 1);
    }

    function test_attack_enrolAfterResults() public {
        vm.prank(sponsor);
        trials.postResults(trialId, keccak256("results"));
        uint40 endsAt = _endsAt();
        vm.prank(patient);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, endsAt, bytes32(0));
        uint40 closes = trials.getTrial(trialId).enrolmentCloses;
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.EnrolmentClosed.selector, trialId, closes, 0));
        trials.enrol(trialId, 1);
    }

    /// Enrolling without the consent (to be counted without letting the sponsor read), with a
    /// consent that ends early, a denial, or one that starts later.
    function test_attack_enrolWithoutTheConsent() public {
        bytes32 grantId = consent.grantIdOf(patient, sponsor, CATEGORY, SCOPE, RESEARCH);
        uint40 endsAt = _endsAt();
        _expectConsentRequired(grantId, endsAt);
        vm.prank(patient);
        trials.enrol(trialId, 1);

        vm.prank(patient);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, endsAt - 1, bytes32(0));
        _expectConsentRequired(grantId, endsAt);
        vm.prank(patient);
        trials.enrol(trialId, 1);

        IConsentManager.GrantRequest memory request = _request(sponsor, CATEGORY, SCOPE, RESEARCH);
        request.end = endsAt;
        request.deny = true;
        vm.prank(patient);
        consent.grantFor(patient, request);
        _expectConsentRequired(grantId, endsAt);
        vm.prank(patient);
        trials.enrol(trialId, 1);

        request.deny = false;
        request.start = uint40(block.timestamp + 1 days);
        vm.prank(patient);
        consent.grantFor(patient, request);
        _expectConsentRequired(grantId, endsAt);
        vm.prank(patient);
        trials.enrol(trialId, 1);
    }

    /// Enrolling twice to be counted twice.
    function test_attack_enrolTwice() public {
        _enrol(patient);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AlreadyEnrolled.selector, trialId, patient));
        trials.enrol(trialId, 1);
    }

    /// A sponsor "records" a withdrawal that did not happen (to stop rewards), or twice.
    function test_attack_recordingAWithdrawalThatDidNotHappen() public {
        bytes32 grantId = _enrol(patient);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ConsentStillGiven.selector, trialId, patient));
        trials.recordWithdrawal(trialId, patient);
        vm.prank(patient);
        consent.revoke(grantId);
        trials.recordWithdrawal(trialId, patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ConsentStillGiven.selector, trialId, patient));
        trials.recordWithdrawal(trialId, patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotEnrolled.selector, trialId, bob));
        trials.recordWithdrawal(trialId, bob);
    }

    // ------------------------------------------------------------------ rewards

    /// A participant claims the same contribution twice (same receipt, or a second read of
    /// the same record version in another batch).
    function test_attack_doubleReward() public {
        _enrol(patient);
        _fund(100e6);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        _claim(patient, R1, readAt, root, proof);
        bytes32 key = keccak256(abi.encode(sponsor, patient, R1, uint32(1)));
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AlreadyRewarded.selector, trialId, patient, key));
        _claim(patient, R1, readAt, root, proof);
        vm.warp(block.timestamp + 1 hours);
        (readAt, root, proof) = _read(patient, R1);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AlreadyRewarded.selector, trialId, patient, key));
        _claim(patient, R1, readAt, root, proof);
    }

    /// A reward without a receipt: a root nobody anchored, a wrong proof, a receipt the
    /// participant anchored itself, or a receipt of a read for another purpose.
    function test_attack_rewardWithoutAReceipt() public {
        _enrol(patient);
        _fund(100e6);
        uint64 readAt = uint64(block.timestamp);
        bytes32 digest = _receipt(sponsor, patient, R1, 1, RESEARCH, readAt);
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.ReceiptNotAnchored.selector, receiptLeaf(digest), digest)
        );
        _claim(patient, R1, readAt, receiptLeaf(digest), none);

        // The patient anchors "the sponsor's receipt" in its own batch: batches are the reader's.
        (bytes32 root, bytes32[] memory proof) = _anchorPair(patient, patient, digest, keccak256("x"));
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ReceiptNotAnchored.selector, root, digest));
        _claim(patient, R1, readAt, root, proof);

        // A treatment read by the sponsor is not a research contribution.
        bytes32 treatment = _receipt(sponsor, patient, R2, 1, TREATMENT, readAt);
        (root, proof) = _anchorPair(sponsor, patient, treatment, keccak256("y"));
        bytes32 asResearch = _receipt(sponsor, patient, R2, 1, RESEARCH, readAt);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ReceiptNotAnchored.selector, root, asResearch));
        _claim(patient, R2, readAt, root, proof);
    }

    /// Someone else (not enrolled, or another participant) claims a participant's receipt.
    function test_attack_claimingAnotherParticipantsReceipt() public {
        _enrol(patient);
        _enrol(bob);
        _fund(100e6);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotEnrolled.selector, trialId, stranger));
        _claim(stranger, R1, readAt, root, proof);
        bytes32 asBob = _receipt(sponsor, bob, R1, 1, RESEARCH, readAt);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ReceiptNotAnchored.selector, root, asBob));
        _claim(bob, R1, readAt, root, proof);
    }

    /// Receipts anchored outside the enrolment: before enrolling, after a recorded withdrawal,
    /// after the trial's end (the chain's clock; a receipt's own time is the reader's).
    function test_attack_readsOutsideTheEnrolment() public {
        // Absolute times: under via-IR, a local copy of block.timestamp may be re-read after a warp.
        uint40 t0 = 1_800_000_000;
        uint40 enrolledAt = t0 + 1 hours;
        uint40 last = _endsAt() - 1;
        (, bytes32 earlyRoot, bytes32[] memory earlyProof) = _read(patient, R1);
        vm.warp(enrolledAt);
        bytes32 grantId = _enrol(patient);
        _fund(100e6);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AnchoredOutsideEnrolment.selector, t0, enrolledAt, last));
        _claim(patient, R1, t0, earlyRoot, earlyProof);

        // Withdrawn and recorded: a batch anchored a second later earns nothing.
        uint40 withdrawnAt = enrolledAt + 1 days;
        vm.warp(withdrawnAt);
        vm.prank(patient);
        consent.revoke(grantId);
        trials.recordWithdrawal(trialId, patient);
        vm.warp(withdrawnAt + 1);
        (, bytes32 lateRoot, bytes32[] memory lateProof) = _read(patient, R2);
        uint40 late = withdrawnAt + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.AnchoredOutsideEnrolment.selector, late, enrolledAt, withdrawnAt)
        );
        _claim(patient, R2, late, lateRoot, lateProof);
    }

    function test_attack_readsAfterTheTrialEnded() public {
        _enrol(patient);
        _fund(100e6);
        uint40 endsAt = _endsAt();
        uint40 enrolledAt = trials.getEnrolment(trialId, patient).enrolledAt;
        vm.warp(endsAt);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.AnchoredOutsideEnrolment.selector, endsAt, enrolledAt, endsAt - 1)
        );
        _claim(patient, R1, readAt, root, proof);
    }

    /// A contribution of a record outside the trial's scope, or of someone else's record
    /// under the participant's name.
    function test_attack_recordOutsideTheScope() public {
        _enrol(patient);
        _fund(100e6);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R3);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.RecordOutsideScope.selector, R3, patient, 7));
        _claim(patient, R3, readAt, root, proof);
        (readAt, root, proof) = _read(patient, RB);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.RecordOutsideScope.selector, RB, bob, 4));
        _claim(patient, RB, readAt, root, proof);
    }

    /// Rewards past the per-participant cap, from an empty escrow, or of a kind the trial does not pay.
    function test_attack_rewardsPastTheCapOrTheEscrow() public {
        _enrol(patient);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InsufficientEscrow.selector, trialId, 0, PER_CONTRIBUTION));
        _claim(patient, R1, readAt, root, proof);
        _fund(100e6);
        vm.startPrank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        trials.attestMilestone(trialId, patient, keccak256("week-26-visit"));
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.RewardCapReached.selector, trialId, patient, CAP, CAP)
        );
        _claim(patient, R1, readAt, root, proof);
    }

    function test_attack_rewardOfAKindTheTrialDoesNotPay() public {
        IClinicalTrials.Registration memory r = _registration();
        (r.rewardPerContribution, r.rewardPerMilestone) = (0, 0);
        trialId = _register(r);
        _enrol(patient);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NoReward.selector, trialId));
        _claim(patient, R1, readAt, root, proof);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NoReward.selector, trialId));
        trials.attestMilestone(trialId, patient, VISIT);
    }

    /// Milestones: attested twice, by a stranger, for someone not enrolled, after withdrawal.
    function test_attack_milestoneAbuse() public {
        bytes32 grantId = _enrol(patient);
        _fund(100e6);
        vm.prank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        bytes32 key = keccak256(abi.encode(trialId, patient, VISIT));
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AlreadyRewarded.selector, trialId, patient, key));
        trials.attestMilestone(trialId, patient, VISIT);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotSponsor.selector, trialId, stranger));
        trials.attestMilestone(trialId, stranger, VISIT);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotEnrolled.selector, trialId, bob));
        trials.attestMilestone(trialId, bob, VISIT);
        vm.prank(patient);
        consent.revoke(grantId);
        trials.recordWithdrawal(trialId, patient);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ParticipationEnded.selector, trialId, patient));
        trials.attestMilestone(trialId, patient, keccak256("week-26-visit"));
    }

    /// A milestone attested after the trial ended (to spend the escrow on the sponsor's friends).
    function test_attack_milestoneAfterTheEnd() public {
        _enrol(patient);
        _fund(100e6);
        vm.warp(_endsAt());
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ParticipationEnded.selector, trialId, patient));
        trials.attestMilestone(trialId, patient, VISIT);
    }

    /// Claiming milestones never attested; funding nothing or someone else's trial; reclaiming
    /// the escrow before participants could claim, or twice.
    function test_attack_escrowAbuse() public {
        _enrol(patient);
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NothingOwed.selector, trialId, patient));
        trials.claimMilestones(trialId);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InvalidAmount.selector, 0));
        trials.fund(trialId, 0);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.NotSponsor.selector, trialId, stranger));
        trials.fund(trialId, 1);
        _fund(100e6);
        uint256 closesAt = uint256(_endsAt()) + trials.CLAIM_WINDOW();
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ClaimWindowOpen.selector, trialId, closesAt));
        trials.reclaim(trialId);
        vm.warp(closesAt);
        vm.prank(sponsor);
        trials.reclaim(trialId);
        vm.prank(sponsor);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.InvalidAmount.selector, 0));
        trials.reclaim(trialId);
    }

    function _expectMissing(string memory what) private {
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.MissingValue.selector, what));
    }

    function _expectSchedule(IClinicalTrials.Registration memory r) private {
        vm.expectRevert(
            abi.encodeWithSelector(
                IClinicalTrials.InvalidSchedule.selector, r.plannedEnrolment, r.enrolmentCloses, r.endsAt, r.resultsDue
            )
        );
        _register(r);
    }

    // ------------------------------------------------------------------ review findings (issue 19)

    /// One sponsor read, claimed in two trials of the same sponsor (same scope and end: one
    /// consent, one receipt that does not say which trial it was for): paid once, not twice.
    function test_attack_oneReadPaidByTwoTrials() public {
        uint32 second = _register(_registration());
        _enrol(patient);
        vm.prank(patient);
        trials.enrol(second, 1); // the same standing consent covers the second trial
        _fund(100e6);
        usd.mint(sponsor, 100e6);
        vm.prank(sponsor);
        usd.approve(address(trials), 100e6);
        vm.prank(sponsor);
        trials.fund(second, 100e6);
        vm.warp(block.timestamp + 1);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1); // ONE read
        uint256 before = usd.balanceOf(patient);
        _claim(patient, R1, readAt, root, proof);
        bytes32 key = keccak256(abi.encode(sponsor, patient, R1, uint32(1)));
        vm.assertTrue(trials.rewarded(key));
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.AlreadyRewarded.selector, second, patient, key));
        trials.claimContribution(second, R1, 1, readAt, root, proof);
        vm.assertEq(usd.balanceOf(patient) - before, uint256(PER_CONTRIBUTION));
    }

    /// Enrolling in a second trial of the same sponsor and scope with the consent already
    /// given (what the SDK does) leaves the first enrolment standing: nobody can record a
    /// withdrawal from it and the sponsor can still attest milestones in it.
    function test_attack_secondEnrolmentKeepsTheFirst() public {
        uint32 second = _register(_registration());
        _enrol(patient);
        vm.warp(block.timestamp + 1 days);
        vm.prank(patient);
        trials.enrol(second, 1);
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ConsentStillGiven.selector, trialId, patient));
        trials.recordWithdrawal(trialId, patient);
        _fund(100e6);
        vm.prank(sponsor);
        trials.attestMilestone(trialId, patient, VISIT);
        vm.assertEq(uint256(trials.getEnrolment(trialId, patient).owed), uint256(PER_MILESTONE));
    }

    /// A participant who revoked but whose withdrawal nobody recorded: a batch anchored after
    /// the trial's end earns nothing (as for a loyal participant), recorded or not.
    function test_attack_unrecordedWithdrawalCountsPastTheEnd() public {
        bytes32 grantId = _enrol(patient);
        _fund(100e6);
        uint40 enrolledAt = trials.getEnrolment(trialId, patient).enrolledAt;
        uint40 endsAt = _endsAt();
        vm.prank(patient);
        consent.revoke(grantId);
        uint40 late = endsAt + 30 days;
        vm.warp(late);
        (uint64 readAt, bytes32 root, bytes32[] memory proof) = _read(patient, R1);
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.AnchoredOutsideEnrolment.selector, late, enrolledAt, endsAt - 1)
        );
        _claim(patient, R1, readAt, root, proof);
        // Recorded after the end: the window still closes at the trial's last second.
        vm.warp(late + 1);
        trials.recordWithdrawal(trialId, patient);
        vm.expectRevert(
            abi.encodeWithSelector(IClinicalTrials.AnchoredOutsideEnrolment.selector, late, enrolledAt, endsAt - 1)
        );
        _claim(patient, R1, readAt, root, proof);
    }

    /// The sponsor front-runs a pending enrolment with an amendment: the participant agreed to
    /// version 1, so the enrolment is refused rather than bound to a version nobody read.
    function test_attack_amendInFrontOfAnEnrolment() public {
        uint40 endsAt = _endsAt();
        vm.prank(patient);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, endsAt, bytes32(0));
        vm.prank(sponsor);
        trials.amend(trialId, PROTOCOL, STUDY, SWITCHED, "front-run");
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.VersionChanged.selector, trialId, 1, 2));
        trials.enrol(trialId, 1);
        vm.prank(patient);
        trials.enrol(trialId, 2); // having read version 2
        vm.assertEq(uint256(trials.getTrial(trialId).enrolled), 1);
    }

    function _expectConsentRequired(bytes32 grantId, uint40 endsAt) private {
        vm.expectRevert(abi.encodeWithSelector(IClinicalTrials.ConsentRequired.selector, trialId, grantId, endsAt));
    }
}
