// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IKeyDirectory
/// @notice Where each party publishes the HPKE public key others encrypt data keys to.
/// @dev Keys are large (a post-quantum hybrid key is 1,216 bytes), so the key itself is only
/// emitted in `KeyPublished`; storage keeps a 32-byte commitment that clients check the
/// event's key against. Anyone may publish: patients need no role.
interface IKeyDirectory {
    /// @notice A party published (or rotated to) a public key for an HPKE KEM.
    /// @param party The key's owner.
    /// @param kemId The RFC 9180 KEM identifier (0x0020 X25519, 0x647a ML-KEM-768+X25519).
    /// @param keyVersion Counts rotations for this party and KEM, from 1.
    /// @param publicKey The raw public key.
    event KeyPublished(address indexed party, uint16 indexed kemId, uint32 keyVersion, bytes publicKey);

    /// @notice A party withdrew its key for a KEM; nobody should encrypt to it any more.
    event KeyRevoked(address indexed party, uint16 indexed kemId, uint32 keyVersion);

    /// @notice The KEM is not one carechain supports.
    error UnsupportedKem(uint16 kemId);
    /// @notice The key's length does not match its KEM.
    error InvalidKeyLength(uint16 kemId, uint256 length, uint256 expected);
    /// @notice The party has no key for this KEM.
    error NoKey(address party, uint16 kemId);

    /// @notice Publish a public key for `kemId`, replacing any earlier one (rotation).
    /// @return keyVersion The new key version.
    function publishKey(uint16 kemId, bytes calldata publicKey) external returns (uint32 keyVersion);

    /// @notice Withdraw the caller's key for `kemId`.
    function revokeKey(uint16 kemId) external;

    /// @notice The commitment `keccak256(abi.encode(kemId, keyVersion, publicKey))` of a party's
    /// current key and its version; (0, 0) if none.
    function keyCommitment(address party, uint16 kemId) external view returns (bytes32 commitment, uint32 keyVersion);
}
