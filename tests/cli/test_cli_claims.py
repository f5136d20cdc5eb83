"""The `carechain claims` commands against the test chain and the session's Kubo node.

Each command's function runs connected to the test network (the commands' own ``--network``
option would start a second anvil), reading the deployment from a file as a user's would."""

import json
from datetime import date

import click
import pytest

from carechain import ChainError, ClaimStatus, ConsentRequiredError
from carechain.cli import main
from carechain.fhir import dumps as fhir_dumps
from carechain.fhir_claims import build_claim
from carechain.keystore import save_key_pair
from tests.helpers import USD, claim_for

pytestmark = pytest.mark.integration


def command(name: str):
    """The function behind `carechain claims <name>`."""
    return main.commands["claims"].commands[name].callback


def _claim_file(tmp_path, hospital_client, patient_client, insurer_client, policy_id, refs):
    path = tmp_path / "claim.json"
    resource = build_claim(
        patient_client.address,
        hospital_client.address,
        insurer_client.address,
        policy_id,
        date.today(),
        [("99214", "Office visit", 1_100 * USD)],
        [refs[1].record_id],
    )
    path.write_text(fhir_dumps(resource))
    return path


def test_claim_from_submission_to_payment(
    cli_env,
    capsys,
    hospital,
    insurer,
    patient,
    hospital_client,
    patient_client,
    insurer_client,
    covered,
    contracts,
):
    """Submit from a FHIR file, list, open the evidence (a logged read), approve, settle,
    see what the patient owes and the ClaimResponse: every step's output says what happened."""
    policy_id, refs = covered
    hospital_key, insurer_key = cli_env / "hospital.key", cli_env / "insurer.key"
    save_key_pair(hospital_client.key_pair, hospital_key)
    save_key_pair(insurer_client.key_pair, insurer_key)
    file = _claim_file(cli_env, hospital_client, patient_client, insurer_client, policy_id, refs)

    command("submit")(
        account=hospital,
        file=file,
        policy=policy_id,
        insurer=insurer.address,
        record=(f"0x{refs[1].record_id.hex()}",),
        service_date=None,  # the Claim's own servicedDate
        key=hospital_key,
    )
    out = capsys.readouterr().out
    assert "submitted" in out
    claim_id = out.split()[1]
    [view] = insurer_client.claims()
    assert claim_id == f"0x{view.claim_id.hex()}"

    command("list")(account=insurer, status="submitted")
    assert claim_id in capsys.readouterr().out

    command("evidence")(account=insurer, claim_id=claim_id, key=insurer_key)
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["claim"]["resourceType"] == "Claim"
    assert bundle["evidence"][0]["resourceType"] == "Encounter"
    assert any(e.receipt.reader == insurer.address for e in patient_client.audit_trail())

    # deductible 100, then 10% co-pay on the remaining 1,000: insurer pays 900, patient 200
    command("approve")(account=insurer, claim_id=claim_id, amount="1100")
    assert "insurer pays 900.00, patient owes 200.00" in capsys.readouterr().out

    before = contracts.claims.balance_of(hospital.address)
    command("settle")(account=insurer, claim_ids=(), batch_size=50)
    assert "paid 1 claims, 900.00 in all" in capsys.readouterr().out
    assert contracts.claims.balance_of(hospital.address) - before == 900 * USD

    command("owed")(account=patient)
    assert "you owe 200.00" in capsys.readouterr().out
    command("show")(account=patient, claim_id=claim_id)
    response = json.loads(capsys.readouterr().out)
    assert response["resourceType"] == "ClaimResponse"
    assert response["outcome"] == "complete"
    assert contracts.claims.claim(view.claim_id).status is ClaimStatus.PAID


def test_refusals_are_named_and_change_nothing(
    cli_env, capsys, stranger, insurer, hospital_client, patient_client, insurer_client, covered
):
    """A stranger cannot approve; an amount that is not money is refused before sending; an
    unknown claim is named; once payment consent is revoked, the evidence is not opened."""
    policy_id, refs = covered
    claim_id, _ = claim_for(
        hospital_client, patient_client, insurer_client, policy_id, refs, 1_100 * USD, "99215"
    )
    hex_id = f"0x{claim_id.hex()}"
    with pytest.raises(ChainError, match="NotPolicyInsurer"):
        command("approve")(account=stranger, claim_id=hex_id, amount="10")
    with pytest.raises(click.BadParameter, match="not an amount"):
        command("approve")(account=insurer, claim_id=hex_id, amount="ten")
    with pytest.raises(click.BadParameter, match="whole token units"):
        command("approve")(account=insurer, claim_id=hex_id, amount="0.0000001")
    with pytest.raises(ChainError, match="UnknownClaim"):
        command("show")(account=insurer, claim_id="0x" + "11" * 32)
    assert insurer_client.claims()[0].status is ClaimStatus.SUBMITTED

    patient_client.revoke_access(patient_client.consents()[0].grant_id)
    key = cli_env / "insurer.key"
    save_key_pair(insurer_client.key_pair, key)
    with pytest.raises(ConsentRequiredError):
        command("evidence")(account=insurer, claim_id=hex_id, key=key)


def test_collect_says_when_nothing_is_owed(cli_env, hospital, hospital_client, insurer_client):
    """`claims collect` moves deferred payments; with none, one clear line and nothing sent."""
    with pytest.raises(click.ClickException, match="nothing is owed to you"):
        command("collect")(account=hospital, to=insurer_client.address)


def test_the_faucet_gives_a_new_insurer_test_tokens_to_fund(
    cli_env, capsys, insurer, insurer_client, stranger, contracts
):
    """On a local chain a newcomer's insurer gets test tokens (README: claims faucet, then
    claims fund); the amount is in tokens, not 6-decimal units."""
    before = contracts.claims.balance_of(stranger.address)
    command("faucet")(account=insurer, amount="250.50", to=stranger.address)
    assert contracts.claims.balance_of(stranger.address) - before == 250_500_000
    assert "minted 250.50 test tokens" in capsys.readouterr().out
    mine = contracts.claims.balance_of(insurer.address)
    command("faucet")(account=insurer, amount="1000", to=None)
    assert contracts.claims.balance_of(insurer.address) - mine == 1_000 * USD
    escrow = contracts.claims.escrow(insurer.address)[0]
    command("fund")(account=insurer, amount="1000")
    assert contracts.claims.escrow(insurer.address)[0] - escrow == 1_000 * USD


def test_whoami_prints_the_address_and_says_what_the_account_can_do(
    cli_env, capsys, hospital, hospital_client, stranger
):
    """stdout is the address alone (HOSPITAL=$(carechain whoami ...) works); the roles,
    key and balance go to stderr."""
    main.commands["whoami"].callback(account=hospital)
    out, err = capsys.readouterr()
    assert out == hospital.address + "\n"
    assert "roles:   provider" in err and "key:     published" in err
    main.commands["whoami"].callback(account=stranger)
    out, err = capsys.readouterr()
    assert out == stranger.address + "\n"
    assert "roles:   none" in err and "not published" in err
