"""Consent that controls decryption, end to end: grant, read, revoke, deny, sign, audit."""

import time

import pytest
from eth_account.messages import _hash_eip191_message

from carechain import (
    Category,
    ConsentRequiredError,
    KeyNotFoundError,
    Patient,
    Purpose,
    Scope,
)
from carechain.crypto import envelope_readers, key_fingerprint
from carechain.samples import chart

pytestmark = pytest.mark.integration
MONTH = 30 * 86400


def until(chain, seconds=MONTH):
    return chain.blocks.head.timestamp + seconds


@pytest.fixture
def chart_refs(hospital_client, patient_client):
    """The patient's chart: Patient, Encounter, Condition and three Observations."""
    return hospital_client.anchor_records(
        [(patient_client.address, r) for r in chart(31, "MRN-31")]
    )


def test_grant_shares_keys_for_existing_records(patient_client, doctor_client, chart_refs, chain):
    """Records anchored before the grant are readable through the grant's key object."""
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    for ref in chart_refs:
        opened = doctor_client.read_record(ref.record_id, purpose=Purpose.TREATMENT)
        assert opened.head.patient == patient_client.address
    assert len(doctor_client.receipts.pending) == len(chart_refs)


def test_no_consent_no_read(patient_client, doctor_client, chart_refs):
    with pytest.raises(
        ConsentRequiredError, match=r"given no consent for treatment.*ask the patient"
    ):
        doctor_client.read_record(chart_refs[0].record_id)


def test_consent_is_per_purpose(patient_client, doctor_client, chart_refs, chain):
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.RESEARCH, until(chain))
    with pytest.raises(ConsentRequiredError, match="treatment"):
        doctor_client.read_record(chart_refs[0].record_id, purpose=Purpose.TREATMENT)
    doctor_client.read_record(chart_refs[0].record_id, purpose=Purpose.RESEARCH)


def test_new_record_in_scope_is_readable_without_a_new_grant(
    hospital_client, patient_client, doctor_client, chain
):
    """The author encrypts records anchored later to grantees whose consent covers them."""
    patient_client.grant_access(
        doctor_client.address, Scope.category(Category.OBSERVATION), Purpose.TREATMENT, until(chain)
    )
    observation, condition = chart(32, "MRN-32")[3], chart(32, "MRN-32")[2]
    later = hospital_client.anchor_record(patient_client.address, observation)
    other = hospital_client.anchor_record(patient_client.address, condition)
    fingerprint = key_fingerprint(doctor_client.key_pair.public_key)
    assert fingerprint in envelope_readers(doctor_client.ipfs.cat(later.digest))
    assert fingerprint not in envelope_readers(doctor_client.ipfs.cat(other.digest))
    assert doctor_client.read_record(later.record_id).resource["resourceType"] == "Observation"
    with pytest.raises(ConsentRequiredError):
        doctor_client.read_record(other.record_id)


def test_revocation_refuses_reads_and_future_versions(
    hospital_client, patient_client, doctor_client, chart_refs, chain
):
    """After revocation the SDK refuses reads, and a version anchored after it is not
    encrypted to the former grantee, even if they later regain permission."""
    target = chart_refs[3].record_id
    grant_id, _ = patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain)
    )
    doctor_client.read_record(target)
    patient_client.revoke_access(grant_id)
    with pytest.raises(ConsentRequiredError, match="consent for all their records was revoked"):
        doctor_client.read_record(target)

    newer = hospital_client.rotate_record_key(target)
    fingerprint = key_fingerprint(doctor_client.key_pair.public_key)
    assert fingerprint not in envelope_readers(doctor_client.ipfs.cat(newer.digest))
    # Consent again, but without re-sharing keys: the new version stays closed to them.
    patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain), share_keys=False
    )
    with pytest.raises(KeyNotFoundError, match="no key for version 2"):
        doctor_client.read_record(target)


