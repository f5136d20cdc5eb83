"""A million records: what one patient's, one insurer's and the worker's reads cost as the
chain grows, measured on one chain grown from 10,000 to 100,000 to 1,000,000 records.

    make bench                      (or: python bench/scale.py)
    SCALE_MAX=100k python bench/scale.py     (stop after 100k records, to try it out)

The chain: its own anvil (auto-impersonation, so the bulk is sent unsigned and fast), the
contracts deployed as ``make demo`` deploys them, and a managed Kubo node.

- The measured parties are real: a hospital anchors 50 FHIR records (validated, encrypted,
  on Kubo) for the measured patient; a doctor the patient consented to reads five of them
  (access receipts anchored); an insurer issues the patient a policy and the hospital bills
  it five claims (encrypted FHIR Claims) that stay open.
- The bulk goes through the real contracts with synthetic digests: 10,000 patients, their
  records anchored by a bulk hospital in ``anchorBatch`` es of 500, and per 100 records (one
  per patient by the end) a ``grantBatch`` of two consents (payment to a bulk insurer,
  treatment to the bulk hospital), a policy, a claim citing one of the patient's records and
  an access-receipt batch.

At each size: the first sync of a fresh index (in a process of its own, for its time and peak
RSS), listing the patient's 50 records after catch-up, the patient's audit trail, the
insurer's open claims, and the worker's catch-up (its scan of policies and claims from the
deployment). Peak memory of the in-process measures is the rise of this process's peak RSS
during the measure. Writes bench/results/scale.json; ``summary.py`` adds it to the summary.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "src"))

from carechain import (  # noqa: E402
    ClaimStatus,
    Deployment,
    Hospital,
    Insurer,
    KeyPair,
    KuboNode,
    Party,
    Patient,
    Purpose,
    Scope,
    deploy,
)
from carechain.fhir import Category  # noqa: E402
from carechain.onchain import Contracts, Node  # noqa: E402
from carechain.samples import chart  # noqa: E402
from carechain.worker import Journal, Rules, Worker  # noqa: E402

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
PATIENTS = 10_000
BATCH = 500  # RecordRegistry.MAX_BATCH
RECORDS_PER_BLOCK = 10_000  # a block of 20 anchorBatch es and their groups: ~310M gas
RECORDS_PER_GROUP = 100  # one consent batch, policy, claim and receipt batch per 100 records
MEASURED_RECORDS = 50
REPEATS = 7
USD = 10**6
DAY = 86_400


def _address(kind: bytes, number: int) -> str:
    from eth_utils import keccak, to_checksum_address

    return to_checksum_address(keccak(kind + number.to_bytes(8, "big"))[12:])


def _word(kind: bytes, number: int) -> bytes:
    from eth_utils import keccak

    return keccak(kind + number.to_bytes(8, "big"))


# --------------------------------------------------------------------------- measuring


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


@contextmanager
def peak_rise() -> Iterator[dict[str, float]]:
    """The rise of this process's peak RSS over its RSS before the block (Linux: writing 5 to
    clear_refs resets the peak to the current RSS)."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_mib("VmRSS")
    out: dict[str, float] = {}
    yield out
    out["peak_mib"] = max(0.0, _rss_mib("VmHWM") - before)


def timed(function: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float, Any]:
    """(median ms over ``repeats`` runs after one warm-up, peak RSS rise in MiB, result)."""
    result = function()
    times = []
    with peak_rise() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            result = function()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), memory["peak_mib"], result


