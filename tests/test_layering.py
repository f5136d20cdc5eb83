"""The package's layering as a user feels it: importing carechain, or asking the CLI for
help, does not load the chain layer (Ape, web3, pandas: seconds of start-up)."""

from __future__ import annotations

import subprocess
import sys

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


def test_chain_backed_names_load_on_first_use():
    loaded = _loaded_after("from carechain import Hospital, Contracts")
    assert "ape" in loaded
