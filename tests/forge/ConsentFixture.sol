// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {IConsentManager} from "../../contracts/interfaces/IConsentManager.sol";

/// What the consent suites share: one record of the patient (R1, category 4), the scopes and
/// purposes by name, a doctor and a guardian, and the patient's EIP-712 signatures.
abstract contract ConsentFixture is Base {
    bytes32 constant R1 = keccak256("record-1");
    IConsentManager.ScopeKind constant RECORD = IConsentManager.ScopeKind.Record;
    IConsentManager.ScopeKind constant CATEGORY = IConsentManager.ScopeKind.Category;
    IConsentManager.ScopeKind constant ALL = IConsentManager.ScopeKind.All;
    IConsentManager.Purpose constant TREATMENT = IConsentManager.Purpose.Treatment;
    IConsentManager.Purpose constant EMERGENCY = IConsentManager.Purpose.Emergency;
    address doctor = address(0xD0C);
    address guardian = address(0x6A);

    function setUp() public virtual override {
        super.setUp();
        _anchor(R1, 4);
    }

    /// The patient's signature of a grant request at `nonce`.
    function _signGrant(IConsentManager.GrantRequest memory r, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return _sign(
            keccak256(
                abi.encode(
                    consent.GRANT_TYPEHASH(),
                    patient,
                    r.grantee,
                    r.kind,
                    r.value,
                    r.purpose,
                    r.start,
                    r.end,
                    r.deny,
                    r.keysDigest,
                    nonce,
                    deadline
                )
            )
        );
    }

    /// The patient's signature of a revocation at `nonce`.
    function _signRevoke(bytes32 grantId, uint256 nonce, uint256 deadline) internal view returns (bytes memory) {
        return _sign(keccak256(abi.encode(consent.REVOKE_TYPEHASH(), grantId, nonce, deadline)));
    }

    function _sign(bytes32 structHash) internal view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", consent.domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PATIENT_KEY, digest);
        return abi.encodePacked(r, s, v);
    }
}
