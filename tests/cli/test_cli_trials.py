"""`carechain trials ...` against the test chain and the session's Kubo node: a sponsor
registers and funds, two patients enrol, the sponsor reads under consent, the participants
claim, the sponsor switches the primary outcome (flagged by show and verify), posts results
naming an unregistered outcome (flagged), and list shows the trial to anyone."""

import json

import pytest

from carechain import Category, KemSuite, KeyPair, Patient
from carechain.cli import main
from carechain.fhir import dumps
from carechain.fhir_trials import build_research_study, build_results
from carechain.keystore import save_key_pair
from carechain.samples import chart
from tests.helpers import USD

pytestmark = pytest.mark.integration

PRIMARY = "HbA1c change from baseline at 26 weeks"


def command(*path: str):
    """The function behind `carechain <path...>`."""
    group = main
    for name in path:
        group = group.commands[name]
    return group.callback


def keyed(account, contracts, ipfs, path):
    pair = KeyPair.generate(KemSuite.X25519)
    client = Patient(account, contracts, ipfs, pair)
    client.publish_key()
    save_key_pair(pair, path)
    return client


def test_trial_from_the_command_line(
    cli_env, capsys, accounts, governor, contracts, ipfs, hospital_client, patient,
    second_patient,
):  # fmt: skip
    sponsor = accounts[14]
    contracts.registry.admit(governor, "sponsor", sponsor)
    contracts.claims.token.mint(sponsor, 100 * USD, sender=governor)
    sponsor_key = cli_env / "sponsor.key"
    keyed(sponsor, contracts, ipfs, sponsor_key)
    participants = {}
    for seed, account in ((1, patient), (2, second_patient)):
        path = cli_env / f"p{seed}.key"
        client = keyed(account, contracts, ipfs, path)
        refs = hospital_client.anchor_records(
            [(client.address, r) for r in chart(seed, f"MRN-{seed}", extra=1)]
        )
        participants[account] = (path, [r for r in refs if r.category is Category.OBSERVATION])

    study = cli_env / "study.json"
    study.write_text(dumps(build_research_study("Drug X", sponsor.address, [PRIMARY], ["Weight"])))
    protocol = cli_env / "protocol.md"
    protocol.write_text("# Protocol\nRandomised, 26 weeks.\n")
    command("trials", "register")(
        account=sponsor, key=sponsor_key, study=study, protocol=protocol, planned=2,
        enrol_days=30, days=180, results_days=365, scope="category:observation",
        per_contribution="5", per_milestone="0", cap="20",
    )  # fmt: skip
    trial_id = int(capsys.readouterr().out.strip())
    command("trials", "fund")(account=sponsor, key=sponsor_key, trial_id=trial_id, amount="50")
    assert "escrow 50.00" in capsys.readouterr().out

    for account, (path, _) in participants.items():
        command("trials", "enrol")(account=account, key=path, trial_id=trial_id)
        assert "lets" in capsys.readouterr().out
    for _, observations in participants.values():
        command("trials", "read")(
            account=sponsor, key=sponsor_key, record_id=observations[0].record_id_hex
        )
        assert '"Observation"' in capsys.readouterr().out
    for account, (path, _) in participants.items():
        command("trials", "claim")(account=account, key=path, trial_id=trial_id)
        assert "paid 5.00 tokens: 1 contributions" in capsys.readouterr().out

    study.write_text(dumps(build_research_study("Drug X", sponsor.address, ["Weight"], [PRIMARY])))
    command("trials", "amend")(
        account=sponsor, key=sponsor_key, trial_id=trial_id, study=study, protocol=None,
        reason="slow recruitment",
    )  # fmt: skip
    assert "OUTCOME SWITCH" in capsys.readouterr().err

    results = cli_env / "results.json"
    results.write_text(dumps(build_results(trial_id, sponsor.address, {"Time in range": "+12%"})))
    command("trials", "results")(
        account=sponsor, key=sponsor_key, trial_id=trial_id, results_file=results
    )
    err = capsys.readouterr().err
    # Held to the outcomes registered when enrolment began, not to the switched ones.
    assert "never registered" in err and f"omits the primary outcome {PRIMARY!r}" in err

    command("trials", "show")(trial_id=trial_id, as_json=True)
    shown = json.loads(capsys.readouterr().out)
    assert shown["versions"][1]["outcome_switch"] and shown["enrolled"] == 2
    weight = next(o for o in shown["outcomes"] if o["name"] == "Weight")
    assert weight["registered_as_at_enrolment"] == "secondary"
    with pytest.raises(SystemExit) as exit_:
        command("trials", "verify")(trial_id=trial_id)
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "NOT registered as primary before enrolment began (it was secondary)" in out
    command("trials", "list")()
    assert "results posted" in capsys.readouterr().out