def test_deny_inside_grant(hospital_client, patient_client, doctor_client, chain):
    """'Everything except mental health': the note is refused, the rest readable."""
    note = {
        "resourceType": "Condition",
        "code": {"text": "Generalised anxiety disorder"},
        "subject": {"reference": "Patient/mrn-33"},
    }
    note_ref = hospital_client.anchor_record(patient_client.address, note, Category.MENTAL_HEALTH)
    obs_ref = hospital_client.anchor_record(patient_client.address, chart(33, "MRN-33")[3])
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    patient_client.deny_access(
        doctor_client.address,
        Scope.category(Category.MENTAL_HEALTH),
        Purpose.TREATMENT,
        until(chain),
    )
    doctor_client.read_record(obs_ref.record_id)
    with pytest.raises(ConsentRequiredError, match="denied mental health records for treatment"):
        doctor_client.read_record(note_ref.record_id)


def test_expired_consent_is_refused(patient_client, doctor_client, chart_refs, chain):
    patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain, 600)
    )
    doctor_client.read_record(chart_refs[0].record_id)
    chain.mine(timestamp=until(chain, 601))
    with pytest.raises(ConsentRequiredError, match="consent for all their records expired at"):
        doctor_client.read_record(chart_refs[0].record_id)


def test_signed_consent_relayed_by_anyone(
    patient_client, doctor_client, chart_refs, contracts, stranger, chain
):
    """The patient signs (no ETH); the payload survives JSON; a stranger relays it."""
    from carechain import SignedConsent

    signed = patient_client.sign_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain), until(chain, 3600)
    )
    relayed = SignedConsent.from_json(signed.to_json())
    contracts.consent.relay(stranger, relayed)
    assert (
        doctor_client.read_record(chart_refs[1].record_id).resource["resourceType"] == "Encounter"
    )


def test_guardian_grants_for_the_patient(
    patient_client, doctor_client, chart_refs, contracts, ipfs, guardian, chain
):
    patient_client.appoint_guardian(guardian.address)
    contracts.consent.grant(
        guardian,
        doctor_client.address,
        Scope.record(chart_refs[0].record_id),
        Purpose.TREATMENT,
        until(chain),
        patient=patient_client.address,
    )
    assert contracts.consent.can_access(
        doctor_client.address, chart_refs[0].record_id, Purpose.TREATMENT
    )
    assert [c.grantee for c in patient_client.consents()] == [doctor_client.address]


def test_audit_trail_shows_and_proves_every_read(
    patient_client, doctor_client, chart_refs, contracts, chain
):
    """Reads become signed receipts; their Merkle root is anchored; the patient sees each
    read, checks its signature, and the chain confirms each receipt's inclusion."""
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    read = [chart_refs[0].record_id, chart_refs[2].record_id, chart_refs[0].record_id]
    for record_id in read:
        doctor_client.read_record(record_id)
    [root] = doctor_client.receipts.flush()
    assert doctor_client.receipts.pending == []

    trail = patient_client.audit_trail()
    assert [entry.receipt.record_id for entry in trail] == read
    doctor = doctor_client.address
    for entry in trail:
        assert entry.verified and entry.signature_valid and entry.in_anchored_batch
        assert entry.receipt.reader == entry.reader == doctor
        assert entry.root == root
        digest = entry.receipt.digest(contracts)
        # hashed directly, it is the digest the typed-data encoder gives (and signs)
        assert digest == bytes(_hash_eip191_message(entry.receipt.typed_data(contracts)))
        assert contracts.access_log.verify(doctor, root, digest, entry.proof)
        assert not contracts.access_log.verify(patient_client.address, root, digest, entry.proof)
    stored = contracts.access_log.batch(doctor, root)
    assert (stored.reader, stored.patient, stored.count) == (doctor, patient_client.address, 3)
    assert contracts.access_log.batch(patient_client.address, root) is None

    forged = type(trail[0].receipt)(**{**trail[0].receipt.__dict__, "version": 9})
    assert not contracts.access_log.verify(doctor, root, forged.digest(contracts), trail[0].proof)


