"""The `carechain trace` commands against the test chain and the session's Kubo node (the
command functions run on the session's chain, as in test_cli_claims.py)."""

import pytest

from carechain.cli import main

pytestmark = pytest.mark.integration

BATCH = "(01)09506000134352(17)301231(10)CLI-1"


def command(name: str):
    """The function behind `carechain trace <name>`."""
    return main.commands["trace"].commands[name].callback


def test_a_batch_and_a_device_through_the_cli(
    cli_env, capsys, tmp_path, accounts, governor, hospital, contracts
):
    maker, pharmacy, regulator = accounts[11], accounts[13], accounts[14]
    for role, account in (
        ("manufacturer", maker),
        ("pharmacy", pharmacy),
        ("regulator", regulator),
    ):
        contracts.registry.admit(governor, role, account)
    command("prefix")(account=governor, prefix="9506000", to=maker.address, revoke=False)
    command("prefix")(account=governor, prefix="0844588", to=maker.address, revoke=False)
    command("prefix")(account=hospital, prefix="9506000", to=None, revoke=False)
    assert f"company prefix 9506000 belongs to {maker.address}" in capsys.readouterr().out
    certificate = tmp_path / "coa.txt"
    certificate.write_bytes(b"assay 99.9%")

    command("register")(account=maker, code=BATCH, first=1, last=500, certificate=certificate)
    assert "500 units" in capsys.readouterr().out
    command("ship")(account=maker, code=BATCH, first=1, last=100, to=pharmacy.address)
    command("accept")(account=pharmacy, code=BATCH)
    assert "accepted 100 units" in capsys.readouterr().out
    command("dispense")(account=pharmacy, code=BATCH + "(21)7")

    with pytest.raises(SystemExit) as used:  # genuine, but already dispensed: do not use
        command("verify")(account=hospital, code=BATCH + "(21)7")
    out = capsys.readouterr().out
    assert used.value.code == 2 and "genuine; held by" in out and "DO NOT USE: dispensed" in out
    command("verify")(account=hospital, code=BATCH + "(21)8")  # fine: exits normally
    assert "genuine" in capsys.readouterr().out
    with pytest.raises(SystemExit) as fake:
        command("verify")(account=hospital, code=BATCH + "(21)501")
    assert fake.value.code == 2 and "NOT GENUINE" in capsys.readouterr().out

    command("recall")(account=regulator, code=BATCH, reason="contamination")
    out = capsys.readouterr().out
    assert "2 parties" in out and pharmacy.address in out and maker.address in out

    report = tmp_path / "report.txt"
    report.write_bytes(b"calibrated")
    udi = "(01)00844588003288(21)CLI-PUMP"
    device = command("device")
    device(
        account=maker,
        udi=udi,
        action="register",
        to=None,
        kind=None,
        failed=False,
        document=certificate,
        reason=None,
    )
    device(
        account=maker,
        udi=udi,
        action="assign",
        to=hospital.address,
        kind=None,
        failed=False,
        document=None,
        reason=None,
    )
    device(
        account=hospital,
        udi=udi,
        action="service",
        to=None,
        kind="calibration",
        failed=True,
        document=report,
        reason=None,
    )
    out = capsys.readouterr().out
    assert "calibration FAILED" in out and "assigned to" in out
