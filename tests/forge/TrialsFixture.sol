// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ConsentFixture} from "./ConsentFixture.sol";
import {IClinicalTrials} from "../../contracts/interfaces/IClinicalTrials.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";

/// The EIP-712 digest of an access receipt for `accessLog`, as the SDK signs it (here and in
/// handlers that are not fixtures).
function receiptDigest(
    address accessLog,
    address reader,
    address who,
    bytes32 recordId,
    uint32 version,
    IConsentManager.Purpose purpose,
    uint64 readAt
) view returns (bytes32) {
    bytes32 domain = keccak256(
        abi.encode(
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
            keccak256("carechain AccessLog"),
            keccak256("1"),
            block.chainid,
            accessLog
        )
    );
    bytes32 structHash = keccak256(
        abi.encode(
            keccak256(
                "AccessReceipt(address reader,address patient,bytes32 recordId,uint32 version,uint8 purpose,uint64 readAt)"
            ),
            reader,
            who,
            recordId,
            version,
            uint8(purpose),
            readAt
        )
    );
    return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
}

/// The Merkle leaf AccessLog proves for a receipt digest (double-hashed, as the SDK builds it).
function receiptLeaf(bytes32 digest) pure returns (bytes32) {
    return keccak256(bytes.concat(keccak256(abi.encode(digest))));
}

/// The root of a two-leaf tree (the pair sorted, as OpenZeppelin's MerkleProof expects).
function pairRoot(bytes32 a, bytes32 b) pure returns (bytes32) {
    return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
}

/// What the trial suites share: a trial over the patient's category-4 records (two in scope,
/// R1 and R2, one outside, R3 of category 7), a second participant bob with one record, the
/// enrolment consent, the reward escrow, and the sponsor's access receipts anchored in the
/// AccessLog as the SDK builds them (EIP-712 digest, double-hashed leaf, sorted pairs).
abstract contract TrialsFixture is ConsentFixture {
    bytes32 constant R2 = keccak256("record-2");
    bytes32 constant R3 = keccak256("record-3 (category 7)");
    bytes32 constant RB = keccak256("bob's record");
    bytes32 constant SCOPE = bytes32(uint256(4));
    bytes32 constant PROTOCOL = keccak256("protocol v1");
    bytes32 constant STUDY = keccak256("ResearchStudy v1");
    bytes32 constant PRIMARY = keccak256("HbA1c change at 26 weeks");
    bytes32 constant SWITCHED = keccak256("weight change at 26 weeks");
    bytes32 constant VISIT = keccak256("week-12-visit");
    IConsentManager.Purpose constant RESEARCH = IConsentManager.Purpose.Research;
    uint64 constant PER_CONTRIBUTION = 5e6;
    uint64 constant PER_MILESTONE = 10e6;
    uint64 constant CAP = 20e6;
    address bob = address(0xB0B);
    uint32 trialId;

    function setUp() public virtual override {
        super.setUp();
        _anchor(R2, 4);
        _anchor(R3, 7);
        vm.prank(hospital);
        registry.anchor(RB, bob, 4, keccak256(abi.encode(RB)));
        trialId = _register(_registration());
    }

    function _registration() internal view returns (IClinicalTrials.Registration memory) {
        return IClinicalTrials.Registration({
            protocolDigest: PROTOCOL,
            studyDigest: STUDY,
            primaryOutcomes: PRIMARY,
            scopeKind: CATEGORY,
            scopeValue: SCOPE,
            plannedEnrolment: 2,
            enrolmentCloses: uint40(block.timestamp + 30 days),
            endsAt: uint40(block.timestamp + 180 days),
            resultsDue: uint40(block.timestamp + 365 days),
            rewardPerContribution: PER_CONTRIBUTION,
            rewardPerMilestone: PER_MILESTONE,
            rewardCap: CAP
        });
    }

    function _register(IClinicalTrials.Registration memory r) internal returns (uint32) {
        vm.prank(sponsor);
        return trials.register(r);
    }

    function _endsAt() internal view returns (uint40) {
        return trials.getTrial(trialId).endsAt;
    }

    /// `who` grants the sponsor the trial's research consent and enrols.
    function _enrol(address who) internal returns (bytes32 grantId) {
        uint40 endsAt = _endsAt();
        uint16 version = trials.getTrial(trialId).version;
        vm.prank(who);
        consent.grant(sponsor, CATEGORY, SCOPE, RESEARCH, endsAt, bytes32(0));
        vm.prank(who);
        return trials.enrol(trialId, version);
    }

    function _fund(uint256 amount) internal {
        usd.mint(sponsor, amount);
        vm.prank(sponsor);
        usd.approve(address(trials), amount);
        vm.prank(sponsor);
        trials.fund(trialId, amount);
    }

    /// The EIP-712 digest of an access receipt, as the SDK signs it.
    function _receipt(
        address reader,
        address who,
        bytes32 recordId,
        uint32 version,
        IConsentManager.Purpose purpose,
        uint64 readAt
    ) internal view returns (bytes32) {
        return receiptDigest(address(accessLog), reader, who, recordId, version, purpose, readAt);
    }

    /// `reader` anchors a batch of two receipts about `who`; returns the root and the proof
    /// of the first.
    function _anchorPair(address reader, address who, bytes32 first, bytes32 second)
        internal
        returns (bytes32 root, bytes32[] memory proof)
    {
        (bytes32 a, bytes32 b) = (receiptLeaf(first), receiptLeaf(second));
        root = pairRoot(a, b);
        proof = new bytes32[](1);
        proof[0] = b;
        vm.prank(reader);
        accessLog.anchorBatch(who, root, keccak256(abi.encode(root)), 2);
    }

    /// The sponsor reads `recordId` v1 of `who` for research now, and anchors the receipt
    /// (with another of its reads); returns what a claim needs.
    function _read(address who, bytes32 recordId)
        internal
        returns (uint64 readAt, bytes32 root, bytes32[] memory proof)
    {
        readAt = uint64(block.timestamp);
        bytes32 digest = _receipt(sponsor, who, recordId, 1, RESEARCH, readAt);
        bytes32 other = _receipt(sponsor, who, keccak256(abi.encode(recordId, "other")), 1, RESEARCH, readAt);
        (root, proof) = _anchorPair(sponsor, who, digest, other);
    }

    function _claim(address who, bytes32 recordId, uint64 readAt, bytes32 root, bytes32[] memory proof)
        internal
        returns (uint64)
    {
        vm.prank(who);
        return trials.claimContribution(trialId, recordId, 1, readAt, root, proof);
    }
}