def first_sync(deployment: Path, url: str, index: Path) -> dict[str, float]:
    """A fresh index caught up, in a process of its own (python bench/scale.py sync ...):
    seconds, logs read and that process's peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "sync", str(deployment), url, str(index)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _sync(deployment: str, url: str, index: str) -> None:
    node = Node(url)
    path = Path(deployment)
    contracts = Contracts(Deployment.load(path.stem, path.parent), node, Path(index))
    start = time.perf_counter()
    events = contracts.index.catch_up()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "events": events, "peak_mib": peak}))


# --------------------------------------------------------------------------- the chain


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def anvil(folder: Path) -> Iterator[str]:
    """Our own anvil (tools/anvil.sh: no old states on disk), impersonating any sender."""
    port = _free_port()
    log = open(folder / "anvil.log", "wb")  # noqa: SIM115 - the process writes it
    process = subprocess.Popen(
        [str(ROOT / ".tools/bin/anvil"), "--host", "127.0.0.1", "--port", str(port),
         "--chain-id", "1337", "--accounts", "10", "--auto-impersonate",
         "--order", "fifo", "--prune-history", "8", "--gas-limit", "500000000"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        node = Node(url)
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"anvil stopped: {(folder / 'anvil.log').read_text()}")
            try:
                node.block_number()
                break
            except Exception:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def anvil_rss_mib(url: str) -> float:
    """The anvil process's RSS (found by its port)."""
    port = url.rsplit(":", 1)[1]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"anvil" in cmd[0] and port.encode() in cmd:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return 0.0


