"""`carechain keys backup|release|recover|reshare` and `carechain emergency ...` against the
test chain and the session's Kubo node (each command's function, connected to the test
network, reading the deployment from a file as a user's would)."""

import json

import pytest

from carechain import KemSuite, KeyPair, NotAuthorizedError, Patient
from carechain.cli import main
from carechain.errors import KeyNotFoundError
from carechain.hospital import Hospital
from carechain.keystore import load_key_pair, save_key_pair
from carechain.samples import chart

pytestmark = pytest.mark.integration


def command(*path: str):
    """The function behind `carechain <path...>`."""
    group = main
    for name in path:
        group = group.commands[name]
    return group.callback


def keyed(kind, account, contracts, ipfs, folder, name, suite=KemSuite.X25519):
    pair = KeyPair.generate(suite)
    client = kind(account, contracts, ipfs, pair)
    client.publish_key()
    save_key_pair(pair, folder / f"{name}.key")
    return client, folder / f"{name}.key"


def test_backup_lose_recover_rotate_from_the_command_line(
    cli_env, capsys, patient, patient_client, hospital_client, second_patient, guardian, doctor,
    contracts, ipfs,
):  # fmt: skip
    """Alice backs up 2 of 3, loses her key file, starts a recovery from a new device, two
    holders release, she finishes (recovered key written, the device key now hers, backed
    up again) and reads her record with the device key."""
    [ref] = hospital_client.anchor_records([(patient_client.address, chart(61, "MRN-61")[3])])
    alice_key = cli_env / "alice.key"
    save_key_pair(patient_client.key_pair, alice_key)
    holders = [
        keyed(Patient, a, contracts, ipfs, cli_env, n)
        for a, n in ((second_patient, "relative"), (guardian, "guardian"), (doctor, "gp"))
    ]
    command("keys", "backup")(
        account=patient, key=alice_key, holders=tuple(h.address for h, _ in holders), threshold=2
    )
    assert "epoch 1: 2 of 3 shares needed" in capsys.readouterr().out

    alice_key.unlink()  # lost
    device = cli_env / "device.key"
    save_key_pair(KeyPair.generate(KemSuite.MLKEM768_X25519), device)
    with pytest.raises(NotAuthorizedError, match="no open recovery request"):
        command("keys", "release")(
            account=second_patient, patient=patient.address, key=holders[0][1]
        )
    command("keys", "recover", "start")(account=patient, device=device, hours=24)
    assert capsys.readouterr().out.startswith("0x")
    for (_, key), account in ((holders[0], second_patient), (holders[2], doctor)):
        command("keys", "release")(account=account, patient=patient.address, key=key)
    assert capsys.readouterr().out.count("released your share") == 2

    recovered = cli_env / "recovered.key"
    command("keys", "recover", "finish")(account=patient, device=device, out=recovered, rotate=True)
    out = capsys.readouterr().out
    assert "recovered your MLKEM768_X25519 key" in out and "epoch 2: 2 of 3" in out
    assert load_key_pair(recovered).public_key == patient_client.key_pair.public_key
    assert contracts.reader_key(patient.address)[1] == load_key_pair(device).public_key
    command("records", "read")(
        account=patient, record_id=f"0x{ref.record_id.hex()}", key=device, version=None,
        purpose="treatment",
    )  # fmt: skip
    assert json.loads(capsys.readouterr().out)["resourceType"] == "Observation"


def test_reshare_needs_a_backup(cli_env, patient, patient_client, doctor, guardian):
    alice_key = cli_env / "alice.key"
    save_key_pair(patient_client.key_pair, alice_key)
    with pytest.raises(KeyNotFoundError, match="no backup to re-share"):
        command("keys", "reshare")(
            account=patient, key=alice_key, holders=(doctor.address, guardian.address), threshold=2
        )


def test_emergency_from_the_command_line(
    cli_env, capsys, accounts, governor, patient, patient_client, hospital_client,
    other_hospital, auditor, contracts, ipfs,
):  # fmt: skip
    """Alice enrolls; an emergency doctor opens break-glass, two institutions release, the
    doctor reads her allergy record; an auditor finds it unjustified and alice's log says
    so; after it closed, no institution releases."""
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "peanut",
        "patient": {"reference": "Patient/alice"},
        "code": {"text": "Peanut"},
    }
    [ref] = hospital_client.anchor_records([(patient_client.address, allergy)])
    alice_key = cli_env / "alice.key"
    save_key_pair(patient_client.key_pair, alice_key)
    institutions = []
    for index, account in enumerate((accounts[11], accounts[12], accounts[13])):
        contracts.registry.admit(governor, "emergency", account)
        institutions.append(
            (account, keyed(Hospital, account, contracts, ipfs, cli_env, f"er{index}")[1])
        )
    command("emergency", "enroll")(
        account=patient, key=alice_key, institutions=tuple(a.address for a, _ in institutions),
        threshold=2,
    )  # fmt: skip
    assert "2 of 3 institutions" in capsys.readouterr().out

    contracts.registry.admit(governor, "provider", other_hospital)
    _, doctor_key = keyed(Hospital, other_hospital, contracts, ipfs, cli_env, "er-doctor")
    command("emergency", "open")(
        account=other_hospital, patient=patient.address, reason="unconscious-in-ED", hours=1
    )
    access = capsys.readouterr().out.strip()
    for account, key in institutions[:2]:
        command("emergency", "release")(
            account=account, patient=patient.address, access_id=access, key=key
        )
    capsys.readouterr()
    command("emergency", "read")(
        account=other_hospital, record_id=f"0x{ref.record_id.hex()}", access_id=access,
        key=doctor_key,
    )  # fmt: skip
    assert json.loads(capsys.readouterr().out)["code"]["text"] == "Peanut"

    contracts.registry.admit(governor, "auditor", auditor)
    contracts.consent.review_break_glass(auditor, bytes.fromhex(access[2:]), False)
    command("emergency", "log")(account=patient)
    log = capsys.readouterr().out
    assert log.count(access) == 2 and "UNJUSTIFIED" in log
    with pytest.raises(NotAuthorizedError, match="not an open emergency access"):
        command("emergency", "release")(
            account=institutions[2][0], patient=patient.address, access_id=access,
            key=institutions[2][1],
        )  # fmt: skip
    command("emergency", "opt-out")(account=patient)
    assert "opted out" in capsys.readouterr().out
