"""What a person at a terminal waits for: importing carechain, `carechain --help`, and a read
command (`records list` for a patient with 50 records) against a local anvil.

    make bench      (or: python bench/cli.py)

Each is a fresh process, timed wall-clock, RUNS times; the median is reported (this machine
is shared: compare within one run). Targets (issue 15): --help <= 0.5 s, `import carechain`
loads neither Ape nor pandas, `records list` <= 1.5 s. Writes bench/results/cli.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "src"))

RUNS = 7
RECORDS = 50
CARECHAIN = str(Path(sys.executable).parent / "carechain")


def wall(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Median wall time of RUNS runs of ``command`` (which must succeed), and its stdout."""
    times, out = [], ""
    for _ in range(RUNS):
        start = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        times.append(time.perf_counter() - start)
        if run.returncode != 0:
            raise SystemExit(f"{command} failed: {run.stderr[-2000:]}")
        out = run.stdout
    return statistics.median(times), out


def main() -> None:
    from ape import accounts, networks
    from ape.logging import logger

    from carechain import Contracts, Hospital, KeyPair, KuboNode, Patient, deploy
    from carechain.samples import chart

    logger.set_level("WARNING")
    console = Console()
    heavy = ("ape", "web3", "pandas")
    probe = f"import carechain, sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    import_s, loaded = wall([sys.executable, "-c", probe])
    help_s, _ = wall([CARECHAIN, "--help"])
    with (
        networks.parse_network_choice("ethereum:local:foundry") as provider,
        tempfile.TemporaryDirectory() as tmp,
        KuboNode(Path(tmp) / "kubo") as kubo,
    ):
        governor, hospital_acct, patient_acct = accounts.test_accounts[:3]
        contracts = Contracts(deploy(governor))
        contracts.registry.admit(governor, "provider", hospital_acct)
        hospital = Hospital(hospital_acct, contracts, kubo.client, KeyPair.generate())
        patient = Patient(patient_acct, contracts, kubo.client, KeyPair.generate())
        hospital.publish_key()
        patient.publish_key()
        records = [r for i in range(RECORDS // 6 + 1) for r in chart(i, f"MRN-{i}")][:RECORDS]
        hospital.anchor_records([(patient.address, r) for r in records])
        contracts.deployment.save(Path(tmp) / "deployments")
        env = {**os.environ, "CARECHAIN_DEPLOYMENTS_DIR": str(Path(tmp) / "deployments")}
        command = [CARECHAIN, "records", "list", "--rpc", provider.uri, "--account", "TEST::2"]
        list_s, out = wall(command, env)
        listed = len(out.splitlines())
    results = {
        "import_carechain_s": import_s,
        "import_loads": json.loads(loaded.replace("'", '"')),
        "help_s": help_s,
        "records_list_s": list_s,
        "records_listed": listed,
        "runs": RUNS,
    }
    table = Table("what", "median wall", "target", title=f"the command line ({RUNS} runs each)")
    table.add_row(
        "import carechain", f"{import_s:.2f} s", f"no Ape, web3, pandas: {loaded.strip()}"
    )
    table.add_row("carechain --help", f"{help_s:.2f} s", "<= 0.5 s")
    table.add_row(f"records list ({listed} records)", f"{list_s:.2f} s", "<= 1.5 s")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'cli.json'}")


if __name__ == "__main__":
    main()
