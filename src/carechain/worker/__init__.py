"""The insurer's settlement worker: follows the chain, adjudicates claims by the insurer's
rules, and settles them in batches — exactly once across restarts, stuck transactions and
reorgs.

How exactly-once holds:

* **At most once** is the chain's: a claim moves Submitted → Approved → Paid once, and
  ``settle`` reverts if any claim in the batch is not Approved. Nothing the worker does can
  pay a claim twice.
* **At least once** is the journal's (a SQLite file). Every decision is written before any
  transaction; every transaction is signed, written (hash, nonce, raw bytes) and only then
  sent. On restart the journal is reconciled with the chain: a recorded transaction without a
  receipt is sent again (the same bytes, so the same hash), one that waited too long is
  replaced with the same nonce at ≥ 1.125 times the fee, and a transaction is *final* only when its
  block is ``confirmations`` deep and still canonical. Claims are read from events only up to
  that depth.
* **Reorgs**: the worker keeps the hashes of the last blocks it scanned. When the chain's hash
  at its cursor differs, it walks back to the last common block, forgets claims seen after it,
  and reopens every transaction mined after it; those are re-sent (anvil and geth drop a
  reorged transaction from the pool) and their claims wait for them again.

Evidence is read through :meth:`Party.read_record` with purpose PAYMENT: consented and logged
(the access receipts are anchored before the decision is written).

The package: :mod:`.rules` (the insurer's TOML rules), :mod:`.journal` (the SQLite file,
every statement on it, the states), :mod:`.outbox` (transaction mechanics: nonce, sign,
journal, send, replace, reconcile — nothing of claims) and :mod:`.loop` (the worker).
"""

from .journal import (
    FINAL_STATES,
    LIVE_TX_STATES,
    OPEN_STATES,
    RECEIPT_ATTEMPTS,
    UNMINED_TX_STATES,
    Journal,
)
from .loop import REORG_WINDOW, JsonFormatter, StepResult, Worker
from .outbox import Outbox
from .rules import MAX_UNITS, Decision, Rules, to_units

__all__ = [
    "FINAL_STATES",
    "LIVE_TX_STATES",
    "MAX_UNITS",
    "OPEN_STATES",
    "RECEIPT_ATTEMPTS",
    "REORG_WINDOW",
    "UNMINED_TX_STATES",
    "Decision",
    "Journal",
    "JsonFormatter",
    "Outbox",
    "Rules",
    "StepResult",
    "Worker",
    "to_units",
]
