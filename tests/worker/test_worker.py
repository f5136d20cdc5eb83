"""The insurer's settlement worker on anvil and Kubo: rules, the manual queue, confirmations,
a stuck transaction replaced, a reorg undone, and (tests/worker/test_worker_crash.py) SIGKILL."""

import json
import threading
import time

import pytest
from web3.exceptions import TransactionNotFound

from carechain import ClaimStatus, Insurer
from carechain.errors import ConfigurationError
from carechain.fhir import Category
from carechain.ipfs import IPFSClient
from carechain.worker import Journal, Rules, Worker
from tests.helpers import USD, claim_for

pytestmark = pytest.mark.integration

FAST = {
    "approve": {"below": "500.00"},
    "deny": {"codes": ["99499"], "reason": "excluded-service"},
    "settle": {"batch_size": 2, "interval": 0.0},
    "chain": {"confirmations": 1, "replace_after": 0.2, "poll_interval": 0.05},
}


def rules(**changes):
    data = {section: dict(values) for section, values in FAST.items()}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return Rules.from_dict(data)


@pytest.fixture
def journal(tmp_path):
    opened = Journal(tmp_path / "worker.sqlite")
    yield opened
    opened.close()


def submit(clients, covered, amount, code, evidence=1):
    hospital_client, patient_client, insurer_client = clients
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, amount, code, evidence
    )
    return "0x" + claim_id.hex()


@pytest.fixture
def clients(hospital_client, patient_client, insurer_client):
    return hospital_client, patient_client, insurer_client


def mined(chain, journal):
    """Wait for the receipts of the worker's live transactions: anvil answers
    ``eth_sendRawTransaction`` before its automine has mined the transaction."""
    for tx in journal.live_txs():
        chain.provider.web3.eth.wait_for_transaction_receipt(tx["hash"], timeout=30)


def onchain(contracts, claim_id):
    stored = contracts.claims.contract.getClaim(bytes.fromhex(claim_id[2:]))
    return ClaimStatus(int(stored.status)), int(stored.approved)


# ---------------------------------------------------------------------- rules (no chain)


def test_rules_decide_deny_approve_manual():
    r = rules()
    covered = 1 << Category.ENCOUNTER
    enc = [Category.ENCOUNTER]
    assert r.decide(100 * USD, 6, ["99499"], enc, covered, False).action == "deny"
    approve = r.decide(300 * USD, 6, ["99213"], enc, covered, False)
    assert (approve.action, approve.amount) == ("approve", 300 * USD)
    big = r.decide(500 * USD, 6, ["99213"], enc, covered, False)
    assert big.action == "manual" and "limit" in big.reason
    uncovered = r.decide(10 * USD, 6, ["99213"], [Category.CONDITION], covered, False)
    assert uncovered.action == "manual" and "condition" in uncovered.reason
    assert r.decide(10 * USD, 6, ["99213"], enc, covered, True).action == "manual"
    lenient = rules(approve__require_covered=False)
    assert lenient.decide(10 * USD, 6, ["1"], [Category.CONDITION], covered, False).action == (
        "approve"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ({"aprove": {}}, "unknown section"),
        ({"approve": {"bellow": "1"}}, "unknown key 'bellow'"),
        ({"settle": {"batch_size": 101}}, "1..100"),
        ({"chain": {"confirmations": 0}}, "at least 1"),
        ({"chain": {"fee_bump": 1.1}}, "1.125"),
    ],
)
def test_rules_refuse_bad_settings(data, message):
    with pytest.raises(ConfigurationError, match=message):
        Rules.from_dict(data)


def test_rules_file_example_loads():
    from carechain.settings import PROJECT_ROOT

    example = Rules.load(PROJECT_ROOT / "examples" / "insurer-rules.toml")
    assert example.approve_below == "500.00" and "99499" in example.deny_codes


# ---------------------------------------------------------------------- on anvil and Kubo


