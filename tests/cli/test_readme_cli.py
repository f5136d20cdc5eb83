"""README's "The command line" block, the traceability walk-through that goes on from it
(docs/traceability.md), README's SDK block, then its "Keys people can lose" and "Clinical
trials" blocks, run as written, so the docs and the code cannot drift.

The blocks are taken from the Markdown and run line by line by bash (``set -euo pipefail``:
any failing command fails the test) as a newcomer would, from a folder holding the
project (its Ape config, contracts, scripts and examples linked in, so the key files and
JSON the block writes land there), with substitutions that are all about where the chain
is: ``make chain &`` becomes the same anvil command from the Makefile on a free port, the
``--rpc`` URL (port 8545) names that port, and ``ape run deploy``'s network
``ethereum:local:node`` (fixed at port 8545 in ape-config.yaml) becomes
``ethereum:local:foundry`` attached to that anvil. IPFS is this session's Kubo node."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LINKED = (
    "ape-config.yaml", "contracts", "scripts", "examples", ".build", "node_modules", ".venv",
    ".tools",
)  # fmt: skip


def readme_block(heading: str, document: str = "README.md", lang: str = "sh") -> str:
    """The first ``lang`` block under ``heading`` in ``document`` (README.md by default)."""
    text = (ROOT / document).read_text()
    section = text[text.index(heading) :]
    start = section.index(f"```{lang}\n")
    return section[start + len(lang) + 4 : section.index("\n```", start)]


def makefile_anvil(port: int) -> list[str]:
    """The anvil command of `make chain`, on ``port`` and keeping no state file."""
    recipe = (ROOT / "Makefile").read_text().split("\nchain:", 1)[1].split("\n\n", 1)[0]
    [line] = [x for x in recipe.replace("\\\n", " ").splitlines() if "anvil --host" in x]
    line = line[line.index("anvil --host") :]  # after the check for a chain already running
    command = shlex.split(line[: line.index(">")])
    assert "--port" in command and "--chain-id" in command
    command[command.index("--port") + 1] = str(port)
    at = command.index("--state")
    return command[:at] + command[at + 2 :]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_command_line_runs_as_written(tmp_path, kubo):
    block = readme_block("## The command line")
    first, rest = block.split("\n", 1)
    assert first.startswith('export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"')
    assert rest.startswith("make chain &")
    trace = readme_block("# Traceability", "docs/traceability.md")  # goes on from the block
    script = block.replace("make chain &", ":", 1) + "\n" + trace
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = script.replace('N="--rpc http://127.0.0.1:8545"', f'N="--rpc {url}"')
    assert script.count(url) == 1
    script = script.replace("--network ethereum:local:node", "--network ethereum:local:foundry")
    assert script.count("ethereum:local:foundry") == 1  # ape run deploy, attached to it
    # Running the deploy line again (a newcomer going through the block a second time) is
    # refused: it would replace the deployment everything above was written to.
    [deploy_line] = [x for x in script.splitlines() if x.startswith("ape run deploy")]
    deploy_line = deploy_line.split("#")[0].strip()
    script += (
        f"\nif {deploy_line} 2> redeploy.err; then exit 1; fi"
        "\ngrep -q 'live on this chain' redeploy.err\n"
    )
    # and README's SDK block, on what the command line left (chain, deployment, key files)
    sdk = readme_block("## Using the SDK", lang="python")
    # where IPFS is: the block's commands used this session's Kubo node (as a newcomer's
    # would have used the one in .carechain/kubo, which the block's KuboNode starts)
    managed = 'with KuboNode(".carechain/kubo") as node:'
    assert sdk.count(managed) == 1
    session = (
        "from contextlib import nullcontext\nfrom types import SimpleNamespace\n"
        "from carechain import IPFSClient\n"
        f"with nullcontext(SimpleNamespace(client=IPFSClient('{kubo.api_url}'))) as node:"
    )
    sdk = sdk.replace(managed, session)
    script += f"\nCARECHAIN_RPC_URL={url} python - <<'PY'\n{sdk}\nPY\n"
    # then README's keys and trials blocks, on all of it (alice, $RECORD, the deployment);
    # last, as alice's key is device.key once she has recovered
    script += readme_block("## Keys people can lose") + "\n"
    script += readme_block("## Clinical trials and rewards for taking part") + "\n"

    work = tmp_path / "newcomer"
    work.mkdir()
    for name in LINKED:
        (work / name).symlink_to(ROOT / name)
    log = (tmp_path / "anvil.log").open("w")
    anvil = subprocess.Popen(makefile_anvil(port), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        env = {
            **os.environ,
            # a newcomer's shell: none of the project's tools on PATH until the block's
            # first line puts them there
            "PATH": ":".join(
                p for p in os.environ["PATH"].split(":") if not p.startswith(str(ROOT))
            ),
            "APE_FOUNDRY_HOST": url,
            "CARECHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
            "CARECHAIN_IPFS_API": kubo.api_url,
        }
        run = subprocess.run(
            ["bash", "-c", "set -euxo pipefail\n" + script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    finally:
        anvil.send_signal(signal.SIGTERM)
        anvil.wait(timeout=30)
        log.close()
    assert run.returncode == 0, f"{run.stderr[-6000:]}\n--- stdout ---\n{run.stdout[-3000:]}"
    assert "Traceback" not in run.stderr

    # what the block wrote is what each step promised
    record = json.loads((work / "record.json").read_text())
    assert record == json.loads((ROOT / "examples" / "observation.json").read_text())
    assert json.loads((work / "consent.json").read_text())["resourceType"] == "Consent"
    claim = json.loads((work / "claim.json").read_text())
    assert claim["resourceType"] == "Claim" and claim["total"]["value"] == 1100
    response = re.search(r"\{\n  \"resourceType\": \"ClaimResponse\".*?\n\}", run.stdout, re.S)
    assert response and json.loads(response.group(0))["outcome"] == "complete"
    # the SDK block listed and opened alice's records, the one it anchored among them
    opened = re.findall(r"^(\w+) (\w+)$", run.stdout, re.M)
    assert ("OBSERVATION", "Observation") in opened and len(opened) >= 2, run.stdout[-2000:]
    # 1,100 less the 100 deductible, less 10% co-pay: the insurer paid 900, alice owes 200
    assert "you owe 200.00" in run.stdout
    # the supply chain: the pharmacy dispensed 42 it had received; 43 was genuine before
    # the recall; the recall names every holder; the pump's life is on record
    assert "dispensed (no patient is recorded)" in run.stdout
    assert "recalled; 3 parties hold or are receiving units" in run.stdout
    assert "calibration passed" in run.stdout
    # the keys block: two of three holders released, the lost key was rebuilt as it was,
    # and the new device's key took its place
    assert (work / "recovered.key").read_text() == (work / "alice.key").read_text()
    assert "your record key is now the one in device.key" in run.stdout
    # the trials block: the sponsor's read of alice's observation paid her 5 tokens, and
    # `trials verify` (the block's last line, under set -e) found nothing flagged
    assert "paid 5.00 tokens: 1 contributions" in run.stdout