class Bulk:
    """The synthetic bulk: records for 10,000 patients and, per 100 records, the consents,
    policy, claim and access receipts of one patient; sent unsigned (anvil impersonates)."""

    def __init__(self, node: Node, contracts: Contracts, governor: str, policies: int) -> None:
        self.node = node
        self.contracts = contracts
        self.hospital = _address(b"scale-hospital", 0)
        self.insurer = _address(b"scale-insurer", 0)
        self.reader = _address(b"scale-reader", 0)
        self.records = 0
        self.groups = 0
        self.policy_count = policies  # the policy ids issued so far
        self.sent = 0
        self._claims: list[tuple[str, int, bytes, int]] = []
        self._nonces: dict[str, int] = {}
        now = node.head_timestamp()
        self.today = now // DAY
        self.policy_start, self.policy_end = now - 2 * DAY, now + 365 * DAY
        self._fund([self.hospital, self.insurer, self.reader])
        registry = contracts.registry.contract
        self._send([
            self._tx(governor, registry, "grantRole", bytes.fromhex(_role("PROVIDER")),
                     self.hospital),
            self._tx(governor, registry, "grantRole", bytes.fromhex(_role("INSURER")),
                     self.insurer),
        ])  # fmt: skip
        self._settle()

    def _fund(self, addresses: list[str]) -> None:
        for start in range(0, len(addresses), 1000):
            self.node.batch(
                [("anvil_setBalance", [a, hex(10**22)]) for a in addresses[start : start + 1000]]
            )

    @staticmethod
    def _tx(sender: str, contract: Any, function: str, *args: Any, gas: int = 600_000) -> dict:
        data = contract.abi.function(function).encode(*args)
        return {"from": sender, "to": contract.address, "data": "0x" + data.hex(),
                "gas": hex(gas)}  # fmt: skip

    def _send(self, txs: list[dict]) -> None:
        for tx in txs:  # nonces set here: anvil answers a batch's sends concurrently
            sender = tx["from"]
            if sender not in self._nonces:
                self._nonces[sender] = self.node.nonce(sender)
            tx["nonce"] = hex(self._nonces[sender])
            self._nonces[sender] += 1
        chunk: list[dict] = []
        for n, tx in enumerate(txs):  # requests under anvil's 2 MB limit
            chunk.append(tx)
            size = sum(len(t["data"]) for t in chunk)
            if n + 1 == len(txs) or len(chunk) == 200 or size + len(txs[n + 1]["data"]) > 1 << 20:
                for reply in self.node.batch([("eth_sendTransaction", [t]) for t in chunk]):
                    if isinstance(reply, Exception):
                        raise reply
                    self._last = reply
                chunk = []
        self.sent += len(txs)

    def _settle(self) -> None:
        """Wait until the last transaction sent is mined, and check it did not revert."""
        receipt = self.node.wait_for_receipt(self._last)
        assert receipt.status == 1

    def _anchor_batch(self) -> dict:
        """The next 500 records, hand-encoded (a static tuple array: no eth-abi per item)."""
        function = self.contracts.registry.contract.abi.function("anchorBatch")
        body = bytearray(function.selector)
        body += (32).to_bytes(32, "big") + BATCH.to_bytes(32, "big")
        for k in range(self.records, self.records + BATCH):
            patient = bytes.fromhex(_address(b"scale-patient", k % PATIENTS)[2:])
            body += _word(b"scale-record", k) + bytes(12) + patient
            body += (1 + k % 7).to_bytes(32, "big") + _word(b"scale-cid", k)
        self.records += BATCH
        return {"from": self.hospital, "to": self.contracts.registry.address,
                "data": "0x" + body.hex(), "gas": hex(16_000_000)}  # fmt: skip

    def _group(self, j: int) -> list[dict]:
        """Patient j's consents (payment to the bulk insurer, treatment to the bulk hospital),
        policy and access-receipt batch; their claim is sent once these are mined."""
        patient = _address(b"scale-patient", j % PATIENTS)
        consent = self.contracts.consent.contract
        claims = self.contracts.claims.contract
        requests = [
            (grantee, 2, bytes(32), purpose, 0, self.policy_end, False, bytes(32))
            for grantee, purpose in ((self.insurer, 1), (self.hospital, 0))
        ]
        terms = (patient, 1_000 * USD, 0, 1_000, 0xFFFFFFFF, self.policy_start, self.policy_end, 0)
        self.policy_count += 1
        self._claims.append((patient, self.policy_count, _word(b"scale-record", j), j))
        return [
            self._tx(patient, consent, "grantBatch", patient, requests),
            self._tx(self.insurer, claims, "issuePolicy", terms),
            self._tx(self.reader, self.contracts.access_log.contract, "anchorBatch", patient,
                     _word(b"scale-root", j), _word(b"scale-batch", j), 3),
        ]  # fmt: skip

    def _claim_txs(self) -> list[dict]:
        claims = self.contracts.claims.contract
        txs = [
            self._tx(self.hospital, claims, "submitClaim",
                     (policy, patient, 120 * USD, self.today - 1, _word(b"scale-codes", j),
                      [record], _word(b"scale-claim", j)))
            for patient, policy, record, j in self._claims
        ]  # fmt: skip
        self._claims = []
        return txs

    def grow(self, target: int, progress: Callable[[int], None]) -> None:
        """Anchor records (and their groups) until there are ``target`` bulk records, in
        blocks of RECORDS_PER_BLOCK records mined on demand: anvil recomputes its state root
        over the whole state at every block, so at a million records a block costs seconds,
        and a block per transaction would take hours."""
        self.node.request("evm_setAutomine", [False])
        try:
            while self.records < target:
                txs = self._claim_txs()  # those of the last block's groups, mined by now
                for _ in range(RECORDS_PER_BLOCK // BATCH):
                    txs.append(self._anchor_batch())
                groups = range(self.groups, self.records // RECORDS_PER_GROUP)
                self._fund([_address(b"scale-patient", j % PATIENTS) for j in groups])
                for j in groups:
                    txs += self._group(j)
                self.groups = self.records // RECORDS_PER_GROUP
                self._send(txs)
                self._mine()
                progress(self.records)
            self._send(self._claim_txs())
            self._mine()
        finally:
            self.node.request("evm_setAutomine", [True])

    def _mine(self) -> None:
        """Mine what was sent (in as many blocks as it takes) and check the last did not
        revert (the measures count every event, so any other revert shows there)."""
        while True:
            self.node.request("evm_mine", [])
            status = self.node.request("txpool_status")
            if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                break
        self._settle()


def _role(name: str) -> str:
    from carechain.model import ROLES

    return bytes(ROLES[name.lower()]).hex()


# --------------------------------------------------------------------------- the bench


@dataclass
class Measured:
    """What the measures need: the chain, the deployment and the measured parties."""

    folder: Path
    url: str
    deployment: Deployment
    deployment_file: Path
    kubo: KuboNode
    patient: Patient
    insurer: Insurer
    bulk: Bulk


def main() -> None:
    from ape import accounts, networks
    from ape.logging import logger

    logger.set_level("WARNING")
    console = Console()
    limit = os.environ.get("SCALE_MAX", "1M")
    if limit not in SIZES:
        raise SystemExit(f"SCALE_MAX must be one of {', '.join(SIZES)}, not {limit!r}")
    sizes = {k: v for k, v in SIZES.items() if v <= SIZES[limit]}
    results: dict[str, Any] = {"patients": PATIENTS, "records_per_block": RECORDS_PER_BLOCK,
                               "sizes": {}}  # fmt: skip
    began = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="carechain-scale-"))
    try:
        with (
            anvil(folder) as url,
            networks.parse_network_choice(f"ethereum:local:{url}"),
            KuboNode(folder / "kubo") as kubo,
        ):
            governor, *parties = accounts.test_accounts[:5]
            node = Node(url)
            deployment = deploy(governor)
            contracts = Contracts(deployment, node)
            patient, insurer, policy = own_data(contracts, kubo, governor, *parties)
            bulk = Bulk(node, contracts, str(governor.address), policy)
            at = Measured(folder, url, deployment, deployment.save(folder), kubo, patient,
                          insurer, bulk)  # fmt: skip
            for label, size in sizes.items():
                start = time.perf_counter()
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task(f"growing the chain to {label} records", total=size)
                    bulk.grow(size, lambda n, t=task: bar.update(t, completed=n))
                built = time.perf_counter() - start
                console.print(
                    f"{label}: built in {built:.0f} s ({bulk.sent:,} transactions, head "
                    f"{node.block_number():,}, anvil {anvil_rss_mib(url):,.0f} MiB)"
                )
                results["sizes"][label] = measure(label, at, console)
                results["sizes"][label]["build_s"] = built
                results["sizes"][label]["anvil_rss_mib"] = anvil_rss_mib(url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["seconds"] = time.perf_counter() - began
    report(results, console)


def own_data(
    contracts: Contracts, kubo: KuboNode, governor: Any, *accounts: Any
) -> tuple[Patient, Insurer, int]:
    """The measured parties and their own data, real: 50 FHIR records encrypted on Kubo, a
    doctor's five consented reads (their receipts anchored), a policy and five open claims."""
    hospital_acct, patient_acct, doctor_acct, insurer_acct = accounts
    registry = contracts.registry
    registry.admit(governor, "provider", hospital_acct)
    registry.admit(governor, "insurer", insurer_acct)
    hospital = Hospital(hospital_acct, contracts, kubo.client, KeyPair.generate())
    patient = Patient(patient_acct, contracts, kubo.client, KeyPair.generate())
    doctor = Party(doctor_acct, contracts, kubo.client, KeyPair.generate())
    insurer = Insurer(insurer_acct, contracts, kubo.client, KeyPair.generate())
    for party in (hospital, patient, doctor, insurer):
        party.publish_key()
    now = contracts.node.head_timestamp()
    year = now + 365 * DAY
    charts = [r for i in range(9) for r in chart(i, f"MRN-S{i}")][:MEASURED_RECORDS]
    refs = hospital.anchor_records([(patient.address, r) for r in charts])
    patient.grant_access(doctor.address, Scope.all(), Purpose.TREATMENT, year)
    for ref in refs[:5]:
        doctor.read_record(ref.record_id, purpose=Purpose.TREATMENT)
    doctor.receipts.flush()
    contracts.claims.token.mint(insurer_acct, 1_000_000 * USD, sender=governor)
    insurer.fund_escrow(100_000 * USD)
    policy = insurer.issue_policy(
        patient.address, 5_000 * USD, 0, 1_000, set(Category), now - 2 * DAY, year
    )
    patient.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, year)
    patient.grant_access(hospital.address, Scope.all(), Purpose.TREATMENT, year, share_keys=False)
    for n, ref in enumerate(refs[5:10]):
        item = (f"9921{n}", "Office visit", 150 * USD)
        hospital.bill(policy, insurer.address, patient.address, [item], [ref.record_id])
    return patient, insurer, policy


