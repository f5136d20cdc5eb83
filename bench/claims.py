"""Claims adjudicated and settled per second through the insurer's settlement worker, on a
local anvil and Kubo node, for settlement batches of 1 and of 50: claims the worker reviews
(reads the Claim and its evidence, approves) and claims the chain approved on submission
(the worker only settles).

    make bench      (or: python bench/claims.py)

Each run gets its own fresh set of claims (one FHIR Claim citing one Encounter each, all
below the rules' approval limit) and its own journal; the clock runs from the worker's first
step until it is idle: every claim decided, settled and final. Times on this
shared machine are noisy: compare the two runs, not absolute figures. Writes
bench/results/claims.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from carechain import (  # noqa: E402
    Category,
    Contracts,
    Hospital,
    Insurer,
    KeyPair,
    KuboNode,
    Patient,
    Purpose,
    Scope,
    deploy,
)
from carechain.samples import chart  # noqa: E402
from carechain.worker import Journal, Rules, Worker  # noqa: E402

CLAIMS = int(os.environ.get("CARECHAIN_BENCH_CLAIMS", "100"))
USD = 10**6


def main() -> None:
    from ape import accounts, chain, networks
    from ape.logging import logger

    logger.set_level("WARNING")
    console = Console()
    results: dict = {"claims": CLAIMS, "runs": {}}
    with (
        networks.parse_network_choice("ethereum:local:foundry"),
        tempfile.TemporaryDirectory() as tmp,
        KuboNode(Path(tmp) / "kubo") as kubo,
    ):
        governor, hospital_acct, patient_acct, insurer_acct = accounts.test_accounts[:4]
        deployment = deploy(governor)
        contracts = Contracts(deployment)
        contracts.registry.admit(governor, "provider", hospital_acct)
        contracts.registry.admit(governor, "insurer", insurer_acct)
        hospital = Hospital(hospital_acct, contracts, kubo.client, KeyPair.generate())
        patient = Patient(patient_acct, contracts, kubo.client, KeyPair.generate())
        # The insurer's worker lists events from its local index, as `carechain insurer
        # worker` does (Contracts.load keeps one per user).
        insurer_view = Contracts(deployment, index=Path(tmp) / "insurer-index.sqlite")
        insurer = Insurer(insurer_acct, insurer_view, kubo.client, KeyPair.generate())
        for party in (hospital, patient, insurer):
            party.publish_key()
        contracts.claims.token.mint(insurer_acct, 10**12, sender=governor)
        insurer.fund_escrow(10**12)
        now = chain.blocks.head.timestamp
        policies = {
            # the worker reads the Claim and its evidence, then approves
            "reviewed": 0,
            # the chain approves on submission; the worker only settles
            "pre-approved": 10**12,
        }
        for mode, auto in policies.items():
            policies[mode] = insurer.issue_policy(
                patient.address,
                limit=10**12,
                deductible=0,
                copay_bps=1_000,
                covered={Category.ENCOUNTER},
                start=now - 86400,
                end=now + 365 * 86400,
                auto_approve_below=auto,
            )
        # A record backs at most one claim: every claim cites an Encounter of its own, which
        # the hospital may read for treatment (its care relationship) and the insurer for
        # payment.
        encounters = iter(
            ref.record_id
            for ref in hospital.anchor_records(
                [(patient.address, chart(i, f"MRN-{i}")[1]) for i in range(4 * CLAIMS)]
            )
        )
        for grantee, purpose in ((hospital, Purpose.TREATMENT), (insurer, Purpose.PAYMENT)):
            patient.grant_access(grantee.address, Scope.all(), purpose, now + 365 * 86400)

        for mode, policy_id in policies.items():
            results["runs"][mode] = {}
            for batch in (1, 50):
                start_block = chain.blocks.height + 1
                for i in track(
                    range(CLAIMS), description=f"submitting {CLAIMS} claims", console=console
                ):
                    code = f"P{policy_id}B{batch:02d}{i:05d}"
                    hospital.bill(
                        policy_id,
                        insurer.address,
                        patient.address,
                        [(code, "Office visit", 120 * USD)],
                        [next(encounters)],
                    )
                rules = Rules.from_dict(
                    {
                        "approve": {"below": "1000.00"},
                        "settle": {"batch_size": batch, "interval": 0},
                        "chain": {"confirmations": 1, "poll_interval": 0.01},
                    }
                )
                journal = Journal(Path(tmp) / f"worker-{mode}-{batch}.sqlite")
                worker = Worker(insurer, rules, journal, start_block=start_block)
                console.print(f"worker, {mode} claims, settlement batches of {batch}: running…")
                started = time.perf_counter()
                steps = worker.run(until_idle=True)
                elapsed = time.perf_counter() - started
                status = journal.status()
                settlements = journal.db.execute(
                    "SELECT COUNT(*) FROM txs WHERE kind = 'settle' AND state = 'done'"
                ).fetchone()[0]
                journal.close()
                if status["paid_count"] != CLAIMS:
                    raise SystemExit(f"expected {CLAIMS} claims paid, the worker paid {status}")
                results["runs"][mode][str(batch)] = {
                    "claims_per_s": CLAIMS / elapsed,
                    "seconds": elapsed,
                    "steps": steps,
                    "settlements": settlements,
                }

    table = Table(
        "claims",
        "settlement batch",
        "claims/s",
        "seconds",
        "settlement txs",
        title=f"{CLAIMS} claims per run, through the settlement worker until all are paid",
    )
    for mode, runs in results["runs"].items():
        for batch, r in runs.items():
            table.add_row(
                mode,
                batch,
                f"{r['claims_per_s']:.1f}",
                f"{r['seconds']:.1f}",
                str(r["settlements"]),
            )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "claims.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'claims.json'}")


if __name__ == "__main__":
    main()