def test_strangers_cannot_open_the_trail(
    patient_client, doctor_client, chart_refs, contracts, ipfs, stranger, chain
):
    """Someone else's key opens no batch: every batch is listed as flagged, no read shown."""
    from carechain import KeyPair

    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    doctor_client.read_record(chart_refs[0].record_id)
    doctor_client.receipts.flush()
    impostor = Patient(stranger, contracts, ipfs, KeyPair.generate())
    from carechain.receipts import audit_trail

    [entry] = audit_trail(contracts, ipfs, patient_client.address, impostor.key_pair)
    assert entry.receipt is None and not entry.verified
    assert "cannot be opened" in entry.problem and entry.reader == doctor_client.address


def _anchor_sealed(contracts, account, patient, root, body, readers, ipfs):
    """Anchor, as ``account``, a receipt batch with content ``body`` sealed as the SDK seals
    one (to ``readers``, bound to ``patient`` and ``root``)."""
    from carechain.crypto import encrypt_record
    from carechain.receipts import _batch_context

    added = ipfs.add(encrypt_record(body, _batch_context(contracts, patient, root), readers))
    contracts.access_log.anchor(account, patient, root, added.digest, 1)
    return added.digest


def test_attack7_junk_and_copied_batches_are_flagged_and_hide_no_read(
    patient_client,
    doctor_client,
    chart_refs,
    contracts,
    ipfs,
    kubo,
    stranger,
    second_patient,
    accounts,
    chain,
):
    """Anyone may anchor a batch under any patient. An attacker copies the doctor's pending
    root (as seen in the mempool) under a decoy patient and under the patient before the
    doctor anchors, and files junk: content that is not on IPFS, not an envelope, not JSON,
    receipts that do not hash to the anchored root, and a receipt about another patient. The
    doctor's anchor still lands; the patient sees both genuine reads verified, once, and every
    other entry flagged with what is wrong — nothing raises."""
    import json
    import secrets

    from carechain.ipfs import IPFSClient
    from carechain.receipts import AccessReceipt, audit_trail, merkle_root, sign_receipt

    patient = patient_client.address
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    for ref in chart_refs[:2]:
        doctor_client.read_record(ref.record_id)
    book = doctor_client.receipts
    sealed = book.seal(patient)
    receipts = list(book.pending)
    log = contracts.access_log
    # The front-run: the same root and digest, first, under a decoy and (by an accomplice:
    # one reader fills one batch per root) under the patient.
    accomplice = accounts[12]
    log.anchor(stranger, second_patient.address, sealed.root, sealed.digest, sealed.count)
    log.anchor(accomplice, patient, sealed.root, sealed.digest, sealed.count)
    log.anchor(doctor_client.account, patient, sealed.root, sealed.digest, sealed.count)
    book.settled(patient)
    assert log.batch(doctor_client.address, sealed.root).patient == patient
    assert log.batch(stranger.address, sealed.root).patient == second_patient.address

    patient_key = contracts.reader_key(patient)
    genuine = json.dumps([r.to_dict() for r in receipts])
    # Junk: missing content, an unencrypted blob, an envelope of non-JSON, receipts under a
    # root they do not hash to, and a receipt (signed by the attacker) about someone else.
    log.anchor(stranger, patient, secrets.token_bytes(32), secrets.token_bytes(32), 1)
    log.anchor(stranger, patient, secrets.token_bytes(32), ipfs.add(b"junk").digest, 1)
    _anchor_sealed(
        contracts, stranger, patient, secrets.token_bytes(32), b"{not json", [patient_key], ipfs
    )
    _anchor_sealed(
        contracts, stranger, patient, secrets.token_bytes(32), genuine.encode(), [patient_key], ipfs
    )
    other = sign_receipt(
        stranger,
        contracts,
        AccessReceipt(
            stranger.address, second_patient.address, chart_refs[0].record_id, 1,
            Purpose.TREATMENT, chain.blocks.head.timestamp,
        ),
    )  # fmt: skip
    other_root = merkle_root([other.leaf(contracts)])
    body = json.dumps([other.to_dict()]).encode()
    _anchor_sealed(contracts, stranger, patient, other_root, body, [patient_key], ipfs)

    quick = IPFSClient(kubo.api_url, fetch_timeout=1)  # the missing batch costs 1 s, not 10
    trail = audit_trail(contracts, quick, patient, patient_client.key_pair)

    verified = [e for e in trail if e.verified]
    assert [e.receipt.record_id for e in verified] == [r.record_id for r in chart_refs[:2]]
    assert all(e.reader == doctor_client.address for e in verified)
    flagged = [e.problem for e in trail if not e.verified]
    assert len(flagged) == len(trail) - 2 == 2 + 3 + 2 + 1
    assert sum("a copied receipt" in p for p in flagged) == 2  # the copy under the patient
    assert sum("cannot be fetched" in p for p in flagged) == 1
    assert sum("cannot be opened" in p for p in flagged) == 1
    assert sum("cannot be parsed" in p for p in flagged) == 1
    assert sum("do not hash to its anchored root" in p for p in flagged) == 2
    assert sum("another patient" in p for p in flagged) == 1
    attackers = {stranger.address, accomplice.address}
    assert all(e.reader in attackers for e in trail if not e.verified)


