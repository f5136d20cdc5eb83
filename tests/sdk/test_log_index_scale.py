"""The local index on a long, dense chain (issue 21, a million records): logs are read in
pages that shrink where blocks are full, a first sync is written page by page so that an
interrupted one resumes where it stopped, and a listing finds its rows through the index of
its topic instead of reading every log of the event. Figures at a million records:
bench/scale.py."""

import sqlite3

import pytest

from carechain.errors import ChainUnavailableError
from carechain.onchain import Contracts, Node, rpc
from carechain.onchain.index import LogIndex
from carechain.samples import chart


def dense_blocks(hospital_client, patient, chain, count=3, quiet=50):
    """``count`` blocks of 30 anchored records each, ``quiet`` empty blocks after each;
    returns their numbers."""
    numbers = []
    for i in range(count):
        records = [r for n in range(5) for r in chart(1000 * i + n, f"MRN-D{i}{n}")]
        hospital_client.anchor_records([(patient, r) for r in records])  # one transaction
        numbers.append(chain.blocks.height)
        chain.provider.make_request("anvil_mine", [hex(quiet), "0x0"])
    return numbers


def test_a_page_full_of_logs_makes_the_next_page_short(
    hospital_client, patient_client, contracts, chain, monkeypatch
):
    monkeypatch.setattr(rpc, "LOG_PAGE_TARGET", 10)
    monkeypatch.setattr(rpc, "LOG_PAGE_FULL", 20)
    first, second, third = dense_blocks(hospital_client, patient_client.address, chain)
    assert second - first < 60 < third - first
    node = Node(chain.provider.uri)
    node._log_span = 60  # as if quiet pages had grown it: the first page holds two full blocks
    registry = contracts.registry.address
    pages = list(node.log_pages(registry, [], first, third + 5))
    (high, full), (next_high, _) = pages[0], pages[1]
    assert len(full) == 60
    # 60 logs in 60 blocks: the next page asks for about LOG_PAGE_TARGET of them, 10 blocks
    assert next_high - high == 10
    assert max(len(page) for _, page in pages[1:]) == 30  # never more than the full block
    everything = node.request(
        "eth_getLogs", [{"address": registry, "fromBlock": hex(first), "toBlock": hex(third + 5)}]
    )
    assert [raw for _, page in pages for raw in page] == everything


class NodeThatGoesAway(Node):
    """A node that answers the first page of logs and then stops answering."""

    def log_pages(self, *args, **kwargs):
        pages = super().log_pages(*args, **kwargs)
        yield next(pages)
        raise ChainUnavailableError("the node went away")


def test_an_interrupted_first_sync_keeps_its_pages_and_resumes(
    hospital_client, patient_client, contracts, chain, tmp_path
):
    patient = patient_client.address
    dense_blocks(hospital_client, patient, chain, count=2)
    path = tmp_path / "index.sqlite"
    flaky = NodeThatGoesAway(chain.provider.uri)
    flaky._log_span = 2  # short pages: the first one ends well before the head
    indexed = Contracts(contracts.deployment, flaky, path)
    with pytest.raises(ChainUnavailableError):
        indexed.index.catch_up()
    kept = indexed.index.cursor
    assert contracts.deployment.block <= kept < chain.blocks.height
    indexed.index.close()

    again = Contracts(contracts.deployment, Node(chain.provider.uri), path)
    assert again.index.cursor == kept  # resumes after the page it wrote
    assert again.registry.records_of(patient) == contracts.registry.records_of(patient)
    assert len(again.registry.records_of(patient)) == 60
    indexes = {name for (name,) in again.index.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}  # fmt: skip
    assert {"logs_by_event", "logs_by_topic1", "logs_by_topic2", "logs_by_topic3"} <= indexes


def test_a_listing_reads_its_rows_through_its_topic_index(
    hospital_client, patient_client, contracts, chain, tmp_path
):
    patient = patient_client.address
    dense_blocks(hospital_client, patient, chain, count=1)
    indexed = Contracts(contracts.deployment, contracts.node, tmp_path / "index.sqlite")
    indexed.index.catch_up()
    asked = []
    indexed.index.db.set_trace_callback(asked.append)
    assert len(indexed.registry.records_of(patient)) == 30
    indexed.index.db.set_trace_callback(None)
    [query] = [sql for sql in asked if sql.startswith("SELECT * FROM logs")]
    plan = " ".join(str(row[-1]) for row in indexed.index.db.execute("EXPLAIN QUERY PLAN " + query))
    # the patient is RecordAnchored's second indexed argument: topic2
    assert "logs_by_topic2" in plan and "logs_by_event" not in plan


def test_a_file_of_the_old_layout_is_rebuilt(hospital_client, patient_client, contracts, tmp_path):
    patient = patient_client.address
    hospital_client.anchor_records([(patient, chart(77, "MRN-77")[0])])
    path = tmp_path / "index.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE logs (block INTEGER NOT NULL, log_index INTEGER NOT NULL,
            address TEXT NOT NULL, topic0 TEXT, topic1 TEXT, topic2 TEXT, topic3 TEXT,
            data TEXT NOT NULL, tx TEXT NOT NULL, block_hash TEXT NOT NULL,
            PRIMARY KEY (block, log_index));
        INSERT INTO meta VALUES ('scope', '1337:old'), ('cursor', '999999');"""
    )
    old.commit()
    old.close()
    index = LogIndex(path, contracts.node, [contracts.registry.address], contracts.deployment.block)
    assert index.cursor == contracts.deployment.block - 1  # nothing kept from the old file
    index.close()
    indexed = Contracts(contracts.deployment, contracts.node, path)
    assert indexed.registry.records_of(patient) == contracts.registry.records_of(patient)