def measure(label: str, at: Measured, console: Console) -> dict[str, Any]:
    """Every measure at one size of the chain."""
    index = at.folder / f"index-{label}.sqlite"
    sync = first_sync(at.deployment_file, at.url, index)
    node = Node(at.url)
    indexed = Contracts(at.deployment, node, index)
    # every transaction of the bulk and of the measured parties did what it should
    g = at.bulk.groups
    expected = {
        "RecordAnchored": at.bulk.records + MEASURED_RECORDS,
        "ConsentGranted": 2 * g + 3,
        "PolicyIssued": g + 1,
        "ClaimSubmitted": g + 5,
        "AccessBatchAnchored": g + 1,
    }
    assert event_counts(indexed) == expected, (event_counts(indexed), expected)
    kubo = at.kubo.client
    me = Patient(at.patient.account, indexed, kubo, at.patient.key_pair)
    them = Insurer(at.insurer.account, indexed, kubo, at.insurer.key_pair)
    listing_ms, listing_mib, listed = timed(me.list_records)
    assert len(listed) == MEASURED_RECORDS
    trail_ms, trail_mib, trail = timed(me.audit_trail)
    assert len(trail) == 5 and not any(entry.problem for entry in trail)
    claims_ms, claims_mib, open_claims = timed(lambda: them.claims(ClaimStatus.SUBMITTED))
    assert len(open_claims) == 5
    # the worker reads the chain itself (paged eth_getLogs), as `carechain worker` does
    plain = Insurer(at.insurer.account, Contracts(at.deployment, node), kubo, at.insurer.key_pair)
    worker = Worker(plain, Rules(), Journal(at.folder / f"worker-{label}.sqlite"))
    with peak_rise() as memory:
        start = time.perf_counter()
        found = worker._scan(node.block_number() - worker.rules.confirmations + 1)
        worker_s = time.perf_counter() - start
    assert found == 5
    claims_read = g + 5
    out = {
        "records": at.bulk.records + MEASURED_RECORDS,
        "blocks": node.block_number(),
        "first_sync": {
            **sync,
            "events_per_s": sync["events"] / sync["seconds"],
            "index_mib": index.stat().st_size / 2**20,
        },
        "listing": {"ms": listing_ms, "peak_mib": listing_mib},
        "audit_trail": {"ms": trail_ms, "peak_mib": trail_mib},
        "open_claims": {"ms": claims_ms, "peak_mib": claims_mib},
        "worker_catchup": {
            "seconds": worker_s,
            "claims_read": claims_read,
            "events_per_s": claims_read / worker_s,
            "peak_mib": memory["peak_mib"],
        },
    }
    console.print(
        f"{label}: first sync {sync['events']:,} events in {sync['seconds']:.1f} s "
        f"({out['first_sync']['events_per_s']:,.0f}/s, peak {sync['peak_mib']:.0f} MiB); "
        f"listing {listing_ms:.1f} ms, audit trail {trail_ms:.1f} ms, open claims "
        f"{claims_ms:.1f} ms, worker catch-up {worker_s:.1f} s"
    )
    indexed.index.close()
    return out