def test_attack14d_an_internal_node_is_not_a_receipt(
    patient_client, doctor_client, chart_refs, contracts, chain
):
    """A 64-byte internal node of an anchored tree, presented as a receipt with the rest of
    its path as the proof, fails on-chain and locally: the leaf is built from the receipt's
    digest (hashed twice), never taken as given."""
    from carechain.receipts import _pair, merkle_proof, receipt_leaf, verify_receipt_proof

    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    for ref in chart_refs[:4]:
        doctor_client.read_record(ref.record_id)
    digests = [r.digest(contracts) for r in doctor_client.receipts.pending]
    [root] = doctor_client.receipts.flush()
    leaves = [receipt_leaf(d) for d in digests]
    node = _pair(leaves[0], leaves[1])
    path = merkle_proof(leaves, 0)[1:]  # from the node up
    assert _pair(node, path[0]) == root  # the node really is on the path to the root
    doctor = doctor_client.address
    assert not contracts.access_log.verify(doctor, root, node, path)
    assert not verify_receipt_proof(node, path, root)
    # ...a leaf presented as a digest fails too; the genuine receipt passes.
    assert not contracts.access_log.verify(doctor, root, leaves[0], merkle_proof(leaves, 0))
    assert contracts.access_log.verify(doctor, root, digests[0], merkle_proof(leaves, 0))
    assert verify_receipt_proof(digests[0], merkle_proof(leaves, 0), root)


def test_break_glass_authorises_emergency_reads_only(
    patient_client, doctor_client, chart_refs, contracts, governor, chain
):
    contracts.registry.admit(governor, "provider", doctor_client.account)
    target = chart_refs[0].record_id
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)
    doctor_client.open_break_glass(patient_client.address, "unconscious-in-ED", 600)
    assert contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)
    chain.mine(timestamp=until(chain, 601))
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)


def test_break_glass_is_closed_by_the_patient_and_waits_for_review(
    patient_client, doctor_client, chart_refs, contracts, governor, chain
):
    """The patient ends a clinician's emergency access at once; the clinician cannot open
    another for this patient until an auditor has found the first justified."""
    from carechain import NotAuthorizedError

    contracts.registry.admit(governor, "provider", doctor_client.account)
    target = chart_refs[0].record_id
    access_id = doctor_client.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    patient_client.close_break_glass(access_id)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)
    with pytest.raises(NotAuthorizedError, match=r"BreakGlassBlocked\(.*review=pending review"):
        doctor_client.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    with pytest.raises(ValueError, match="a reason must be a code"):
        doctor_client.open_break_glass(patient_client.address, "fell down the stairs", 3600)


