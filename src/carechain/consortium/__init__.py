"""The consortium network: every member institution runs its own chain node and IPFS node
(see :mod:`carechain.consortium.network` and docs/consortium.md)."""

from .network import CHAIN_ID, Member, Network, NetworkSpec, free_base_port

__all__ = ["CHAIN_ID", "Member", "Network", "NetworkSpec", "free_base_port"]
