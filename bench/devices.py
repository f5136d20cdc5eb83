"""Signed device readings through one gateway: 100 simulated devices, 10,000 readings a
minute, for 5 minutes, on a local anvil and Kubo node.

    make bench      (or: python bench/devices.py)
    CARECHAIN_BENCH_DEVICES_SECONDS=30 python bench/devices.py   # a shorter try-out

Each device is worn by its own patient (100 patients, each with a published key). Every
reading is signed by its device (Ed25519 over RFC 8785), checked by the gateway against the
chain (DeviceKeys and Traceability, cached per device), buffered, and anchored as part of a
record of its patient (60 readings or 30 seconds, whichever comes first) through the
hospital's batched ingest: FHIR-validated, encrypted, added to IPFS, anchored in one
transaction per flush. Readings are produced on the wall clock, so a slow flush delays the
readings behind it and shows in their latency.

At the issue's cadences (heart rate 1 Hz, glucose every 5 minutes) 100 devices make at most
6,000 readings a minute; to hold the issue's 10,000 a minute from 100 devices each device
here is a heart-rate monitor sampling every 0.6 s (about 1.7 Hz; fast-sampling wearables do
more). What is measured, the gateway and the anchoring path, does not depend on the cadence.

Reports end-to-end latency (the reading's time to its record's anchoring receipt) p50/p95,
gas per reading, and the time to read one record back and check its readings again.
Writes bench/results/devices.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from carechain import Contracts, Hospital, KeyPair, KuboNode, deploy  # noqa: E402
from carechain.device_gateway import Gateway, read_readings  # noqa: E402
from carechain.device_sim import HEART_RATE, SimulatedDevice, stream  # noqa: E402
from carechain.devices import ReadingVerifier, assign_to_patient, bind_device_key  # noqa: E402
from carechain.trace import SupplyChainParty, device_id  # noqa: E402

SECONDS = float(os.environ.get("CARECHAIN_BENCH_DEVICES_SECONDS", "300"))
DEVICES = 100
PER_MINUTE = 10_000
PER_RECORD = 60
MAX_AGE = 30.0


def _time(observation: dict) -> float:
    """A reading's time, with its fraction of a second."""
    text = observation["effectiveDateTime"].replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    from ape import accounts, networks
    from ape.logging import logger
    from eth_account import Account

    logger.set_level("WARNING")
    console = Console()
    with (
        networks.parse_network_choice("ethereum:local:foundry") as provider,
        tempfile.TemporaryDirectory() as tmp,
        KuboNode(Path(tmp) / "kubo") as kubo,
    ):
        governor, hospital_acct = accounts.test_accounts[:2]
        maker = accounts.test_accounts[11]
        contracts = Contracts(deploy(governor))
        contracts.registry.admit(governor, "provider", hospital_acct)
        contracts.registry.admit(governor, "manufacturer", maker)
        contracts.trace.assign_company_prefix(governor, "0844588", maker.address)
        hospital = Hospital(hospital_acct, contracts, kubo.client, KeyPair.generate())
        hospital.publish_key()
        supplier = SupplyChainParty(maker, contracts, kubo.client)

        console.print(f"setting up {DEVICES} patients and devices...", style="dim")
        patients = [Account.create() for _ in range(DEVICES)]
        devices, pairings = [], []
        for index, patient in enumerate(patients):
            provider.make_request("anvil_setBalance", [patient.address, hex(10**18)])
            contracts.keys.publish(patient, *_x25519())
            udi = f"(01)00844588003288(21)HR-{index:04d}"
            device = SimulatedDevice(
                udi, patient.address, HEART_RATE, seed=index, interval=DEVICES * 60 / PER_MINUTE
            )
            supplier.register_device(udi, b"heart-rate monitor, instructions for use")
            contracts.trace.assign_device(maker, device_id(udi), hospital.address)
            bind_device_key(contracts, maker, udi, device.public_key)
            pairings.append(assign_to_patient(contracts, hospital_acct, udi, patient.address))
            devices.append(device)

        verifier = ReadingVerifier(contracts, ttl=60.0)
        refused: list[str] = []
        gateway = Gateway(
            hospital,
            verifier,
            pairings,
            max_readings=PER_RECORD,
            max_age=MAX_AGE,
            mode="refuse",
            on_refused=lambda _, verdict: refused.append(verdict.words()),
        )
        latencies: list[float] = []
        gas = readings_anchored = records = 0
        produced = 0
        sample_record = None

        def flush(everything: bool = False) -> None:
            nonlocal gas, readings_anchored, records, sample_record
            anchored = gateway.flush(everything=everything)
            done = time.time()
            for ref, readings in anchored:
                latencies.extend(done - _time(r) for r in readings)
                gas += ref.gas_used
                readings_anchored += len(readings)
                records += 1
                if sample_record is None or len(readings) > sample_record[1]:
                    sample_record = (ref.record_id, len(readings))

        console.print(f"streaming for {SECONDS:.0f} s...", style="dim")
        start = time.time() + 1
        next_flush = start + 1
        for moment, device in stream(devices, start, start + SECONDS):
            now = time.time()
            if now >= next_flush:
                flush()
                next_flush = time.time() + 1
            if moment > now:
                time.sleep(moment - now)
            gateway.add(device.reading(moment), arrived=moment)
            produced += 1
        flush(everything=True)
        elapsed = time.time() - start

        # Every read checks again: one record of PER_RECORD readings, read and checked.
        reads = []
        for _ in range(5):
            began = time.perf_counter()
            checked = read_readings(
                hospital, sample_record[0], ReadingVerifier(contracts), "refuse"
            )
            reads.append((time.perf_counter() - began) * 1000)
        del provider

    result = {
        "devices": DEVICES,
        "seconds": round(SECONDS),
        "target_per_minute": PER_MINUTE,
        "readings": produced,
        "per_minute": round(produced / (SECONDS / 60)),
        "anchored": readings_anchored,
        "refused": len(refused),
        "records": records,
        "readings_per_record": round(readings_anchored / max(1, records), 1),
        "latency_s": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(_percentile(latencies, 0.95), 2),
            "max": round(max(latencies), 2),
        },
        "gas_per_reading": round(gas / max(1, readings_anchored)),
        "gas_per_record": round(gas / max(1, records)),
        "wall_s": round(elapsed, 1),
        "read_and_check_record_ms": {
            "readings": len(checked),
            "p50": round(statistics.median(reads), 1),
        },
    }
    table = Table(
        "", "value", title=f"signed device readings through one gateway ({DEVICES} devices)"
    )
    table.add_row(
        "readings produced", f"{produced:,} in {SECONDS:.0f} s ({result['per_minute']:,}/min)"
    )
    table.add_row("anchored / refused", f"{readings_anchored:,} / {len(refused):,}")
    table.add_row("records", f"{records:,} ({result['readings_per_record']} readings each)")
    table.add_row("latency reading → anchored, p50", f"{result['latency_s']['p50']} s")
    table.add_row("latency reading → anchored, p95", f"{result['latency_s']['p95']} s")
    table.add_row("gas per reading", f"{result['gas_per_reading']:,}")
    table.add_row("gas per record", f"{result['gas_per_record']:,}")
    table.add_row(
        f"read + check one record ({len(checked)} readings), p50",
        f"{result['read_and_check_record_ms']['p50']} ms",
    )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "devices.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'devices.json'}")


def _x25519() -> tuple:
    """A fresh X25519 reader key, as (suite, public key) for KeyDirectory.publish."""
    pair = KeyPair.generate()
    return pair.suite, pair.public_key


if __name__ == "__main__":
    main()
