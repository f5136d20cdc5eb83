// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IKeyDirectory} from "./interfaces/IKeyDirectory.sol";

/// @title KeyDirectory
/// @notice Parties publish the HPKE public keys that data keys are wrapped to.
contract KeyDirectory is IKeyDirectory {
    /// @notice RFC 9180 KEM id of DHKEM(X25519, HKDF-SHA256).
    uint16 public constant KEM_X25519 = 0x0020;
    /// @notice KEM id of the ML-KEM-768 + X25519 hybrid (X-Wing, draft-ietf-hpke-pq).
    uint16 public constant KEM_MLKEM768_X25519 = 0x647a;

    struct KeySlot {
        bytes32 commitment; // keccak256(abi.encode(kemId, version, publicKey)); 0 when revoked
        uint32 version; // rotations so far; never goes back
    }

    mapping(address party => mapping(uint16 kemId => KeySlot slot)) private _keys;

    /// @inheritdoc IKeyDirectory
    function publishKey(uint16 kemId, bytes calldata publicKey) external returns (uint32 keyVersion) {
        uint256 expected = _keyLength(kemId);
        if (publicKey.length != expected) revert InvalidKeyLength(kemId, publicKey.length, expected);
        KeySlot storage slot = _keys[msg.sender][kemId];
        keyVersion = slot.version + 1;
        slot.version = keyVersion;
        slot.commitment = keccak256(abi.encode(kemId, keyVersion, publicKey));
        emit KeyPublished(msg.sender, kemId, keyVersion, publicKey);
    }

    /// @inheritdoc IKeyDirectory
    function revokeKey(uint16 kemId) external {
        KeySlot storage slot = _keys[msg.sender][kemId];
        if (slot.commitment == bytes32(0)) revert NoKey(msg.sender, kemId);
        slot.commitment = bytes32(0);
        emit KeyRevoked(msg.sender, kemId, slot.version);
    }

    /// @inheritdoc IKeyDirectory
    function keyCommitment(address party, uint16 kemId) external view returns (bytes32 commitment, uint32 keyVersion) {
        KeySlot storage slot = _keys[party][kemId];
        return (slot.commitment, slot.version);
    }

    function _keyLength(uint16 kemId) private pure returns (uint256) {
        if (kemId == KEM_X25519) return 32;
        if (kemId == KEM_MLKEM768_X25519) return 1216; // ML-KEM-768 (1,184) + X25519 (32)
        revert UnsupportedKem(kemId);
    }
}
