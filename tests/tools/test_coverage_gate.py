"""The contract-coverage gate (tools/contract_coverage.py, run by `make test` on the Forge tests'
LCOV report): branches are counted per deployable contract, interfaces and test helpers
are left out, and a contract below the threshold fails the gate."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from contract_coverage import deployable, parse_lcov  # noqa: E402

LCOV = """TN:
SF:contracts/Vault.sol
FN:3,Vault.deposit
FNDA:4,Vault.deposit
FN:9,Vault.withdraw
FNDA:0,Vault.withdraw
DA:3,4
DA:4,4
DA:9,0
BRDA:4,0,0,4
BRDA:4,0,1,-
BRDA:10,1,0,0
BRDA:10,1,1,2
end_of_record
SF:contracts/test/Helper.sol
DA:1,0
BRDA:1,0,0,0
end_of_record
SF:contracts/interfaces/IVault.sol
end_of_record
"""


def test_lcov_is_counted_per_contract():
    files = parse_lcov(LCOV)
    vault = files["contracts/Vault.sol"]
    assert vault.line_pct()[:2] == (2, 3)
    assert vault.branch_pct() == (2, 4, 50.0)
    assert vault.function_pct()[:2] == (1, 2)
    assert [p for p in files if deployable(p)] == ["contracts/Vault.sol"]


def gate(tmp_path, minimum):
    report = tmp_path / "lcov.info"
    report.write_text(LCOV)
    tool = ROOT / "tools" / "contract_coverage.py"
    run = subprocess.run(
        [sys.executable, str(tool), "--lcov", str(report), "--min", str(minimum)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, run.stdout


def test_a_contract_below_the_threshold_fails_the_gate(tmp_path):
    code, out = gate(tmp_path, 95)
    assert code == 1
    assert "Vault.sol" in out and "below 95% of branches" in out
    assert "Helper.sol" not in out  # test helpers are not gated


def test_a_contract_at_the_threshold_passes(tmp_path):
    code, out = gate(tmp_path, 50)
    assert code == 0, out
    assert "50.0% (2/4)" in out
