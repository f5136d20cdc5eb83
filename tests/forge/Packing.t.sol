// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {Packing} from "../../contracts/Packing.sol";
import {IRecordRegistry} from "../../contracts/interfaces/IRecordRegistry.sol";
import {IClaimsManager} from "../../contracts/interfaces/IClaimsManager.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";

/// Every hand-packed word equals what a plain struct write stores: if a field of a struct in
/// an interface file is reordered, resized or added, these fail before a contract misreads.
contract PackingTest is Base {
    IRecordRegistry.RecordHead internal head;
    IClaimsManager.Claim internal claim;
    IConsentManager.Consent internal consentWord;

    function testFuzz_a_packed_record_head_is_the_struct_write(
        address patient,
        uint32 authorId,
        uint32 version,
        uint8 category,
        uint8 status
    ) public {
        IRecordRegistry.RecordStatus s = IRecordRegistry.RecordStatus(status % 3);
        head = IRecordRegistry.RecordHead(patient, authorId, version, category, s);
        bytes32 slot;
        assembly ("memory-safe") {
            slot := head.slot
        }
        vm.assertEq(uint256(vm.load(address(this), slot)), Packing.recordHead(patient, authorId, version, category, s));
    }

    function testFuzz_a_packed_new_claim_is_the_struct_write(
        uint32 policyId,
        uint32 providerId,
        uint8 status,
        uint64 amount
    ) public {
        IClaimsManager.ClaimStatus s = IClaimsManager.ClaimStatus(status % 6);
        claim = IClaimsManager.Claim(policyId, providerId, s, amount, 0, 0);
        bytes32 slot;
        assembly ("memory-safe") {
            slot := claim.slot
        }
        vm.assertEq(uint256(vm.load(address(this), slot)), Packing.newClaim(policyId, providerId, s, amount));
    }

    function testFuzz_a_packed_consent_is_the_struct_write(
        address patient,
        uint32 start,
        uint32 end,
        bool deny,
        uint8 decidedBy,
        uint16 version
    ) public {
        consentWord = IConsentManager.Consent(patient, start, end, deny, decidedBy, version);
        bytes32 slot;
        assembly ("memory-safe") {
            slot := consentWord.slot
        }
        vm.assertEq(
            uint256(vm.load(address(this), slot)), Packing.consent(patient, start, end, deny, decidedBy, version)
        );
    }
}