def test_a_later_decision_voids_an_unrelayed_signature(
    patient_client, doctor_client, chart_refs, contracts, stranger, chain
):
    """A signed grant the doctor held back is void once the patient revokes directly; a
    signed revocation still lands after the doctor front-runs it with a held grant."""
    from carechain import ChainError

    target = chart_refs[0].record_id
    grant_id, _ = patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain)
    )
    held = patient_client.sign_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain, 90 * 86400)
    )
    patient_client.revoke_access(grant_id)
    with pytest.raises(ChainError, match="InvalidSignature"):
        contracts.consent.relay(doctor_client.account, held)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)

    grant_id, _ = patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain)
    )
    held = patient_client.sign_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain, 90 * 86400)
    )
    revocation = patient_client.sign_revocation(grant_id)
    latest = max(time.time(), chain.blocks.head.timestamp)
    assert revocation.deadline <= latest + 3600 + 60  # short by default
    contracts.consent.relay(doctor_client.account, held)  # the front-run
    contracts.consent.relay_revoke(stranger, revocation)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)


def test_a_guardians_grants_end_with_its_removal(
    patient_client, doctor_client, chart_refs, contracts, guardian, chain
):
    from carechain import NotAuthorizedError

    patient_client.appoint_guardian(guardian.address)
    with pytest.raises(NotAuthorizedError, match="GuardianOwnAccess"):
        contracts.consent.grant(
            guardian,
            guardian.address,
            Scope.all(),
            Purpose.TREATMENT,
            until(chain),
            patient=patient_client.address,
        )
    contracts.consent.grant(
        guardian,
        doctor_client.address,
        Scope.all(),
        Purpose.TREATMENT,
        until(chain),
        patient=patient_client.address,
    )
    target = chart_refs[0].record_id
    assert contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)
    patient_client.remove_guardian(guardian.address)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)


def test_grant_round_trips_through_fhir_consent(patient_client, doctor_client, chart_refs, chain):
    """A grant exports as a valid FHIR Consent; a Consent imports as the same grant."""
    from carechain.fhir_consent import from_fhir_consent, to_fhir_consent

    scope = Scope.category(Category.OBSERVATION)
    patient_client.grant_access(doctor_client.address, scope, Purpose.RESEARCH, until(chain))
    [consent] = patient_client.consents()
    resource = to_fhir_consent(consent)
    assert resource["resourceType"] == "Consent" and resource["status"] == "active"
    assert resource["provision"]["purpose"][0]["code"] == "HRESCH"
    grantee, parsed_scope, purpose, end, deny = from_fhir_consent(resource)
    assert (grantee, parsed_scope, purpose, end, deny) == (
        doctor_client.address,
        scope,
        Purpose.RESEARCH,
        consent.end,
        False,
    )

    resource["provision"]["actor"] = []
    from carechain import InvalidRecordError

    with pytest.raises(InvalidRecordError, match=r"provision\.actor"):
        from_fhir_consent(resource)


def test_cli_audit_trail_shows_verified_reads_and_flags_junk(
    cli_env, capsys, patient, patient_client, doctor_client, chart_refs, contracts, stranger, chain
):
    """`carechain audit trail` prints every read with a check column: the doctor's read
    verified, a junk batch a stranger anchored under the patient flagged, nothing raised."""
    import secrets

    from carechain.cli import main
    from carechain.keystore import save_key_pair

    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    doctor_client.read_record(chart_refs[0].record_id)
    doctor_client.receipts.flush()
    junk = patient_client.ipfs.add(b"junk").digest
    contracts.access_log.anchor(stranger, patient.address, secrets.token_bytes(32), junk, 1)
    key = cli_env / "patient.key"
    save_key_pair(patient_client.key_pair, key)

    main.commands["audit"].commands["trail"].callback(account=patient, key=key)
    out = capsys.readouterr().out
    assert f"0x{chart_refs[0].record_id.hex()} v1" in out and "verified" in out
    assert "FLAGGED: the batch cannot be opened" in out
    assert stranger.address in out
    assert "1 reads verified, 1 entries flagged" in out
