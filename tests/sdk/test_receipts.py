"""Waiting for receipts: short, growing pauses instead of a flat 100 ms sleep (a local node
mines a moment after it answers the send, so the first ask nearly always misses)."""

import itertools

import pytest

from carechain import Purpose, Scope
from carechain.errors import ChainError
from carechain.onchain import rpc
from carechain.onchain.rpc import RECEIPT_FIRST_POLL, RECEIPT_POLL, Node
from carechain.samples import chart
from tests.helpers import DAY


class SlowNode(Node):
    """A node that reports a receipt only on the ``ready``-th ask (never, if None)."""

    def __init__(self, ready: int | None) -> None:
        super().__init__("http://127.0.0.1:9")  # never asked: receipt() is answered here
        self.ready = ready
        self.asks = 0

    def receipt(self, tx_hash):
        self.asks += 1
        if self.ready is None or self.asks < self.ready:
            return None
        return {"transactionHash": tx_hash, "blockNumber": "0x5", "gasUsed": "0x5208",
                "status": "0x1", "logs": []}  # fmt: skip


@pytest.fixture
def pauses(monkeypatch):
    """The pauses the waiter takes (instead of sleeping), and a clock they advance."""
    taken: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        taken.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(rpc.time, "sleep", sleep)
    monkeypatch.setattr(rpc.time, "monotonic", lambda: clock[0])
    return taken


def test_pauses_start_short_and_double_up_to_the_poll_latency(pauses):
    node = SlowNode(ready=10)
    receipt = node.wait_for_receipt("0x" + "01" * 32, timeout=60)
    assert receipt.status == 1 and receipt.gas_used == 21_000 and node.asks == 10
    assert pauses[0] == RECEIPT_FIRST_POLL
    assert pauses == sorted(pauses) and max(pauses) == RECEIPT_POLL
    assert all(b == min(2 * a, RECEIPT_POLL) for a, b in itertools.pairwise(pauses))


def test_a_receipt_that_never_comes_times_out_with_what_to_do(pauses):
    """On a slow node it asks about as often as once per poll interval, then says the
    transaction may still be mined (so the caller looks before sending again)."""
    node = SlowNode(ready=None)
    with pytest.raises(ChainError, match="not in the chain after 5 s; it may still be mined"):
        node.wait_for_receipt("0x" + "02" * 32, timeout=5)
    assert sum(pauses) == pytest.approx(5)
    assert node.asks <= 5 / RECEIPT_POLL + 8  # the few short pauses at the start, then 0.1 s


def test_a_transaction_returns_the_nodes_receipt(contracts, governor, stranger, chain):
    """An SDK transaction returns once mined, with the receipt the node keeps."""
    receipt = contracts.registry.admit(governor, "auditor", stranger)
    kept = chain.provider.web3.eth.get_transaction_receipt(receipt.txn_hash)
    assert receipt.block_number == chain.blocks.height == kept["blockNumber"]
    assert receipt.gas_used == kept["gasUsed"] > 0 and kept["status"] == 1


def test_a_second_read_in_the_same_second_is_anchored_as_the_first_was(
    hospital_client, patient_client, doctor_client, chain, monkeypatch
):
    """A clinician opens a record twice within one second (two `records read`, each
    anchoring its receipt): the two receipts are the same receipt, so the second batch has
    the first one's root. Anchoring it again is refused by the AccessLog (BatchExists); the
    read must not fail for that, and the trail shows the read once, anchored."""
    from carechain import receipts

    patient = patient_client.address
    [ref] = hospital_client.anchor_records([(patient, chart(41, "MRN-41")[0])])
    now = chain.blocks.head.timestamp
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, now + DAY)
    monkeypatch.setattr(receipts.time, "time", lambda: now + 5)  # both reads in one second
    first = doctor_client.read_record(ref.record_id, purpose=Purpose.TREATMENT)
    [root] = doctor_client.receipts.flush()
    again = doctor_client.read_record(ref.record_id, purpose=Purpose.TREATMENT)
    assert doctor_client.receipts.flush() == [root]  # the same batch, already anchored
    assert again.resource == first.resource
    assert doctor_client.receipts.pending == []
    trail = patient_client.audit_trail()
    assert [(e.reader, e.receipt.record_id) for e in trail] == [
        (doctor_client.address, ref.record_id)
    ]
    assert not any(entry.problem for entry in trail)
