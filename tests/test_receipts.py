"""Waiting for receipts: short, growing pauses instead of web3's flat 100 ms sleep."""

import itertools

import pytest
from web3.exceptions import TimeExhausted, TransactionNotFound

from carechain import chain as chain_module
from carechain.chain import RECEIPT_FIRST_POLL, _wait_for_receipt


class SlowNode:
    """An ``eth`` module whose node reports a receipt only on the ``ready``-th ask."""

    def __init__(self, ready: int | None) -> None:
        self.ready = ready
        self.asks = 0

    def get_transaction_receipt(self, transaction_hash):
        self.asks += 1
        if self.ready is None or self.asks < self.ready:
            raise TransactionNotFound("not yet")
        return {"transactionHash": transaction_hash, "status": 1}


@pytest.fixture
def pauses(monkeypatch):
    """The pauses the waiter takes (instead of sleeping), and a clock they advance."""
    taken: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        taken.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(chain_module.time, "sleep", sleep)
    monkeypatch.setattr(chain_module.time, "monotonic", lambda: clock[0])
    return taken


def test_pauses_start_short_and_double_up_to_the_poll_latency(pauses):
    node = SlowNode(ready=10)
    receipt = _wait_for_receipt(node, b"\x01" * 32, timeout=60, poll_latency=0.1)
    assert receipt["status"] == 1 and node.asks == 10
    assert pauses[0] == RECEIPT_FIRST_POLL
    assert pauses == sorted(pauses) and max(pauses) == 0.1
    assert all(b == min(2 * a, 0.1) for a, b in itertools.pairwise(pauses))


def test_a_receipt_that_never_comes_times_out_as_web3_does(pauses):
    """Ape turns web3's TimeExhausted into its own error; the waiter must raise exactly that,
    and on a slow node ask about as often as web3 would (once per poll latency)."""
    node = SlowNode(ready=None)
    with pytest.raises(TimeExhausted, match="not in the chain after 5 seconds"):
        _wait_for_receipt(node, b"\x02" * 32, timeout=5, poll_latency=0.1)
    assert sum(pauses) == pytest.approx(5)
    assert node.asks <= 5 / 0.1 + 8  # the few short pauses at the start, then 0.1 s each


def test_transactions_use_the_quick_waiter(contracts, governor, stranger):
    """Every SDK transaction installs the waiter on the connected provider, and the receipt
    it returns is the node's (mined, with the gas used)."""
    from ape import chain

    receipt = contracts.registry.admit(governor, "auditor", stranger)
    eth = chain.provider.web3.eth
    assert eth.wait_for_transaction_receipt.func is _wait_for_receipt
    assert receipt.block_number == chain.blocks.height and receipt.gas_used > 0