def test_worker_adjudicates_and_settles_a_stream(
    clients, covered, contracts, insurer_client, hospital_client, journal
):
    """Approve by rule, deny an excluded code, take an auto-approved claim as it is, queue
    the rest; everything approved is paid once, in batches; evidence reads are logged."""
    small = submit(clients, covered, 300 * USD, "99213")
    auto = submit(clients, covered, 150 * USD, "99212")  # approved on submission
    excluded = submit(clients, covered, 400 * USD, "99499")
    big = submit(clients, covered, 900 * USD, "99215")
    uncovered = submit(clients, covered, 250 * USD, "99211", evidence=2)
    before = contracts.claims.balance_of(hospital_client.address)

    worker = Worker(insurer_client, rules(), journal)
    worker.run(until_idle=True, max_steps=50)

    assert onchain(contracts, small)[0] is ClaimStatus.PAID
    assert onchain(contracts, auto)[0] is ClaimStatus.PAID
    assert onchain(contracts, excluded)[0] is ClaimStatus.DENIED
    assert onchain(contracts, big)[0] is ClaimStatus.SUBMITTED
    assert onchain(contracts, uncovered)[0] is ClaimStatus.SUBMITTED
    paid = onchain(contracts, small)[1] + onchain(contracts, auto)[1]
    assert contracts.claims.balance_of(hospital_client.address) - before == paid
    # nothing reserved but what the denial's dispute window could still award
    assert contracts.claims.escrow(insurer_client.address)[1] == 360 * USD  # 400 less 10%

    status = journal.status()
    assert status["paid_count"] == 2 and status["paid_total"] == paid
    assert status["claims"] == {"paid": 2, "denied": 1, "manual": 2}
    assert journal.claim(auto)["decided_by"] == "chain"
    assert {row["provider"] for row in journal.claims()} == {hospital_client.address}
    queue = {row["claim_id"]: row["note"] for row in journal.claims("manual")}
    assert "limit" in queue[big] and "condition" in queue[uncovered]
    # The three claims it judged were read with payment consent and logged for the patient.
    batches = contracts.access_log.batches(clients[1].address)
    assert sum(b.count for b in batches if b.reader == insurer_client.address) == 4

    # A human decides the queue; the worker carries it out.
    journal.decide_manually(big, 800 * USD, None)
    journal.decide_manually(uncovered, None, "not-medically-necessary")
    worker.run(until_idle=True, max_steps=50)
    assert onchain(contracts, big)[0] is ClaimStatus.PAID
    assert onchain(contracts, uncovered)[0] is ClaimStatus.DENIED
    assert journal.status()["claims"] == {"paid": 3, "denied": 2}


def test_a_manual_decision_is_refused_unless_queued(clients, covered, insurer_client, journal):
    small = submit(clients, covered, 300 * USD, "99213")
    Worker(insurer_client, rules(), journal).run(until_idle=True, max_steps=50)
    with pytest.raises(Exception, match="not waiting in the manual queue"):
        journal.decide_manually(small, 1, None)
    with pytest.raises(Exception, match="not in this worker's journal"):
        journal.decide_manually("0x" + "00" * 32, 1, None)


def test_claims_wait_for_confirmations(clients, covered, insurer_client, contracts, journal, chain):
    claim = submit(clients, covered, 300 * USD, "99213")
    worker = Worker(insurer_client, rules(chain__confirmations=3), journal)
    assert worker.step().scanned == 0  # its block is the head: 1 confirmation of 3
    chain.mine(1)
    assert worker.step().scanned == 0
    chain.mine(1)
    assert worker.step().scanned == 1  # 3 deep now; decided and approval sent
    assert journal.claim(claim)["state"] == "approve"  # sent, but not yet 3 deep
    mined(chain, journal)
    assert onchain(contracts, claim)[0] is ClaimStatus.APPROVED
    chain.mine(2)
    worker.step()
    assert journal.claim(claim)["state"] in ("approved", "paid")


def test_the_journal_is_readable_by_its_owner_only(journal):
    """It holds claim amounts and signed transactions; other users of the machine may not
    read it (nor its write-ahead log)."""
    journal.put("probe", "1")
    files = [journal.path, *journal.path.parent.glob(journal.path.name + "-*")]
    assert len(files) >= 2  # the database and its -wal
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}


def test_a_journal_for_another_insurer_is_refused(insurer_client, journal):
    Worker(insurer_client, rules(), journal)
    journal.put("insurer", "0x" + "11" * 20)
    with pytest.raises(ConfigurationError, match="belongs to insurer"):
        Worker(insurer_client, rules(), journal)


