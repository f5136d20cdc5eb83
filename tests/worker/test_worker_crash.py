"""SIGKILL the worker process at chosen and at random points, restart it, and check on the
token balances that every approved claim was paid exactly once.

The worker runs as the real CLI (`carechain insurer worker`) in a child process attached to
this session's anvil (CARECHAIN_RPC_URL) and Kubo (CARECHAIN_IPFS_API). Deterministic kill
points come from CARECHAIN_WORKER_KILL_AT: the process SIGKILLs itself right after writing a
signed transaction (before sending it), right after sending (before noting it), or right
after finalizing one."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carechain import ClaimStatus
from carechain.keystore import save_key_pair
from carechain.worker import Journal
from tests.helpers import USD, claim_for

pytestmark = pytest.mark.integration

RULES = """
[approve]
below = "1000.00"
[settle]
batch_size = 4
interval = 0
[chain]
confirmations = 1
poll_interval = 0.1
"""


@pytest.fixture
def worker_cli(tmp_path, contracts, insurer_client, kubo, chain):
    """A function that runs the worker CLI once (optionally killed) and returns its exit
    code and log lines."""
    contracts.deployment.save(tmp_path / "deployments")
    save_key_pair(insurer_client.key_pair, tmp_path / "insurer.key")
    (tmp_path / "rules.toml").write_text(RULES)
    executable = Path(sys.executable).parent / "carechain"
    command = [
        str(executable),
        "insurer",
        "worker",
        "--account",
        "TEST::9",  # the insurer fixture
        "--key",
        str(tmp_path / "insurer.key"),
        "--rules",
        str(tmp_path / "rules.toml"),
        "--db",
        str(tmp_path / "worker.sqlite"),
        "--until-idle",
    ]
    env = {
        **os.environ,
        "CARECHAIN_RPC_URL": chain.provider.uri,
        "CARECHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "CARECHAIN_IPFS_API": kubo.api_url,
    }
    assert insurer_client.address == str(chain.provider.account_manager.test_accounts[9])

    def run(
        kill_at: str | None = None,
        kill_after: float | None = None,
        terminate_after_start: bool = False,
    ) -> tuple[int, list]:
        child_env = dict(env)
        if kill_at:
            child_env["CARECHAIN_WORKER_KILL_AT"] = kill_at
        args = command[:-1] if terminate_after_start else command  # no --until-idle
        process = subprocess.Popen(
            args, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        consumed: list[str] = []
        try:
            if terminate_after_start:
                for line in process.stderr:  # wait until it runs, then ask it to stop
                    consumed.append(line)
                    if '"event": "started"' in line:
                        time.sleep(1.0)
                        process.send_signal(signal.SIGTERM)
                        break
            if kill_after is not None:
                try:
                    process.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=180)
            err = "".join(consumed) + err
        finally:
            if process.poll() is None:
                process.kill()
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        return process.returncode, lines

    run.journal_path = tmp_path / "worker.sqlite"
    return run


def test_sigkill_at_any_point_pays_each_claim_exactly_once(
    worker_cli, hospital_client, patient_client, insurer_client, covered, contracts
):
    policy_id, refs = covered
    ids = [
        claim_for(
            hospital_client,
            patient_client,
            insurer_client,
            policy_id,
            refs,
            (300 + 10 * i) * USD,
            f"9920{i}",
        )[0]
        for i in range(6)
    ]
    before = contracts.claims.balance_of(hospital_client.address)

    killed = []
    # Decisions are written together, then sent together, so the kill points are counted
    # in those passes (the first stops the worker with every approval written, none sent).
    for point in ("recorded:2", "sent:3", "finalized:2", "recorded:1", "sent:1"):
        code, _ = worker_cli(kill_at=point)
        killed.append((point, code))
    rng = random.Random(int(time.time()))
    for _ in range(2):
        code, _ = worker_cli(kill_after=rng.uniform(4.0, 9.0))
        killed.append(("random", code))
    code, lines = worker_cli()
    assert code == 0, lines[-3:]

    # Every deterministic kill hit: the worker had work left at each of those points.
    assert [c for p, c in killed if p != "random"] == [-signal.SIGKILL] * 5, killed
    stored = [contracts.claims.contract.getClaim(c) for c in ids]
    assert all(ClaimStatus(int(s.status)) is ClaimStatus.PAID for s in stored)
    approved = sum(int(s.approved) for s in stored)
    assert contracts.claims.balance_of(hospital_client.address) - before == approved
    assert contracts.claims.escrow(insurer_client.address)[1] == 0
    journal = Journal(worker_cli.journal_path)
    try:
        status = journal.status()
        assert status["paid_count"] == 6 and status["paid_total"] == approved
        # No transaction was sent twice and refused: the journal, not the chain's refusal,
        # kept it exactly once.
        failed = journal.db.execute("SELECT COUNT(*) FROM txs WHERE state='failed'").fetchone()
        assert failed[0] == 0
    finally:
        journal.close()


def test_sigterm_finishes_the_step_and_exits_cleanly(worker_cli):
    """A service manager's SIGTERM: the worker logs it, finishes its step and exits 0."""
    code, lines = worker_cli(terminate_after_start=True)
    assert code == 0, lines[-3:]
    events = [line["event"] for line in lines]
    assert events[0] == "started" and events[-2:] == ["stopping", "stopped"]
