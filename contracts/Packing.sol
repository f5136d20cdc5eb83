// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IRecordRegistry} from "./interfaces/IRecordRegistry.sol";
import {IClaimsManager} from "./interfaces/IClaimsManager.sol";
import {IConsentManager} from "./interfaces/IConsentManager.sol";

/// @title Packing
/// @notice The one place storage words are packed by hand. On the hot paths (anchoring a
/// record, submitting a claim, granting a consent) a fresh struct is written as one word with
/// one SSTORE, where a struct assignment would first read the slot to keep its unused bits.
/// @dev Each function packs a struct declared in an interface file in Solidity's layout:
/// fields in declaration order from the lowest bits up. tests/forge/Packing.t.sol compares
/// every function with a plain struct write, so a reordered or resized field fails there.
library Packing {
    /// @notice A RecordHead {patient, authorId, version, category, status}.
    function recordHead(
        address patient,
        uint32 authorId,
        uint32 version,
        uint8 category,
        IRecordRegistry.RecordStatus status
    ) internal pure returns (uint256) {
        return uint256(uint160(patient)) | (uint256(authorId) << 160) | (uint256(version) << 192)
            | (uint256(category) << 224) | (uint256(uint8(status)) << 232);
    }

    /// @notice A fresh Claim {policyId, providerId, status, amount, approved: 0, patientShare: 0}.
    function newClaim(uint32 policyId, uint32 providerId, IClaimsManager.ClaimStatus status, uint64 amount)
        internal
        pure
        returns (uint256)
    {
        return uint256(policyId) | (uint256(providerId) << 32) | (uint256(uint8(status)) << 64)
            | (uint256(amount) << 72);
    }

    /// @notice A Consent {patient, start, end, deny, decidedBy, version}.
    function consent(address patient, uint32 start, uint32 end, bool deny, uint8 decidedBy, uint16 version)
        internal
        pure
        returns (uint256)
    {
        return uint256(uint160(patient)) | (uint256(start) << 160) | (uint256(end) << 192)
            | (deny ? uint256(1) << 224 : 0) | (uint256(decidedBy) << 232) | (uint256(version) << 240);
    }

    /// @notice Write `word` to storage `slot` (a struct's `.slot`).
    function store(bytes32 slot, uint256 word) internal {
        assembly ("memory-safe") {
            sstore(slot, word)
        }
    }

    /// @notice Read the word at storage `slot`.
    function load(bytes32 slot) internal view returns (uint256 word) {
        assembly ("memory-safe") {
            word := sload(slot)
        }
    }
}
