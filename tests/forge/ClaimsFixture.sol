// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";

/// One insurer with 10,000 in escrow and a policy for the patient (limit 5,000, deductible
/// 100, co-pay 20%, category 1 covered, auto-approve up to 500); the patient consents to the
/// insurer reading every record for payment and to `hospital` (only) for treatment.
abstract contract ClaimsFixture is Base {
    uint64 constant USD = 1e6;
    uint32 policyId;
    uint256 t0;
    uint32 today;
    uint256 private _records;

    function setUp() public virtual override {
        super.setUp();
        t0 = block.timestamp;
        today = uint32(t0 / 1 days);
        vm.startPrank(patient);
        consent.grant(insurer, IConsentManager.ScopeKind.All, bytes32(0), IConsentManager.Purpose.Payment, uint40(t0 + 400 days), "");
        consent.grant(hospital, IConsentManager.ScopeKind.All, bytes32(0), IConsentManager.Purpose.Treatment, uint40(t0 + 400 days), "");
        vm.stopPrank();
        usd.mint(insurer, 100_000 * USD);
        vm.startPrank(insurer);
        usd.approve(address(claims), type(uint256).max);
        claims.deposit(10_000 * USD);
        policyId = claims.issuePolicy(_terms());
        vm.stopPrank();
    }

    function _terms() internal view returns (IClaimsManager.PolicyTerms memory) {
        return IClaimsManager.PolicyTerms({
            patient: patient,
            limit: 5_000 * USD,
            deductible: 100 * USD,
            copayBps: 2_000,
            coveredCategories: uint32(1) << 1,
            start: uint40(t0 - 1 days),
            end: uint40(t0 + 365 days),
            autoApproveBelow: 500 * USD
        });
    }

    /// A fresh record of the patient's, anchored by `by`.
    function _newRecord(address by, uint8 category) internal returns (bytes32 recordId) {
        recordId = keccak256(abi.encode("record", ++_records));
        vm.prank(by);
        registry.anchor(recordId, patient, category, keccak256(abi.encode(recordId)));
    }

    function _claim(uint64 amount, bytes32 record, bytes32 codes)
        internal
        view
        returns (IClaimsManager.ClaimRequest memory r)
    {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = record;
        r = IClaimsManager.ClaimRequest({
            policyId: policyId,
            patient: patient,
            amount: amount,
            serviceDate: today,
            codesHash: codes,
            recordIds: ids,
            claimDigest: keccak256(abi.encode(codes))
        });
    }

    /// `hospital` claims `amount` citing a fresh covered record.
    function _submit(uint64 amount, bytes32 codes) internal returns (bytes32) {
        return _submitCiting(amount, _newRecord(hospital, 1), codes);
    }

    function _submitCiting(uint64 amount, bytes32 record, bytes32 codes) internal returns (bytes32) {
        vm.prank(hospital);
        return claims.submitClaim(_claim(amount, record, codes));
    }

    function _status(bytes32 id) internal view returns (IClaimsManager.ClaimStatus) {
        return claims.getClaim(id).status;
    }

    function _one(bytes32 id) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](1);
        ids[0] = id;
    }
}
