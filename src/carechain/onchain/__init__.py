"""The one layer that talks to the chain, on eth-account and eth-abi over JSON-RPC.

- :mod:`.rpc` — a node: calls, batches, logs, locally signed transactions; which node
  this process uses (:func:`connect`, else the node Ape runs in tests and ``ape run``,
  else ``CARECHAIN_RPC_URL``, else ``http://127.0.0.1:8545``).
- :mod:`.abi` — the contracts' ABIs (shipped in ``abi/``): encoding, decoding, events, errors.
- :mod:`.signer` — the one protocol for whatever signs.
- :mod:`.contract` — a deployed contract bound to a node, and refusals in words.
- one module per contract (:mod:`.registry`, :mod:`.keys`, :mod:`.consent`,
  :mod:`.access_log`, :mod:`.claims`, :mod:`.traceability`) and :mod:`.contracts`, the set.
- :mod:`.deploy` — deploying, with Ape (a development task; the only Ape import).

Nothing outside this package imports Ape, web3 or a JSON-RPC client.
"""

from .contracts import Contracts
from .rpc import Node, Receipt, connect, current
from .signer import Signer, as_signer, local_test_account

__all__ = ["Contracts", "Node", "Receipt", "Signer", "as_signer", "connect", "current",
           "local_test_account"]  # fmt: skip