def event_counts(contracts: Contracts) -> dict[str, int]:
    """How many of each bulk event the index holds."""
    out = {}
    for wrapper, name in (
        (contracts.registry, "RecordAnchored"),
        (contracts.consent, "ConsentGranted"),
        (contracts.claims, "PolicyIssued"),
        (contracts.claims, "ClaimSubmitted"),
        (contracts.access_log, "AccessBatchAnchored"),
    ):
        topic = bytes.fromhex(getattr(wrapper.contract, name).topic[2:])
        position = contracts.index.addresses.index(wrapper.contract.address.lower())
        (out[name],) = contracts.index.db.execute(
            "SELECT count(*) FROM logs WHERE address = ? AND topic0 = ?", (position, topic)
        ).fetchone()
    return out


def report(results: dict[str, Any], console: Console) -> None:
    table = Table(
        "records", "build s", "first sync s", "events/s", "peak MiB", "listing ms",
        "audit trail ms", "open claims ms", "worker catch-up s",
        title="one patient's and one insurer's reads as the chain grows",
    )  # fmt: skip
    for label, r in results["sizes"].items():
        table.add_row(
            label,
            f"{r['build_s']:.0f}",
            f"{r['first_sync']['seconds']:.1f}",
            f"{r['first_sync']['events_per_s']:,.0f}",
            f"{r['first_sync']['peak_mib']:.0f}",
            f"{r['listing']['ms']:.1f}",
            f"{r['audit_trail']['ms']:.1f}",
            f"{r['open_claims']['ms']:.1f}",
            f"{r['worker_catchup']['seconds']:.2f}",
        )
    console.print(table)
    console.print(f"whole bench: {results['seconds'] / 60:.1f} min")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'scale.json'}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "sync":
        _sync(*sys.argv[2:])
    else:
        main()
