"""What a command prints to stdout is its result and nothing else: logs and progress go to
stderr, so ``carechain records read ... >
record.json`` writes a file that is the record."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from carechain import KeyPair
from carechain.fhir import loads, parse_resource
from carechain.keystore import save_key_pair
from tests.helpers import EXACT_OBSERVATION

pytestmark = pytest.mark.integration


def _carechain(tmp_path: Path, kubo, chain, *args: str) -> subprocess.CompletedProcess:
    """The installed ``carechain`` command, attached to this session's anvil and Kubo, with
    the deployment saved under ``tmp_path``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "carechain"), *args],
        env={
            **os.environ,
            "CARECHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
            "CARECHAIN_IPFS_API": kubo.api_url,
            "CARECHAIN_RPC_URL": chain.provider.uri,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stdout_carries_only_the_result(
    tmp_path, hospital_client, patient_client, contracts, kubo, chain
):
    resource = parse_resource(EXACT_OBSERVATION)  # 0.40, 12500.00, 0.001530 as written
    [ref] = hospital_client.anchor_records([(patient_client.address, resource)])
    contracts.deployment.save(tmp_path / "deployments")
    save_key_pair(patient_client.key_pair, tmp_path / "patient.key")
    assert patient_client.address == str(chain.provider.account_manager.test_accounts[3])
    run = _carechain(
        tmp_path,
        kubo,
        chain,
        "records",
        "read",
        "0x" + ref.record_id.hex(),
        "--key",
        str(tmp_path / "patient.key"),
        "--account",
        "TEST::3",  # the patient fixture
    )
    assert run.returncode == 0, run.stderr
    assert loads(run.stdout) == resource  # the whole of stdout is the record
    for written in ('"value": 0.40', '"value": 12500.00', '"value": 0.001530'):
        assert written in run.stdout  # decimals come out as the hospital wrote them


def test_a_refused_call_is_one_line_without_a_call_trace(tmp_path, contracts, kubo, chain):
    """A refusal is one line naming the contract's custom error: no call trace, no
    traceback, nothing on stdout."""
    contracts.deployment.save(tmp_path / "deployments")
    run = _carechain(
        tmp_path,
        kubo,
        chain,
        "consent",
        "revoke",
        "0x" + "11" * 32,
        "--account",
        "TEST::3",
    )
    assert run.returncode == 1
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "UnknownConsent" in lines[0], run.stderr
    # in words first, what to do included; the contract's own error after it
    assert "no such consent: check the id (carechain consent list)" in lines[0]


def test_every_refusal_worded_names_an_error_the_contracts_have():
    """The sentences for common refusals are keyed by custom errors that exist (a renamed
    error would otherwise silently lose its words)."""
    import json

    from carechain.onchain.contract import _MEANINGS

    errors = {
        item["name"]
        for path in (Path(__file__).parents[2] / "src/carechain/onchain/abi").glob("*.json")
        for item in json.loads(path.read_text())
        if isinstance(item, dict) and item.get("type") == "error"
    }
    assert set(_MEANINGS) <= errors, set(_MEANINGS) - errors


def test_an_interrupted_bulk_anchor_says_what_it_completed(capsys):
    """Files anchored before a failure or Ctrl-C are listed on stdout (they are on-chain);
    the count and what to do next go to stderr."""
    from types import SimpleNamespace

    from carechain.cli.records import _report_partial

    def ref(n: int) -> SimpleNamespace:
        record_id = bytes([n]) * 32
        return SimpleNamespace(
            record_id=record_id, record_id_hex="0x" + record_id.hex(), version=1,
            cid=f"bafy{n}", existing=False, gas_used=26_000,
        )  # fmt: skip

    files = tuple(Path(f"r{n}.json") for n in range(4))
    ids = [bytes([n]) * 32 for n in range(4)]
    _report_partial(files, ids, [ref(0), ref(2)], idempotent=True)
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines()] == ["r0.json", "r2.json"]
    assert "2 of 4 files were anchored" in err and "run the same command again" in err
    # a refusal or bad input: fix it first; with nothing anchored, no count at all (a
    # newcomer was told to re-run a command that could only fail the same way)
    _report_partial(files, ids, [ref(1)], idempotent=True, transient=False)
    out, err = capsys.readouterr()
    assert "1 of 4 files were anchored; fix what the next line says, then run" in err
    _report_partial(files, ids, [], idempotent=True, transient=False)
    assert capsys.readouterr() == ("", "")


def test_an_anchor_refused_for_its_input_does_not_advise_a_rerun(tmp_path, contracts, kubo, chain):
    """Anchoring as an account that is not a provider: one line, the refusal; no "run the
    same command again"."""
    contracts.deployment.save(tmp_path / "deployments")
    key = tmp_path / "alice.key"
    assert _carechain(tmp_path, kubo, chain, "keys", "generate", str(key)).returncode == 0
    record = Path(__file__).parents[2] / "examples" / "observation.json"
    run = _carechain(
        tmp_path, kubo, chain, "records", "anchor", str(record), "--patient",
        "0x" + "12" * 20, "--key", str(key), "--account", "TEST::17",
    )  # fmt: skip
    assert run.returncode == 1
    assert "again" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_key_file_that_is_not_the_accounts_published_key_is_refused(
    tmp_path, contracts, kubo, chain, hospital_client, patient_client
):
    """A hospital that passes another key file (a colleague's, an old one) is told so
    before anything is stored: its re-run-safe record ids come from its key, so with another
    key the same files would be anchored again as copies. A key of the account's own goes
    through."""
    contracts.deployment.save(tmp_path / "deployments")
    ours, theirs = tmp_path / "hospital.key", tmp_path / "eve.key"
    save_key_pair(hospital_client.key_pair, ours)
    save_key_pair(patient_client.key_pair, theirs)  # another party's key file
    record = Path(__file__).parents[2] / "examples" / "observation.json"
    anchor = ("records", "anchor", str(record), "--patient", patient_client.address)
    before = len(contracts.registry.records_of(patient_client.address))

    old = tmp_path / "old.key"  # one of the same kind as the published key, not it
    save_key_pair(KeyPair.generate(hospital_client.key_pair.suite), old)
    for wrong in (theirs, old):
        run = _carechain(
            tmp_path, kubo, chain, *anchor, "--key", str(wrong), "--account", "TEST::1"
        )
        assert run.returncode == 1
        assert f"{wrong} is not the key 0x" in run.stderr, run.stderr
    assert len(contracts.registry.records_of(patient_client.address)) == before

    run = _carechain(tmp_path, kubo, chain, *anchor, "--key", str(ours), "--account", "TEST::1")
    assert run.returncode == 0, run.stderr
    assert len(contracts.registry.records_of(patient_client.address)) == before + 1


def test_consent_list_gives_dates_as_every_other_command_does(
    tmp_path, contracts, kubo, chain, patient_client, doctor_client
):
    from carechain import Purpose, Scope
    from carechain.model import utc_minutes

    contracts.deployment.save(tmp_path / "deployments")
    end = chain.blocks.head.timestamp + 30 * 86400
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, end)
    run = _carechain(tmp_path, kubo, chain, "consent", "list", "--account", "TEST::3")
    assert run.returncode == 0, run.stderr
    [line] = [x for x in run.stdout.splitlines() if doctor_client.address in x]
    assert f"until {utc_minutes(end)} [active]" in line
