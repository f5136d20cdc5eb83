"""`carechain portal` as a person starts it: a separate process on the test chain and Kubo
node, with a key file and `--account TEST::n`, printing the address to open."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from carechain.keystore import save_key_pair
from carechain.onchain.signer import local_test_account

pytestmark = pytest.mark.integration


def test_carechain_portal_prints_a_login_address_and_serves_the_patient(
    cli_env, tmp_path, chain, patient, patient_client, chart_with_exact_value
):
    """stdout holds only the launch URL; opening it logs in and shows the records decrypted
    with the key file given; the process logs no request line (the token stays out of its
    output) and stops cleanly on Ctrl-C."""
    assert local_test_account(3).address == patient.address  # TEST::3 is the patient
    key = tmp_path / "alice.key"
    save_key_pair(patient_client.key_pair, key)
    env = {**os.environ, "CARECHAIN_STATE_DIR": str(tmp_path / "state")}
    carechain = str(Path(sys.executable).with_name("carechain"))  # the installed command
    command = [carechain, "portal", "--role", "patient"]
    command += ["--key", str(key), "--account", "TEST::3", "--rpc", chain.provider.uri]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/login?token=" in url, url
        base = url.split("/login")[0]
        with httpx.Client(timeout=60) as browser:
            assert browser.get(base + "/records").status_code == 403
            assert browser.get(url).status_code == 303
            page = browser.get(base + "/records")
            assert page.status_code == 200 and "0.40 mmol/L" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    token = url.split("token=")[1]
    assert out == "" and token not in err
    assert "Traceback" not in err and "0.40" not in err


def test_a_role_that_decrypts_needs_its_key_file():
    """One line naming what is missing, before anything is served."""
    from click.testing import CliRunner

    from carechain.cli import main

    result = CliRunner().invoke(main, ["portal", "--role", "patient", "--account", "TEST::3"])
    assert result.exit_code == 2 and "--role patient needs --key" in result.output


def test_a_second_command_uses_the_portals_kubo_and_kill_stops_both(
    cli_env, tmp_path, chain, patient, patient_client, chart_with_exact_value
):
    """With no CARECHAIN_IPFS_API, the portal runs its own Kubo node on the machine's
    repository. A command run meanwhile (`records list`) uses that node instead of failing
    on its lock (and leaves it serving); `kill` (SIGTERM) stops the portal as Ctrl-C does,
    its Kubo node with it (it was left running, holding the lock, for every later command)."""
    key = tmp_path / "alice.key"
    save_key_pair(patient_client.key_pair, key)
    env = {**os.environ, "CARECHAIN_STATE_DIR": str(tmp_path / "state")}
    env.pop("CARECHAIN_IPFS_API")
    carechain = str(Path(sys.executable).with_name("carechain"))
    chain_args = ["--rpc", chain.provider.uri]
    process = subprocess.Popen(
        [carechain, "portal", "--role", "patient", "--key", str(key), "--account", "TEST::3",
         *chain_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        url = process.stdout.readline().strip()
        assert "/login?token=" in url, url or process.stderr.read()
        api = (tmp_path / "state" / "kubo" / "api").read_text()
        listed = subprocess.run(
            [carechain, "records", "list", "--account", "TEST::3", *chain_args],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert "lock" not in listed.stderr
        assert listed.stdout.count("\n") >= len(chart_with_exact_value)  # one line a record
        # the portal's node still answers, under the same address
        assert (tmp_path / "state" / "kubo" / "api").read_text() == api
        with httpx.Client(timeout=30) as browser:
            assert browser.get(url).status_code == 303
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    port = int(api.strip().rsplit("/", 1)[1])
    with pytest.raises(httpx.ConnectError):  # its Kubo node stopped with it
        httpx.post(f"http://127.0.0.1:{port}/api/v0/version", timeout=5)
