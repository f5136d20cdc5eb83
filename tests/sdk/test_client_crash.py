"""The hospital's client killed between sending its anchoring transaction and reading the
receipt: run again, it anchors nothing twice.

Idempotent anchoring derives each record id from the patient and the FHIR resource's
logical id under a key only the hospital holds, so a re-run finds what the interrupted run
anchored. The kill test runs the real CLI (`carechain records anchor`) in a child process
attached to this session's anvil (through a relay that withholds receipts) and Kubo: the
child sends its transaction, anvil mines it, and the child is SIGKILLed while it waits
for the receipt."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from carechain import Hospital, InvalidRecordError, KeyPair
from carechain.fhir import dumps as fhir_dumps
from carechain.keystore import save_key_pair
from carechain.samples import chart

pytestmark = pytest.mark.integration


def with_ids(resources, prefix):
    """FHIR resources as an EHR exports them: each with its logical id."""
    return [dict(r, id=f"{prefix}-{i}") for i, r in enumerate(resources)]


def nonce(chain, address):
    return chain.provider.web3.eth.get_transaction_count(address, "pending")


def test_idempotent_anchoring_sends_nothing_the_second_time(
    hospital_client, patient_client, contracts, chain
):
    items = [(patient_client.address, r) for r in with_ids(chart(11, "MRN-11"), "sdk")]
    first = hospital_client.anchor_records(items, idempotent=True)
    assert not any(ref.existing for ref in first)
    sent = nonce(chain, hospital_client.address)

    again = hospital_client.anchor_records(items, idempotent=True)
    assert nonce(chain, hospital_client.address) == sent  # no transaction
    assert all(ref.existing for ref in again)
    for a, b in zip(first, again, strict=True):
        assert (a.record_id, a.cid, a.digest, a.transaction, a.category) == (
            b.record_id, b.cid, b.digest, b.transaction, b.category,
        )  # fmt: skip
    # a batch mixing old and new records anchors only the new one, in input order
    extra = (patient_client.address, dict(chart(12, "MRN-12")[3], id="sdk-new"))
    mixed = hospital_client.anchor_records([items[0], extra, items[1]], idempotent=True)
    assert [ref.existing for ref in mixed] == [True, False, True]
    assert patient_client.read_record(mixed[1].record_id).resource["id"] == "sdk-new"


def test_existence_is_asked_in_batches_with_the_same_answers(
    hospital_client, patient_client, contracts, monkeypatch
):
    """The idempotent check asks the node about many records in JSON-RPC batches (one HTTP
    request per 500), answering exactly as one call per record would."""
    items = [(patient_client.address, r) for r in chart(13, "MRN-13")[:3]]
    anchored = [ref.record_id for ref in hospital_client.anchor_records(items)]
    ids = [anchored[0], os.urandom(32), anchored[1], os.urandom(32), anchored[2]]
    one_by_one = [contracts.registry.exists(i) for i in ids]
    assert one_by_one == [True, False, True, False, True]

    def no_single_calls(*args):
        raise AssertionError("asked one record at a time")

    node = contracts.registry.contract.node
    monkeypatch.setattr(node, "call", no_single_calls)
    assert contracts.registry.exists_each(ids) == one_by_one
    method = contracts.registry.contract.recordExists
    raws = node.calls(method.contract.address, [method.encode(i) for i in ids], chunk=2)
    assert [method.function.decode(raw) for raw in raws] == one_by_one
    assert contracts.registry.exists_each([]) == []


def test_heads_are_asked_in_batches_with_the_same_answers(
    hospital_client, patient_client, contracts, monkeypatch
):
    """A listing asks the node for every record's head and author in a few batched requests,
    answering as one head() per record would; an unknown record is named."""
    from carechain.errors import RecordNotFoundError

    items = [(patient_client.address, r) for r in chart(14, "MRN-14")]
    ids = [ref.record_id for ref in hospital_client.anchor_records(items)]
    one_by_one = [contracts.registry.head(i) for i in ids]
    node = contracts.registry.contract.node
    asked = []
    real_calls = node.calls
    monkeypatch.setattr(node, "call", lambda *a: pytest.fail("asked one record at a time"))
    monkeypatch.setattr(node, "calls", lambda *a, **k: asked.append(a) or real_calls(*a, **k))
    assert contracts.registry.heads(ids) == one_by_one
    assert len(asked) == 2  # the heads, then their authors
    listed = {head.record_id: head for head, _ in patient_client.list_records()}
    assert [listed[i] for i in ids] == one_by_one
    monkeypatch.undo()
    unknown = os.urandom(32)
    with pytest.raises(RecordNotFoundError, match=unknown.hex()):
        contracts.registry.heads([ids[0], unknown])


def test_derived_ids_are_keyed_and_need_a_fhir_id(
    hospital_client, patient_client, contracts, ipfs, other_hospital
):
    resource = dict(chart(13, "MRN-13")[3], id="obs-1")
    mine = hospital_client.record_id_for(patient_client.address, resource)
    assert mine == hospital_client.record_id_for(patient_client.address, dict(resource))
    other = Hospital(other_hospital, contracts, ipfs, KeyPair.generate())
    assert other.record_id_for(patient_client.address, resource) != mine  # keyed per hospital
    plain = f"{patient_client.address.lower()}\nObservation/obs-1".encode()
    assert mine != hashlib.sha256(plain).digest()  # not guessable from the identifiers

    no_id = chart(13, "MRN-13")[3]
    with pytest.raises(InvalidRecordError, match="needs a FHIR id"):
        hospital_client.anchor_records([(patient_client.address, no_id)], idempotent=True)
    # In a batch, one resource without an id refuses them all, named, and nothing is stored.
    before = len(contracts.registry.records_of(patient_client.address))
    batch = [(patient_client.address, r) for r in with_ids(chart(14, "MRN-14")[:3], "b")]
    batch.insert(1, (patient_client.address, no_id))
    with pytest.raises(InvalidRecordError, match=r"item 1 \(Observation\) has none"):
        hospital_client.anchor_records(batch, idempotent=True)
    assert len(contracts.registry.records_of(patient_client.address)) == before
    twice = [(patient_client.address, resource), (patient_client.address, dict(resource))]
    with pytest.raises(InvalidRecordError, match=r"Observation/obs-1 .* items 0 and 1"):
        hospital_client.anchor_records(twice, idempotent=True)
    assert not contracts.registry.exists(mine)  # nothing was anchored


class ReceiptSwallowingProxy:
    """A JSON-RPC relay on 127.0.0.1 in front of the session's anvil that forwards every
    call except ``eth_getTransactionReceipt``, which it answers with "not mined yet": a
    client behind it sends its transaction (anvil mines it at once) and then waits for a
    receipt it never gets — the window in which the test kills it."""

    def __init__(self, upstream: str) -> None:
        proxy = self
        self.upstream = upstream
        self.sent: list[str] = []
        self.waiting = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reply = proxy.relay(json.loads(body))
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def relay(self, call):
        if isinstance(call, list):
            return [self.relay(item) for item in call]
        if call.get("method") == "eth_getTransactionReceipt" and self.sent:
            self.waiting.set()
            return {"jsonrpc": "2.0", "id": call.get("id"), "result": None}
        request = urllib.request.Request(
            self.upstream, json.dumps(call).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.loads(response.read())
        if call.get("method") == "eth_sendRawTransaction" and "result" in reply:
            self.sent.append(reply["result"])
        return reply

    def close(self) -> None:
        self.server.shutdown()


def test_killed_between_send_and_receipt_a_rerun_does_not_duplicate(
    tmp_path, hospital_client, patient_client, contracts, kubo, chain
):
    contracts.deployment.save(tmp_path / "deployments")
    save_key_pair(hospital_client.key_pair, tmp_path / "hospital.key")
    files = []
    for resource in with_ids(chart(21, "MRN-21"), "cli"):
        path = tmp_path / f"{resource['id']}.json"
        path.write_text(fhir_dumps(resource))
        files.append(str(path))
    assert hospital_client.address == str(chain.provider.account_manager.test_accounts[1])
    command = [
        str(Path(sys.executable).parent / "carechain"),
        "records", "anchor", *files,
        "--patient", patient_client.address,
        "--key", str(tmp_path / "hospital.key"),
        "--account", "TEST::1",  # the hospital fixture
    ]  # fmt: skip
    env = {
        **os.environ,
        "CARECHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "CARECHAIN_IPFS_API": kubo.api_url,
    }
    before = len(contracts.registry.records_of(patient_client.address))
    proxy = ReceiptSwallowingProxy(chain.provider.uri)
    try:
        child = subprocess.Popen(
            command,
            env={**env, "CARECHAIN_RPC_URL": proxy.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proxy.waiting.wait(timeout=240), "the client never sent its transaction"
            child.send_signal(signal.SIGKILL)  # sent and mined; the receipt never read
            out, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    finally:
        proxy.close()
    assert child.returncode == -signal.SIGKILL
    assert b"record 0x" not in out  # it never learned the outcome
    [tx] = proxy.sent
    assert chain.provider.web3.eth.get_transaction_receipt(tx)["status"] == 1
    assert len(contracts.registry.records_of(patient_client.address)) == before + len(files)
    sent = nonce(chain, hospital_client.address)

    rerun = subprocess.run(
        command,
        env={**env, "CARECHAIN_RPC_URL": chain.provider.uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    lines = [line for line in rerun.stdout.splitlines() if ": record 0x" in line]
    assert len(lines) == len(files) and all("already anchored" in line for line in lines)
    assert nonce(chain, hospital_client.address) == sent  # nothing sent the second time
    anchored = contracts.registry.records_of(patient_client.address)
    assert len(anchored) == before + len(files)  # exactly once
    ids = {line.split("record ")[1].split()[0] for line in lines}
    assert ids <= {"0x" + v.record_id.hex() for v in anchored}
    opened = patient_client.read_record(bytes.fromhex(lines[0].split("record 0x")[1].split()[0]))
    assert opened.resource["id"] == "cli-0"
