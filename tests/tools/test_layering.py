"""The package's layering as a user feels it: importing carechain, or asking the CLI for
help, does not load the chain layer; and the chain layer (carechain.onchain) runs on
eth-account and eth-abi over JSON-RPC, never on the development framework (Ape, web3,
pandas: seconds of start-up, and a framework an insurer's script should not need)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "carechain"

HEAVY = ("ape", "web3", "pandas")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


def test_import_carechain_does_not_load_the_chain_layer():
    assert _loaded_after("import carechain") == set()


def test_the_data_model_and_fhir_mappers_do_not_need_the_chain_layer():
    code = "import carechain.model, carechain.fhir_claims, carechain.fhir_consent"
    assert _loaded_after(code) == set()


def test_chain_backed_names_load_on_first_use_without_the_framework():
    code = "import sys\nfrom carechain import Hospital, Contracts\n"
    code += "assert 'carechain.onchain.rpc' in sys.modules"
    assert _loaded_after(code) == set()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_chain_layer_talks_to_the_chain():
    """No module outside carechain/onchain imports Ape, web3 or the JSON-RPC transport; inside
    it, Ape only where deploying (a development task) or following Ape's node in tests."""
    chain_libraries = {"ape", "ape_ethereum", "web3", "urllib3", "httpx", "eth_account"}
    outside = {
        str(path.relative_to(SRC)): sorted(_imports(path) & chain_libraries)
        for path in SRC.rglob("*.py")
        if "onchain" not in path.parts and path.name not in ("ipfs.py", "receipts.py")
    }
    assert {k: v for k, v in outside.items() if v} == {}
    # The IPFS client uses httpx for Kubo's API, and receipts recover EIP-712 signers with
    # eth-account: neither reaches the chain.
    assert _imports(SRC / "ipfs.py") & chain_libraries == {"httpx"}
    assert _imports(SRC / "receipts.py") & chain_libraries == {"eth_account"}
    uses_ape = sorted(
        path.name for path in (SRC / "onchain").glob("*.py") if {"ape"} & _imports(path)
    )
    assert uses_ape == ["deploy.py", "rpc.py"]


def test_the_shipped_abis_are_the_builds():
    """The package carries the ABIs `make compile` builds (tools/export_abis.py)."""
    sys.path.insert(0, str(SRC.parents[1] / "tools"))
    try:
        from export_abis import OUT, exported
    finally:
        sys.path.pop(0)
    assert {name: (OUT / name).read_text() for name in exported()} == exported()


@pytest.mark.integration
def test_a_connected_command_runs_without_the_framework(contracts, chain, tmp_path):
    """`carechain whoami` against this session's node: it answers, and neither Ape nor web3
    was imported to do it."""
    contracts.deployment.save(tmp_path)
    code = (
        "from carechain.cli import main\n"
        "try:\n"
        f"    main(['whoami', '--rpc', {chain.provider.uri!r}, '--account', 'TEST::1'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    env = {**os.environ, "CARECHAIN_DEPLOYMENTS_DIR": str(tmp_path)}
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == str(chain.provider.account_manager.test_accounts[1])
    assert lines[1:] == [""] or lines[1:] == []
