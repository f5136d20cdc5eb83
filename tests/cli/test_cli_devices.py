"""The `carechain devices` commands: a device key made, bound and used to sign readings that
a provider ingests and a doctor reads back as a table; a tampered file is refused (the
command functions run on the session's chain, as in test_cli_trace.py)."""

import json

import pytest

from carechain.cli import main
from carechain.device_sim import GLUCOSE, observation
from carechain.devices import generate_device_key, public_key_of
from carechain.fhir import dumps, loads
from carechain.keystore import save_key_pair
from carechain.trace import SupplyChainParty, device_id

pytestmark = pytest.mark.integration

UDI = "(01)00844588003288(21)CLI-GLU"


def command(name: str):
    """The function behind `carechain devices <name>`."""
    return main.commands["devices"].commands[name].callback


def test_keygen_bind_assign_sign_ingest_verify_and_read_as_a_table(
    cli_env, capsys, tmp_path, accounts, governor, hospital, hospital_client, patient_client,
    contracts,
):  # fmt: skip
    maker = accounts[11]
    contracts.registry.admit(governor, "manufacturer", maker)
    contracts.trace.assign_company_prefix(governor, "0844588", maker.address)
    SupplyChainParty(maker, contracts, hospital_client.ipfs).register_device(UDI, b"IFU")
    contracts.trace.assign_device(maker, device_id(UDI), hospital.address)

    device_key = tmp_path / "sensor.key"
    command("keygen")(out=device_key)
    public = capsys.readouterr().out.strip()
    assert public.startswith("0x") and len(public) == 66
    assert device_key.stat().st_mode & 0o777 == 0o600
    with pytest.raises(Exception, match="never overwritten"):
        command("keygen")(out=device_key)

    command("bind")(account=maker, udi=UDI, public_key=public)
    pairing = tmp_path / "pairing.json"
    command("assign")(account=hospital, udi=UDI, patient=patient_client.address, out=pairing)
    assert json.loads(pairing.read_text())["patient"] == patient_client.address
    capsys.readouterr()

    now = contracts.node.head_timestamp()
    unsigned = tmp_path / "readings.json"
    unsigned.write_text(
        dumps(
            [
                observation(GLUCOSE, UDI, patient_client.address, now + i, value)
                for i, value in enumerate(loads("[104, 98.5]"))
            ]
        )
    )
    command("sign")(file=unsigned, device_key=device_key)
    signed = tmp_path / "signed.json"
    signed.write_text(capsys.readouterr().out)

    command("verify")(account=hospital, pairings=(pairing,), files=(signed,))
    assert capsys.readouterr().out.count("trusted") == 2

    tampered = tmp_path / "tampered.json"
    tampered.write_text(signed.read_text().replace("98.5", "89.5"))
    with pytest.raises(SystemExit) as exit_code:
        command("verify")(account=hospital, pairings=(pairing,), files=(tampered,))
    assert exit_code.value.code == 2 and "tampered" in capsys.readouterr().out

    key = tmp_path / "hospital.key"
    save_key_pair(hospital_client.key_pair, key)
    with pytest.raises(Exception, match="reading 1 refused"):
        command("ingest")(
            account=hospital, key=key, pairings=(pairing,), per_record=60,
            untrusted="refuse", files=(tampered,),
        )  # fmt: skip
    assert patient_client.list_records() == []
    command("ingest")(
        account=hospital, key=key, pairings=(pairing,), per_record=60, untrusted=None,
        files=(signed,),
    )  # fmt: skip
    assert "2 readings of" in capsys.readouterr().out

    patient_key = tmp_path / "patient.key"
    save_key_pair(patient_client.key_pair, patient_key)
    command("readings")(
        account=patient_client.account, key=patient_key, patient=patient_client.address,
        as_json=True,
    )  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert [(r["value"], r["trusted"]) for r in rows] == [("104 mg/dL", True), ("98.5 mg/dL", True)]
    command("readings")(
        account=patient_client.account, key=patient_key, patient=patient_client.address,
        as_json=False,
    )  # fmt: skip
    table = capsys.readouterr().out
    assert "98.5 mg/dL" in table and "Glucose" in table and "CLI-GLU" in table


def test_fake_and_crafted_readings_are_flagged_by_records_read_and_devices_readings(
    cli_env, capsys, tmp_path, monkeypatch, accounts, governor, hospital, hospital_client,
    patient_client, contracts,
):  # fmt: skip
    """Review findings 1, 6, 10: a provider anchors, through the ordinary record path, an
    unsigned reading naming a registered device and one dated before year 1 in UTC.
    `records read` refuses the record (marks and names them in mark mode); `devices
    readings` shows both rows, the crafted one malformed, and does not crash. `devices
    assign` writes the pairing owner-only before it sends anything, and never overwrites."""
    maker = accounts[11]
    contracts.registry.admit(governor, "manufacturer", maker)
    contracts.trace.assign_company_prefix(governor, "0844588", maker.address)
    udi = "(01)00844588003288(21)CLI-FAKE"
    SupplyChainParty(maker, contracts, hospital_client.ipfs).register_device(udi, b"IFU")
    contracts.trace.assign_device(maker, device_id(udi), hospital.address)
    public = "0x" + public_key_of(generate_device_key()).hex()
    command("bind")(account=maker, udi=udi, public_key=public)

    with pytest.raises(Exception, match="cannot create"):
        command("assign")(
            account=hospital, udi=udi, patient=patient_client.address,
            out=tmp_path / "missing" / "pairing.json",
        )  # fmt: skip
    assert contracts.device_keys.assignments(device_id(udi)) == []  # nothing was sent
    pairing = tmp_path / "pairing.json"
    command("assign")(account=hospital, udi=udi, patient=patient_client.address, out=pairing)
    assert pairing.stat().st_mode & 0o777 == 0o600
    with pytest.raises(Exception, match="never overwritten"):
        command("assign")(account=hospital, udi=udi, patient=patient_client.address, out=pairing)

    now = contracts.node.head_timestamp()
    fake = observation(GLUCOSE, udi, patient_client.address, now, 55)
    crafted = {**fake, "effectiveDateTime": "0001-01-01T00:30:00+01:00"}
    ref = hospital_client.anchor_record(
        patient_client.address,
        {"resourceType": "Bundle", "type": "collection",
         "entry": [{"resource": fake}, {"resource": crafted}]},
    )  # fmt: skip
    patient_key = tmp_path / "patient.key"
    save_key_pair(patient_client.key_pair, patient_key)
    read = main.commands["records"].commands["read"].callback
    args = dict(
        account=patient_client.account, record_id="0x" + ref.record_id.hex(), key=patient_key,
        version=None, purpose="treatment",
    )  # fmt: skip
    with pytest.raises(Exception, match="reading 0 is not trusted"):
        read(**args)
    monkeypatch.setenv("CARECHAIN_UNTRUSTED_READINGS", "mark")
    capsys.readouterr()
    read(**args)
    out = capsys.readouterr()
    assert "reading 0 is NOT trusted: tampered" in out.err
    assert "reading 1 is NOT trusted: malformed" in out.err
    assert out.out.count("urn:carechain:fhir:device-reading-untrusted") == 2

    command("readings")(
        account=patient_client.account, key=patient_key, patient=patient_client.address,
        as_json=True,
    )  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert [r["verdict"].split(":")[0] for r in rows] == ["malformed", "tampered"]
    assert not any(r["trusted"] for r in rows)
