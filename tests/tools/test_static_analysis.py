"""The Slither gate (tools/static_analysis.py) that `make test` runs on contracts/: it must
fail on a real High finding, accept it only with a triage entry giving a reason, and
refuse sources that do not compile. (The run on contracts/ itself is in `make test`.)"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "static_analysis.py"
VULNERABLE = ROOT / "tests" / "data" / "slither"


def gate(tmp_path, *args):
    run = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return run.returncode, run.stdout + run.stderr


def test_an_untriaged_high_finding_fails_the_gate(tmp_path):
    code, out = gate(tmp_path, "--sources", str(VULNERABLE), "--triage", str(tmp_path / "none"))
    assert code == 1, out
    assert "reentrancy-eth" in out and "Vault.withdraw" in out and "UNTRIAGED" in out
    assert "1 untriaged High/Medium finding" in out


def test_a_triaged_finding_passes_and_a_stale_entry_is_reported(tmp_path):
    triage = tmp_path / "triage.toml"
    triage.write_text(
        '[[accepted]]\ncheck = "reentrancy-eth"\nwhere = "Vault.withdraw"\n'
        'reason = "test fixture"\n\n'
        '[[accepted]]\ncheck = "timestamp"\nwhere = "Vault.gone"\nreason = "removed code"\n'
    )
    code, out = gate(tmp_path, "--sources", str(VULNERABLE), "--triage", str(triage))
    assert code == 0, out
    assert "stale triage entry" in out and "Vault.gone" in out
    # --strict also gates Low findings; the vault has none, only an Informational one
    assert gate(tmp_path, "--sources", str(VULNERABLE), "--triage", str(triage), "--strict")[0] == 0


def test_a_triage_entry_without_a_reason_is_refused(tmp_path):
    triage = tmp_path / "triage.toml"
    triage.write_text('[[accepted]]\ncheck = "reentrancy-eth"\nwhere = "Vault.withdraw"\n')
    code, out = gate(tmp_path, "--sources", str(VULNERABLE), "--triage", str(triage))
    assert code != 0 and "lacks reason" in out


def test_sources_that_do_not_compile_are_refused(tmp_path):
    broken = ROOT / "tests" / "data" / "slither-broken"
    code, out = gate(tmp_path, "--sources", str(broken))
    assert code == 2, out
    assert "do not compile" in out and "Broken.sol" in out