def test_a_stuck_settlement_is_replaced_and_lands_once(
    clients, covered, contracts, insurer_client, hospital_client, journal, chain
):
    """With mining paused the settlement gets no receipt; after ``replace_after`` it is
    re-signed with the same nonce at >= 1.125x the fees; exactly one of the two lands."""
    claim = submit(clients, covered, 300 * USD, "99213")
    worker = Worker(insurer_client, rules(settle__interval=3600), journal)
    worker.run(until_idle=False, max_steps=4)
    assert journal.claim(claim)["state"] == "approved"
    before = contracts.claims.balance_of(hospital_client.address)
    chain.provider.auto_mine = False
    try:
        worker.rules = rules()  # settle now
        worker.step()
        [stuck] = journal.live_txs()
        assert (stuck["kind"], stuck["state"]) == ("settle", "sent")
        time.sleep(0.3)
        assert worker.step().replaced == 1
        first, second = journal.live_txs()
        assert first["nonce"] == second["nonce"] and first["hash"] != second["hash"]
        assert second["max_fee"] >= 1.125 * first["max_fee"]
        assert second["priority_fee"] >= 1.125 * first["priority_fee"]
        chain.mine(1)
    finally:
        chain.provider.auto_mine = True
    worker.run(until_idle=True, max_steps=20)
    states = dict(journal.db.execute("SELECT hash, state FROM txs WHERE kind='settle'"))
    assert sorted(states.values()) == ["done", "superseded"]
    assert states[second["hash"]] == "done"
    web3 = chain.provider.web3
    assert web3.eth.get_transaction_receipt(second["hash"])["status"] == 1
    with pytest.raises(TransactionNotFound):
        web3.eth.get_transaction_receipt(first["hash"])
    approved = onchain(contracts, claim)[1]
    assert contracts.claims.balance_of(hospital_client.address) - before == approved
    assert journal.status()["replacements"] == 1


def test_a_reorg_that_drops_processed_blocks_is_redone(
    clients, covered, contracts, insurer_client, hospital_client, journal, chain
):
    """anvil_reorg replaces every block holding the worker's transactions (receipts,
    approvals, settlement): the chain forgets the payments; the worker notices, re-sends
    its journaled transactions, and every claim ends paid exactly once."""
    ids = [submit(clients, covered, (300 + i) * USD, f"9921{i}") for i in range(3)]
    fork_point = chain.blocks.height
    before = contracts.claims.balance_of(hospital_client.address)
    worker = Worker(insurer_client, rules(), journal)
    worker.run(until_idle=True, max_steps=50)
    paid = sum(onchain(contracts, c)[1] for c in ids)
    assert contracts.claims.balance_of(hospital_client.address) - before == paid

    chain.provider.make_request("anvil_reorg", [chain.blocks.height - fork_point, []])
    assert all(onchain(contracts, c)[0] is ClaimStatus.SUBMITTED for c in ids)
    assert contracts.claims.balance_of(hospital_client.address) == before

    worker.run(until_idle=True, max_steps=50)
    assert journal.status()["reorgs"] == 1
    assert all(onchain(contracts, c)[0] is ClaimStatus.PAID for c in ids)
    assert contracts.claims.balance_of(hospital_client.address) - before == paid
    assert journal.status()["paid_total"] == paid


def test_kubo_down_is_retried_with_a_clear_error(
    clients, covered, contracts, insurer_client, journal
):
    """Evidence cannot be read: the worker logs what is wrong, backs off and retries; it
    neither crashes nor decides anything."""
    claim = submit(clients, covered, 300 * USD, "99213")
    dead = IPFSClient("http://127.0.0.1:9", timeout=1)
    offline = Insurer(insurer_client.account, contracts, dead, insurer_client.key_pair)
    worker = Worker(offline, rules(), journal)
    threading.Timer(2.5, worker.stop).start()
    worker.run(until_idle=True)
    assert "IPFS" in journal.get("last_error") or "Kubo" in journal.get("last_error")
    assert journal.claim(claim)["state"] == "new"
    assert onchain(contracts, claim)[0] is ClaimStatus.SUBMITTED
    Worker(insurer_client, rules(), journal).run(until_idle=True, max_steps=50)
    assert onchain(contracts, claim)[0] is ClaimStatus.PAID


