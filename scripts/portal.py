"""A first look at the portal: a local chain, a Kubo node, demo data and three portals.

    make portal      (or: ape run portal --network ethereum:local:foundry)

Deploys carechain on a fresh anvil; a hospital anchors alice's chart; alice consents to a
doctor (observations, for treatment), to her insurer (payment) and to the hospital; the doctor
reads once (so alice's audit trail has a line); the insurer funds an escrow and a policy, the
hospital bills two visits and the insurer's settlement worker, running here in the
background, approves the small one and leaves the large one for a human; a clinician opens
break-glass access (so alice sees an alert). Then it serves alice's, the doctor's and the
insurer's portals and prints the address of each, until Ctrl-C.

Each person would run their own `carechain portal` on their own machine; this puts all
three on one machine for a look. Everything is test data on a throwaway chain.
"""

import threading
import time
from datetime import date
from pathlib import Path

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand

from carechain import (
    Category,
    Contracts,
    Hospital,
    Insurer,
    KemSuite,
    KeyPair,
    KuboNode,
    Patient,
    Purpose,
    Scope,
)
from carechain.errors import ChainUnavailableError, IPFSUnavailableError
from carechain.fhir import loads
from carechain.names import AddressBook
from carechain.onchain.deploy import deploy
from carechain.portal import Portal, PortalServer
from carechain.samples import chart
from carechain.settings import get_settings
from carechain.worker import Journal, Rules, Worker

USD = 10**6
DAY = 86400
POTASSIUM = """{"resourceType": "Observation", "id": "k1", "status": "final",
 "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3",
 "display": "Potassium [Moles/volume] in Serum or Plasma"}], "text": "Potassium"},
 "effectiveDateTime": "2026-11-20T10:00:00Z",
 "valueQuantity": {"value": 4.10, "unit": "mmol/L"},
 "referenceRange": [{"low": {"value": 3.50}, "high": {"value": 5.10}}]}"""
RULES = {
    "approve": {"below": "500.00"},
    "settle": {"batch_size": 10, "interval": 0.0},
    "chain": {"confirmations": 1, "poll_interval": 1.0},
}


def run_worker(insurer: Insurer, path: Path, stop: threading.Event) -> None:
    """The insurer's settlement worker, stepping until ``stop`` (its own journal connection:
    SQLite connections stay on their thread)."""
    journal = Journal(path)
    worker = Worker(insurer, Rules.from_dict(RULES), journal)
    try:
        while not stop.is_set():
            result = worker.step()
            if not (result.sent or result.finalized or result.decided):
                stop.wait(1.0)
    except (ChainUnavailableError, IPFSUnavailableError):
        # Ctrl-C in a terminal stops anvil and Kubo too, perhaps before this thread
        if not stop.wait(5.0):
            raise
    finally:
        journal.close()


@click.command(cls=ConnectedProviderCommand)
def cli():
    """Start three portals on demo data."""
    governor, hospital_acct, _, alice_acct = accounts.test_accounts[:4]
    doctor_acct, insurer_acct = accounts.test_accounts[8], accounts.test_accounts[9]
    state = get_settings().state_dir
    with KuboNode(state / "portal-kubo") as node:
        contracts = Contracts(deploy(governor))  # not saved: `make chain`'s file stays
        contracts.registry.admit(governor, "provider", hospital_acct)
        contracts.registry.admit(governor, "insurer", insurer_acct)
        ipfs = node.client
        hospital = Hospital(hospital_acct, contracts, ipfs, KeyPair.generate())
        alice = Patient(alice_acct, contracts, ipfs, KeyPair.generate(KemSuite.MLKEM768_X25519))
        doctor = Hospital(doctor_acct, contracts, ipfs, KeyPair.generate())
        insurer = Insurer(insurer_acct, contracts, ipfs, KeyPair.generate())
        for party in (hospital, alice, doctor, insurer):
            party.publish_key()

        records = [*chart(1, "MRN-0001"), loads(POTASSIUM)]
        refs = hospital.anchor_records([(alice.address, r) for r in records])
        now = chain.blocks.head.timestamp
        alice.grant_access(
            doctor.address, Scope.category(Category.OBSERVATION), Purpose.TREATMENT, now + 30 * DAY
        )
        alice.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, now + 365 * DAY)
        alice.grant_access(
            hospital.address, Scope.all(), Purpose.TREATMENT, now + 365 * DAY, share_keys=False
        )
        potassium = refs[-1]
        doctor.read_record(potassium.record_id, purpose=Purpose.TREATMENT)
        doctor.receipts.flush()

        contracts.claims.token.mint(insurer_acct, 250_000 * USD, sender=governor)
        insurer.fund_escrow(100_000 * USD)
        policy_id = insurer.issue_policy(
            alice.address,
            limit=20_000 * USD,
            deductible=100 * USD,
            copay_bps=1_000,
            covered={Category.OBSERVATION, Category.ENCOUNTER},
            start=now - DAY,
            end=now + 365 * DAY,
        )
        visits = [r for r in refs if r.category in (Category.ENCOUNTER, Category.OBSERVATION)]
        for (code, label, amount), visit in zip(
            (("99213", "Office visit", 180), ("99215", "Specialist visit", 1_450)),
            visits,
            strict=False,
        ):
            hospital.bill(
                policy_id, insurer.address, alice.address, [(code, label, amount * USD)],
                [visit.record_id], date.today(),
            )  # fmt: skip
        hospital.open_break_glass(alice.address, "unconscious-in-ED", 4 * 3600)

        journal = state / "portal-demo-worker.sqlite"
        journal.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            journal.with_name(journal.name + suffix).unlink(missing_ok=True)
        stop = threading.Event()
        worker_client = Insurer(insurer_acct, contracts, ipfs, insurer.key_pair)
        worker = threading.Thread(
            target=run_worker, args=(worker_client, journal, stop), daemon=True
        )
        worker.start()
        time.sleep(3)  # the worker's first steps: the small claim approved, the large queued

        # the names each person would give the others (carechain names set), kept in a file
        # of the demo's own: the pages show who, not 0x1234…abcd
        names = AddressBook(state / "portal-names.json")
        for party, name in (
            (hospital, "City Hospital"),
            (alice, "Alice"),
            (doctor, "Dr Eve (Riverside Practice)"),
            (insurer, "Acme Health Insurance"),
        ):
            names.set(party.address, name)
        portals = [
            ("alice, a patient", Portal("patient", alice, names=names)),
            ("a doctor at another practice", Portal("clinician", doctor, names=names)),
            ("alice's insurer", Portal("insurer", insurer, journal_path=journal, names=names)),
        ]
        servers = [PortalServer(portal) for _, portal in portals]
        for server in servers:
            server.__enter__()
        click.echo("\ncarechain portals on demo data (a throwaway chain); open each address:\n")
        for (who, _), server in zip(portals, servers, strict=True):
            click.echo(f"  {who:30} {server.url}")
        click.echo("\nCtrl-C stops them.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            worker.join(timeout=30)  # before the chain goes away under it
            for server in servers:
                server.__exit__(None, None, None)
