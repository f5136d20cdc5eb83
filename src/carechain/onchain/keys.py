"""The KeyDirectory: published HPKE public keys, each checked against its commitment."""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from ..crypto import KemSuite
from ..errors import KeyNotFoundError
from .contract import Contract
from .rpc import Node


class KeyDirectory:
    """The KeyDirectory contract: published HPKE public keys."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "KeyDirectory", address, since)
        self.address = str(self.contract.address)

    def publish(self, sender: Any, suite: KemSuite, public_key: bytes) -> Any:
        """Publish (or rotate to) ``public_key`` for ``suite``."""
        if len(public_key) != suite.public_key_size:
            raise ValueError(f"a {suite.name} public key is {suite.public_key_size} bytes")
        return self.contract.publishKey(int(suite), public_key, sender=sender)

    def is_current(self, party: str, suite: KemSuite, public_key: bytes) -> bool | None:
        """Whether ``public_key`` (of ``suite``) is one of ``party``'s current keys: True
        if it is, False if the party published keys and this is none of them, None if the
        party has published no key at all. One call per suite (the commitments)."""
        published = False
        for kem in KemSuite:
            commitment, version = self.contract.keyCommitment.call(party, int(kem))
            if bytes(commitment) == bytes(32):
                continue
            published = True
            if kem == suite and _commitment(kem, version, public_key) == bytes(commitment):
                return True
        return False if published else None

    def revoke(self, sender: Any, suite: KemSuite) -> Any:
        """Withdraw ``sender``'s key for ``suite``: nobody should encrypt to it any more."""
        return self.contract.revokeKey(int(suite), sender=sender)

    def public_key(self, party: str, suite: KemSuite) -> bytes:
        """The party's current key for ``suite``, checked against its on-chain commitment."""
        commitment, version = self.contract.keyCommitment.call(party, int(suite))
        if bytes(commitment) == bytes(32):
            raise KeyNotFoundError(
                f"{party} has no published {suite.name} key; they must publish one first "
                "(carechain keys publish)"
            )
        topics = {"party": to_checksum_address(party), "kemId": int(suite)}
        logs = self.contract.logs(self.contract.KeyPublished, topics)
        for log in logs:
            if int(log.keyVersion) != int(version):
                continue
            key = bytes(log.publicKey)
            if _commitment(suite, version, key) == bytes(commitment):
                return key
        raise KeyNotFoundError(f"no event matches {party}'s committed {suite.name} key")


def _commitment(suite: KemSuite, version: int, public_key: bytes) -> bytes:
    """What the KeyDirectory commits to for a key: keccak256(abi.encode(kem, version, key))."""
    return keccak(abi_encode(["uint16", "uint32", "bytes"], [int(suite), version, public_key]))