def test_status_queue_and_decide_commands(
    clients, covered, contracts, insurer_client, hospital_client, tmp_path
):
    """The offline commands an operator uses: status (as JSON and a table), the manual
    queue with its reasons, and a decision the worker then carries out."""
    from click.testing import CliRunner

    from carechain.cli import main

    big = submit(clients, covered, 900 * USD, "99215")
    db = tmp_path / "ops.sqlite"
    journal = Journal(db)
    worker = Worker(insurer_client, rules(), journal)
    worker.run(until_idle=True, max_steps=20)
    runner = CliRunner()

    status = runner.invoke(main, ["insurer", "status", "--db", str(db), "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["manual_queue"] == 1
    table = runner.invoke(main, ["insurer", "status", "--db", str(db)])
    assert "manual queue" in table.output and "lag at last step" in table.output
    assert table.output.count("claims paid") == 1
    queue = runner.invoke(main, ["insurer", "queue", "--db", str(db)])
    # the whole id, as `insurer decide` takes it, and the provider's address
    assert big in queue.output and "limit" in queue.output
    assert hospital_client.address in queue.output

    too_much = runner.invoke(main, ["insurer", "decide", big, "--approve", "901", "--db", str(db)])
    assert too_much.exit_code != 0 and "between 0 and the amount claimed" in too_much.output
    both = runner.invoke(main, ["insurer", "decide", big, "--db", str(db)])
    assert both.exit_code != 0 and "exactly one of" in both.output
    ok = runner.invoke(main, ["insurer", "decide", big, "--approve", "850.00", "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    worker.run(until_idle=True, max_steps=20)
    assert onchain(contracts, big)[0] is ClaimStatus.PAID
    assert runner.invoke(main, ["insurer", "queue", "--db", str(db)]).output.startswith(
        "the manual queue is empty"
    )
    missing = runner.invoke(main, ["insurer", "status", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and "no worker journal" in missing.output
    journal.close()


def test_a_worker_started_from_a_later_block_knows_earlier_policies(
    clients, covered, contracts, insurer_client, journal, chain
):
    """--from-block skips old claims, not the policies they need: a claim submitted after
    the start block under a policy issued before it is still handled."""
    old = submit(clients, covered, 300 * USD, "99213")
    start = chain.blocks.height + 1
    new = submit(clients, covered, 310 * USD, "99214")
    Worker(insurer_client, rules(), journal, start_block=start).run(until_idle=True, max_steps=50)
    assert onchain(contracts, new)[0] is ClaimStatus.PAID
    assert onchain(contracts, old)[0] is ClaimStatus.SUBMITTED  # before the start block
    assert journal.claim(old) is None


def test_the_worker_releases_an_undisputed_denials_reserve(
    clients, covered, contracts, insurer_client, journal, chain
):
    """A denial reserves what a dispute could award; once its 14-day window closed
    undisputed, the worker finalizes it and the reserve returns to the escrow."""
    denied = submit(clients, covered, 400 * USD, "99499")
    worker = Worker(insurer_client, rules(), journal)
    worker.run(until_idle=True, max_steps=50)
    assert onchain(contracts, denied)[0] is ClaimStatus.DENIED
    assert contracts.claims.escrow(insurer_client.address)[1] == 360 * USD
    chain.mine(timestamp=chain.blocks.head.timestamp + 15 * 86400)
    worker.run(until_idle=True, max_steps=50)
    mined(chain, journal)
    assert contracts.claims.escrow(insurer_client.address)[1] == 0
    assert contracts.claims.denial(bytes.fromhex(denied[2:])) == (0, 0)


# ---------------------------------------------------------------------- receipts anchoring


def _receipts_rows(journal):
    return journal.db.execute("SELECT * FROM txs WHERE kind = 'receipts' ORDER BY id").fetchall()


def test_a_receipts_anchor_that_reverts_is_journaled_logged_and_retried(
    clients, covered, contracts, insurer_client, journal, monkeypatch, caplog
):
    """The evidence reads' receipts anchor reverts on-chain (here: out of gas). The worker
    keeps the failed row, logs that the patient's trail lacks those reads, and anchors the
    same batch again; the patient's trail then shows the reads."""
    claim = submit(clients, covered, 300 * USD, "99213")
    worker = Worker(insurer_client, rules(), journal)
    real_prepare = worker.node.prepare
    log_address = contracts.access_log.address.lower()
    starved = []

    def prepare(signer, to, data, gas=None):
        txn = real_prepare(signer, to, data, gas)
        if str(to).lower() == log_address and not starved:
            starved.append(txn)
            txn["gas"] = 37_500  # enough to be mined, not to anchor
        return txn

    monkeypatch.setattr(worker.node, "prepare", prepare)
    with caplog.at_level("INFO", logger="carechain.worker"):
        worker.run(until_idle=True, max_steps=50)

    assert onchain(contracts, claim)[0] is ClaimStatus.PAID
    rows = _receipts_rows(journal)
    assert [r["state"] for r in rows] == ["retried", "done"]
    assert rows[0]["error"].startswith("reverted in block")
    assert rows[0]["args"] == rows[1]["args"]  # the same batch, anchored again
    assert any(r.getMessage() == "receipts-not-anchored" for r in caplog.records)
    assert journal.status()["unanchored_receipts"] == []
    patient = clients[1]
    reads = [e for e in patient.audit_trail() if e.reader == insurer_client.address]
    assert reads and all(e.verified for e in reads)


def test_a_refused_receipts_anchor_is_kept_retried_and_surfaced(
    clients, covered, contracts, insurer_client, journal, monkeypatch, caplog, tmp_path
):
    """The chain refuses the anchor before it is sent (here: a batch the contract calls
    invalid, every time). The worker journals the refusal with the contract's error, logs
    it, retries with back-off up to RECEIPT_ATTEMPTS, and then shows the batch in `insurer
    status`; the claims are still decided and paid."""
    from dataclasses import replace

    from click.testing import CliRunner

    from carechain.cli import main
    from carechain.worker import RECEIPT_ATTEMPTS

    claim = submit(clients, covered, 300 * USD, "99213")
    book = insurer_client.receipts
    real_seal = book.seal
    monkeypatch.setattr(book, "seal", lambda patient: replace(real_seal(patient), count=0))
    worker = Worker(insurer_client, rules(), journal)
    with caplog.at_level("INFO", logger="carechain.worker"):
        worker.run(until_idle=True, max_steps=80)

    assert onchain(contracts, claim)[0] is ClaimStatus.PAID
    rows = _receipts_rows(journal)
    assert [r["state"] for r in rows] == ["retried"] * (RECEIPT_ATTEMPTS - 1) + ["refused"]
    assert all(r["nonce"] == -1 and r["error"].startswith("InvalidBatch(") for r in rows)
    failures = [r for r in caplog.records if r.getMessage() == "receipts-not-anchored"]
    assert len(failures) == RECEIPT_ATTEMPTS
    [batch] = journal.status()["unanchored_receipts"]
    assert batch["attempts"] == RECEIPT_ATTEMPTS and not batch["retrying"]
    assert batch["patient"] == clients[1].address and "InvalidBatch" in batch["error"]

    journal.close()
    table = CliRunner().invoke(main, ["insurer", "status", "--db", str(tmp_path / "worker.sqlite")])
    assert table.exit_code == 0, table.output
    assert "receipt batches not anchored" in table.output and "gave up" in table.output


def test_the_worker_catches_up_behind_an_endpoint_that_caps_ranges_and_results(
    clients, covered, contracts, insurer_client, journal, chain
):
    """A worker whose node is a capped endpoint (400 blocks, 3 results per eth_getLogs)
    reads its policies and claims across 2,000 empty blocks and pays every claim once."""
    from carechain.onchain import Contracts, Node
    from tests.helpers import LimitedRpc

    claims = []
    for codes in (("99211", "99212"), ("99213", "99214")):  # one claim per code and day
        claims += [submit(clients, covered, 300 * USD, code) for code in codes]
        chain.provider.make_request("anvil_mine", [hex(1_000), "0x0"])
    with LimitedRpc(chain.provider.uri, max_blocks=400, max_results=3) as endpoint:
        behind = Insurer(
            insurer_client.account,
            Contracts(contracts.deployment, node=Node(endpoint.url)),
            insurer_client.ipfs,
            insurer_client.key_pair,
        )
        Worker(behind, rules(), journal).run(until_idle=True, max_steps=60)
    assert endpoint.refused > 0
    assert [onchain(contracts, c)[0] for c in claims] == [ClaimStatus.PAID] * 4
    assert journal.status()["paid_count"] == 4


def test_decisions_sent_together_skip_a_refused_one_without_a_nonce_gap(
    clients, covered, contracts, insurer_client, journal, chain
):
    """Decisions are estimated, written and sent as one batch; one the chain would refuse
    (here: approved by hand, outside the worker, meanwhile) is told to the worker and takes
    no nonce, so the others are numbered without a gap and land."""
    taken = submit(clients, covered, 300 * USD, "99213")
    fresh = submit(clients, covered, 310 * USD, "99214")
    insurer_client.approve(bytes.fromhex(taken[2:]), 300 * USD)
    worker = Worker(insurer_client, rules(), journal)
    nonce = chain.provider.web3.eth.get_transaction_count(insurer_client.address, "pending")

    sent = worker.outbox.submit_many(
        [("approve", [taken, 300 * USD]), ("approve", [fresh, 310 * USD])]
    )
    assert sent == 1
    [tx] = journal.live_txs()
    assert tx["nonce"] == nonce and json.loads(tx["args"]) == [fresh, 310 * USD]
    mined(chain, journal)
    assert onchain(contracts, fresh)[0] is ClaimStatus.APPROVED
    assert onchain(contracts, taken)[0] is ClaimStatus.APPROVED  # by hand, once
