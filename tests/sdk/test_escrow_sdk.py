"""Keys people can lose (issue 18), end to end on anvil and Kubo: a patient backs up their
record key 2 of 3, loses it, recovers it on a new device, reads every old record and
rotates; emergency institutions release their shares of each record's data key only during
an open break-glass, and what they release opens those records and nothing anchored later.
Every refusal is shown: too few shares, a forged share, a holder without a request, a
stranger, a release without (or after) break-glass, for another patient, after opt-out."""

import os

import pytest

from carechain import ConsentRequiredError, KemSuite, KeyPair, Patient, Purpose
from carechain.crypto import (
    EMERGENCY_ENTRY,
    decode_key_object,
    encode_key_object,
    envelope_entry,
    envelope_readers,
    key_fingerprint,
    open_emergency_share,
    open_envelope,
    seal_to,
)
from carechain.errors import (
    ChainError,
    ConfigurationError,
    DecryptionError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecoveryError,
)
from carechain.escrow import (
    HeldShare,
    _record_release_info,
    _release_info,
    emergency_data_key,
    held_share,
    share_commitment,
    split_secret,
)
from carechain.fhir import Category
from carechain.hospital import Hospital
from carechain.model import EscrowKind, PendingAnchor, new_record_id
from carechain.samples import chart

pytestmark = pytest.mark.integration


def party(kind, account, contracts, ipfs, suite=KemSuite.X25519):
    client = kind(account, contracts, ipfs, KeyPair.generate(suite))
    client.publish_key()
    return client


@pytest.fixture
def holders(second_patient, guardian, doctor, contracts, ipfs, patient_client):
    """A relative, a guardian (appointed on-chain) and the patient's GP, keys published."""
    patient_client.appoint_guardian(guardian.address)
    return [party(Patient, a, contracts, ipfs) for a in (second_patient, guardian, doctor)]


@pytest.fixture
def chart_refs(hospital_client, patient_client):
    return hospital_client.anchor_records(
        [(patient_client.address, r) for r in chart(18, "MRN-18")]
    )


@pytest.fixture
def new_device(patient, contracts, ipfs):
    """The patient's account on a new device, with a fresh key pair (not yet published)."""
    return Patient(patient, contracts, ipfs, KeyPair.generate(KemSuite.MLKEM768_X25519))


def backed_up(patient_client, holders):
    return patient_client.back_up_key([h.address for h in holders], 2)


# ---------------------------------------------------------------- backup and recovery


def test_recover_with_two_of_three_then_rotate(
    patient_client, holders, chart_refs, new_device, hospital_client
):
    """Alice loses her key file, recovers it with 2 of 3 holders on a new device, reads
    every old record, and rotates: the new key is published, old records open with it (the
    re-wrapped data keys), new records are encrypted to it, the old key is gone."""
    old_public = patient_client.key_pair.public_key
    escrow = backed_up(patient_client, holders)
    assert (escrow.threshold, escrow.holders) == (2, [h.address for h in holders])
    new_device.request_recovery()
    holders[0].release_backup_share(patient_client.address)
    holders[2].release_backup_share(patient_client.address)
    recovered = new_device.recover_key()
    assert recovered.public_key == old_public
    reader = Patient(
        patient_client.account, patient_client.contracts, patient_client.ipfs, recovered
    )
    for ref in chart_refs:
        assert reader.read_record(ref.record_id).head.record_id == ref.record_id

    new_device.rotate_key(recovered)
    new_device.close_recovery()
    contracts = new_device.contracts
    assert contracts.reader_key(new_device.address)[1] == new_device.key_pair.public_key
    for ref in chart_refs:  # old records, through the re-wrapped keys
        new_device.read_record(ref.record_id)
    [later] = hospital_client.anchor_records([(new_device.address, chart(19, "MRN-19")[3])])
    envelope = new_device.ipfs.cat(later.digest)
    assert key_fingerprint(new_device.key_pair.public_key) in envelope_readers(envelope)
    assert key_fingerprint(old_public) not in envelope_readers(envelope)
    new_device.read_record(later.record_id)
    # The backup was of the old key: back the new one up (same holders, a new epoch).
    assert new_device.back_up_key([h.address for h in holders], 2).epoch == 2


def test_one_share_is_not_enough(patient_client, holders, new_device):
    """t-1 shares fail, saying how many more are needed; the key is not rebuilt."""
    backed_up(patient_client, holders)
    new_device.request_recovery()
    holders[1].release_backup_share(patient_client.address)
    with pytest.raises(RecoveryError, match=r"1 valid share\(s\), but 2 are needed.*1 more"):
        new_device.recover_key()


def forge_release(holder, patient_client, new_device, escrow, share_text):
    """A holder records, through the contract, a share that is not the committed one."""
    contracts, request = holder.contracts, new_device.recovery_request()
    index = escrow.holders.index(holder.address)
    forged = HeldShare(index, bytes(32), share_text)
    info = _release_info(
        contracts, patient_client.address, EscrowKind.BACKUP, request.request_id, index
    )
    sealed = seal_to(new_device.key_pair.suite, request.device_key, forged.payload(), info)
    added = holder.ipfs.add(sealed)
    contracts.escrow.release(
        holder.account, patient_client.address, EscrowKind.BACKUP, request.request_id, index,
        added.digest,
    )  # fmt: skip


def test_a_forged_share_is_detected_and_left_out(patient_client, holders, new_device):
    """A holder releases a share of another secret: it fails its on-chain commitment, is
    named and left out, never combined; the two genuine shares still recover the key."""
    escrow = backed_up(patient_client, holders)
    new_device.request_recovery()
    holders[0].release_backup_share(patient_client.address)
    forge_release(holders[1], patient_client, new_device, escrow, split_secret(bytes(32), 2, 3)[1])
    with pytest.raises(RecoveryError, match=f"share 1 from {holders[1].address} does not match"):
        new_device.recover_key()
    holders[2].release_backup_share(patient_client.address)
    assert new_device.recover_key().public_key == patient_client.key_pair.public_key


def test_holders_release_nothing_without_the_patients_request(patient_client, holders, contracts):
    """No request: the holder's client refuses before storing anything, and the contract
    refuses a release sent around the SDK."""
    escrow = backed_up(patient_client, holders)
    with pytest.raises(NotAuthorizedError, match="no open recovery request"):
        holders[0].release_backup_share(patient_client.address)
    with pytest.raises(ChainError, match="NoOpenRequest"):
        contracts.escrow.release(
            holders[0].account, patient_client.address, EscrowKind.BACKUP, bytes(32), 0,
            escrow.shares_digest,
        )  # fmt: skip


def test_a_request_after_it_closed_gets_nothing(patient_client, holders, new_device):
    backed_up(patient_client, holders)
    new_device.request_recovery()
    new_device.close_recovery()
    with pytest.raises(NotAuthorizedError, match="no open recovery request"):
        holders[0].release_backup_share(patient_client.address)


def test_a_stranger_holds_no_share(patient_client, holders, new_device, stranger, contracts, ipfs):
    backed_up(patient_client, holders)
    new_device.request_recovery()
    outsider = party(Patient, stranger, contracts, ipfs)
    with pytest.raises(NotAuthorizedError, match="holds no share"):
        outsider.release_backup_share(patient_client.address)


def test_reshare_replaces_a_holder_without_recovering(
    patient_client, holders, new_device, stranger, contracts, ipfs
):
    """The guardian is replaced by a new holder: it can no longer take part, the new holder
    can, and the old epoch's commitments are not the new ones."""
    first = backed_up(patient_client, holders)
    newcomer = party(Patient, stranger, contracts, ipfs)
    second = patient_client.back_up_key(
        [holders[0].address, newcomer.address, holders[2].address], 2
    )
    assert second.epoch == first.epoch + 1 and set(second.commitments).isdisjoint(first.commitments)
    new_device.request_recovery()
    with pytest.raises(NotAuthorizedError, match="holds no share"):
        holders[1].release_backup_share(patient_client.address)
    newcomer.release_backup_share(patient_client.address)
    holders[2].release_backup_share(patient_client.address)
    assert new_device.recover_key().public_key == patient_client.key_pair.public_key


def test_bad_backups_are_refused_before_anything_is_stored(
    patient_client, holders, stranger, contracts, patient, ipfs
):
    addresses = [h.address for h in holders]
    with pytest.raises(ValueError, match="one holder alone must learn nothing"):
        patient_client.back_up_key(addresses, 1)
    with pytest.raises(ValueError, match="listed twice or is the patient"):
        patient_client.back_up_key([addresses[0], addresses[0], addresses[1]], 2)
    with pytest.raises(ValueError, match="listed twice or is the patient"):
        patient_client.back_up_key([addresses[0], patient_client.address], 2)
    with pytest.raises(KeyNotFoundError, match="has not published an encryption key"):
        patient_client.back_up_key([addresses[0], stranger.address], 2)
    unpublished = Patient(patient, contracts, ipfs, KeyPair.generate())
    with pytest.raises(ConfigurationError, match="not the one you published"):
        unpublished.back_up_key(addresses, 2)
    assert contracts.escrow.escrow(patient_client.address, EscrowKind.BACKUP) is None


def test_recovery_needs_a_backup(new_device):
    with pytest.raises(KeyNotFoundError, match="has no key backup"):
        new_device.request_recovery()


# ---------------------------------------------------------------- emergency escrow


@pytest.fixture
def institutions(accounts, governor, contracts, ipfs):
    """Three emergency-care institutions the governor admitted."""
    clients = []
    for account in (accounts[11], accounts[12], accounts[13]):
        contracts.registry.admit(governor, "emergency", account)
        clients.append(party(Hospital, account, contracts, ipfs))
    return clients


@pytest.fixture
def er_doctor(other_hospital, governor, contracts, ipfs):
    """An emergency doctor at another hospital (a provider; no consent from the patient)."""
    contracts.registry.admit(governor, "provider", other_hospital)
    return party(Hospital, other_hospital, contracts, ipfs)


@pytest.fixture
def enrolled(patient_client, institutions, chart_refs):
    return patient_client.enroll_emergency([i.address for i in institutions], 2)


def allergy(hospital_client, patient_client):
    [ref] = hospital_client.anchor_records(
        [
            (patient_client.address, r)
            for r in chart(20, "MRN-20")
            if r["resourceType"] == "Condition"
        ]
    )
    return ref


def test_break_glass_opens_records_with_two_institutions(
    patient_client, hospital_client, institutions, enrolled, er_doctor, chart_refs
):
    """During an open break-glass, two institutions release to the doctor, who reads a
    record anchored before enrolment (the escrow's key object) and one anchored after (its
    envelope); each read is receipted for emergency, and the patient sees the releases."""
    later = allergy(hospital_client, patient_client)
    access = er_doctor.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient_client.address, access)
    institutions[2].release_emergency_share(patient_client.address, access)
    for ref in (chart_refs[2], later):
        record = er_doctor.read_in_emergency(ref.record_id, access)
        assert record.head.patient == patient_client.address
    assert [r.purpose for r in er_doctor.receipts.pending] == [Purpose.EMERGENCY] * 2
    er_doctor.receipts.flush()
    trail = patient_client.audit_trail()
    assert {e.receipt.purpose for e in trail if e.verified} == {Purpose.EMERGENCY}
    releases = patient_client.emergency_releases()
    assert {(r.request_id, r.holder) for r in releases} == {
        (access, institutions[0].address),
        (access, institutions[2].address),
    }


def test_one_institution_alone_opens_nothing(
    patient_client, institutions, enrolled, er_doctor, chart_refs
):
    access = er_doctor.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    institutions[1].release_emergency_share(patient_client.address, access)
    with pytest.raises(RecoveryError, match=r"1 emergency institution.*1 more must release"):
        er_doctor.read_in_emergency(chart_refs[0].record_id, access)


def test_no_release_without_break_glass(patient_client, institutions, enrolled, contracts):
    """Without an open break-glass the institutions' clients release nothing, and the
    contract refuses a release sent around the SDK."""
    with pytest.raises(NotAuthorizedError, match="not an open emergency access"):
        institutions[0].release_emergency_share(patient_client.address, bytes(32))
    with pytest.raises(ChainError, match="NoOpenRequest"):
        contracts.escrow.release(
            institutions[0].account, patient_client.address, EscrowKind.EMERGENCY, bytes(32),
            0, enrolled.keys_digest,
        )  # fmt: skip


def test_after_break_glass_closes_nothing_is_released_or_read(
    patient_client, institutions, enrolled, er_doctor, chart_refs
):
    access = er_doctor.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient_client.address, access)
    institutions[1].release_emergency_share(patient_client.address, access)
    er_doctor.read_in_emergency(chart_refs[0].record_id, access)
    patient_client.close_break_glass(access)
    with pytest.raises(NotAuthorizedError, match="not an open emergency access"):
        institutions[2].release_emergency_share(patient_client.address, access)
    with pytest.raises(ConsentRequiredError, match="break-glass"):
        er_doctor.read_in_emergency(chart_refs[1].record_id, access)


def test_no_release_under_another_patients_break_glass(
    patient_client, institutions, enrolled, er_doctor, second_patient
):
    other = er_doctor.open_break_glass(second_patient.address, "unconscious-in-ED", 3600)
    with pytest.raises(NotAuthorizedError, match="not an open emergency access"):
        institutions[0].release_emergency_share(patient_client.address, other)


def test_unjustified_verdict_ends_release(
    patient_client, institutions, enrolled, er_doctor, governor, auditor, contracts
):
    contracts.registry.admit(governor, "auditor", auditor)
    access = er_doctor.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    contracts.consent.review_break_glass(auditor, access, False)
    with pytest.raises(NotAuthorizedError, match="not an open emergency access"):
        institutions[0].release_emergency_share(patient_client.address, access)


def test_opt_out(patient_client, hospital_client, institutions, enrolled, er_doctor, contracts):
    """After opting out, institutions release nothing and new records' data keys are not
    split among them: break-glass authorises but opens nothing."""
    before = allergy(hospital_client, patient_client)
    assert EMERGENCY_ENTRY in envelope_readers(patient_client.ipfs.cat(before.digest))
    patient_client.opt_out_emergency()
    access = er_doctor.open_break_glass(patient_client.address, "unconscious-in-ED", 3600)
    with pytest.raises(KeyNotFoundError, match="no emergency escrow"):
        institutions[0].release_emergency_share(patient_client.address, access)
    later = allergy(hospital_client, patient_client)
    assert EMERGENCY_ENTRY not in envelope_readers(patient_client.ipfs.cat(later.digest))
    assert contracts.emergency_shares(patient_client.address) is None


def test_only_admitted_institutions_hold_emergency_shares(patient_client, holders, contracts):
    with pytest.raises(NotAuthorizedError, match="not an emergency institution"):
        patient_client.enroll_emergency([h.address for h in holders], 2)
    assert contracts.emergency_shares(patient_client.address) is None
    assert contracts.escrow.next_epoch(patient_client.address, EscrowKind.EMERGENCY) == 1


def released_to(clinician, contracts, patient, access):
    """Everything the institutions released to ``clinician`` for ``access``: per holder,
    {(record id, version): share sealed to the clinician}."""
    opened = {}
    for release in contracts.escrow.releases(patient, EscrowKind.EMERGENCY, access):
        entries = decode_key_object(clinician.ipfs.cat(release.release_digest))
        opened[release.holder] = dict(entries)
    return opened


def test_what_was_released_opens_nothing_anchored_later(
    patient_client, hospital_client, institutions, enrolled, er_doctor, chart_refs, contracts
):
    """The gap a single emergency key had: a clinician who once got it could open every
    record anchored afterwards. Now two institutions release during an open break-glass;
    after it closes the hospital anchors a new allergy record, and nothing the clinician
    was given holds a share of it — even calling the SDK directly, past the chain's check,
    it cannot be rebuilt."""
    patient = patient_client.address
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient, access)
    institutions[1].release_emergency_share(patient, access)
    released = released_to(er_doctor, contracts, patient, access)
    assert {len(entries) for entries in released.values()} == {len(chart_refs)}
    patient_client.close_break_glass(access)
    later = allergy(hospital_client, patient_client)
    assert all((later.record_id, 1) not in entries for entries in released.values())
    record = contracts.registry.version(later.record_id)
    with pytest.raises(RecoveryError, match="0 emergency institution"):
        emergency_data_key(
            contracts, er_doctor.ipfs, er_doctor.key_pair, access, record,
            er_doctor.ipfs.cat(later.digest),
        )  # fmt: skip


def test_each_released_key_opens_only_its_own_record(
    patient_client, institutions, enrolled, er_doctor, chart_refs, contracts
):
    """What a release gives is per record: the key rebuilt for one record does not open
    another (there is no patient-wide key to rebuild)."""
    patient = patient_client.address
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    institutions[1].release_emergency_share(patient, access)
    institutions[2].release_emergency_share(patient, access)
    first, second = (contracts.registry.version(ref.record_id) for ref in chart_refs[:2])
    key = emergency_data_key(
        contracts, er_doctor.ipfs, er_doctor.key_pair, access, first,
        er_doctor.ipfs.cat(first.cid_digest),
    )  # fmt: skip
    with pytest.raises(DecryptionError):
        open_envelope(
            er_doctor.ipfs.cat(second.cid_digest), key,
            contracts.record_context(patient, second.record_id, second.version),
        )  # fmt: skip


def forge_emergency_release(
    institution, contracts, patient, access, er_doctor, records, same_split=False
):
    """An institution that releases random bytes as its shares, sealed properly to the
    clinician, so only combining can tell. With ``same_split`` it keeps its real share's
    head (the split's identifier, its index, the threshold): only the value lies."""
    escrow = contracts.escrow.escrow(patient, EscrowKind.EMERGENCY)
    index = escrow.holders.index(institution.address)
    suite, key = contracts.reader_key(er_doctor.address)
    older = decode_key_object(institution.ipfs.cat(escrow.keys_digest))
    entries = []
    for r in records:
        head = bytes([1, 2, index + 1, 2])
        if same_split:
            context = contracts.record_context(patient, r.record_id, r.version)
            real = open_emergency_share(
                older[(r.record_id, r.version)], institution.key_pair, context
            )
            head = real[:4]
        forged = head + os.urandom(32)
        info = _record_release_info(contracts, patient, access, r, index)
        entries.append((r.record_id, r.version, seal_to(suite, key, forged, info)))
    added = institution.ipfs.add(encode_key_object(entries))
    contracts.escrow.release(
        institution.account, patient, EscrowKind.EMERGENCY, access, index, added.digest
    )


def test_a_forged_emergency_share_is_left_out_and_named(
    patient_client, institutions, enrolled, er_doctor, chart_refs, contracts, caplog
):
    """A lying institution cannot make the clinician accept a wrong key: with the forger and
    one honest institution nothing is believed (the read says the shares do not belong
    together); with two honest releases the record opens, and the forger is named in a
    warning."""
    patient = patient_client.address
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    records = contracts.registry.records_of(patient)
    forge_emergency_release(institutions[0], contracts, patient, access, er_doctor, records)
    institutions[1].release_emergency_share(patient, access)
    with pytest.raises(RecoveryError, match=r"1 more must release.*2 different splits"):
        er_doctor.read_in_emergency(chart_refs[0].record_id, access)
    institutions[2].release_emergency_share(patient, access)
    caplog.clear()  # the forger must be named by the read that succeeds, too
    record = er_doctor.read_in_emergency(chart_refs[0].record_id, access)
    assert record.head.record_id == chart_refs[0].record_id
    assert institutions[0].address in caplog.text


def test_a_forged_share_of_the_same_split_is_caught_by_what_it_opens(
    patient_client, institutions, enrolled, er_doctor, chart_refs, contracts, caplog
):
    """The cleverer liar keeps its real share's head, so its share joins the honest split:
    combined with one honest share it opens nothing (SLIP-39's digest or the record's
    AES-GCM tag refuses it); with two honest shares the record opens and the liar is named."""
    patient = patient_client.address
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    records = contracts.registry.records_of(patient)
    forge_emergency_release(
        institutions[2], contracts, patient, access, er_doctor, records, same_split=True
    )
    institutions[0].release_emergency_share(patient, access)
    with pytest.raises(RecoveryError, match="a released share is forged or altered"):
        er_doctor.read_in_emergency(chart_refs[1].record_id, access)
    institutions[1].release_emergency_share(patient, access)
    caplog.clear()
    assert er_doctor.read_in_emergency(chart_refs[1].record_id, access).head.patient == patient
    assert institutions[2].address in caplog.text


def anchor_junk(provider, contracts, ipfs, patient):
    """What any admitted provider can do: anchor, for any patient, content that is not a
    carechain envelope."""
    junk = ipfs.add(b"not a carechain envelope")
    contracts.registry.anchor(
        provider.account, PendingAnchor(new_record_id(), patient, Category(0), junk.digest)
    )


def test_a_junk_record_blocks_neither_enrolment_nor_release(
    patient_client, institutions, er_doctor, contracts, ipfs, chart_refs
):
    """A provider anchors junk for the patient before and after enrolment: the enrolment
    and every institution's release leave it out (and say so) instead of failing, and the
    patient's real records still open in an emergency."""
    patient = patient_client.address
    anchor_junk(er_doctor, contracts, ipfs, patient)
    patient_client.enroll_emergency([i.address for i in institutions], 2)
    anchor_junk(er_doctor, contracts, ipfs, patient)
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    first = institutions[0].release_emergency_share(patient, access)
    institutions[1].release_emergency_share(patient, access)
    assert first.records == len(chart_refs)
    assert len(first.left_out) == 2 and "not a carechain" in first.left_out[0]
    assert er_doctor.read_in_emergency(chart_refs[0].record_id, access).head.patient == patient


def test_re_enrolment_replaces_the_split_of_older_records(
    patient_client, hospital_client, institutions, er_doctor
):
    """Re-enrolment replaces institution 1 by 2 and raises nothing else: a record anchored
    under the first enrolment opens with the two current institutions (each releases its
    share of the new split, not of the envelope's old one)."""
    patient = patient_client.address
    patient_client.enroll_emergency([institutions[0].address, institutions[1].address], 2)
    earlier = allergy(hospital_client, patient_client)
    patient_client.enroll_emergency([institutions[0].address, institutions[2].address], 2)
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient, access)
    institutions[2].release_emergency_share(patient, access)
    assert er_doctor.read_in_emergency(earlier.record_id, access).head.patient == patient


def test_a_raised_threshold_holds_for_older_records(
    patient_client, hospital_client, institutions, er_doctor
):
    """The patient re-enrols to need all three institutions: two releases no longer open a
    record anchored under the 2-of-3 enrolment."""
    patient = patient_client.address
    addresses = [i.address for i in institutions]
    patient_client.enroll_emergency(addresses, 2)
    earlier = allergy(hospital_client, patient_client)
    patient_client.enroll_emergency(addresses, 3)
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient, access)
    institutions[1].release_emergency_share(patient, access)
    with pytest.raises(RecoveryError, match=r"2 emergency institution.*1 more must release"):
        er_doctor.read_in_emergency(earlier.record_id, access)
    institutions[2].release_emergency_share(patient, access)
    assert er_doctor.read_in_emergency(earlier.record_id, access).head.patient == patient


def test_a_record_anchored_during_the_emergency_opens_after_a_second_release(
    patient_client, hospital_client, institutions, enrolled, er_doctor
):
    """A lab result arrives an hour into the emergency, after the institutions released:
    they release again while the access is open, and the clinician reads it."""
    patient = patient_client.address
    access = er_doctor.open_break_glass(patient, "unconscious-in-ED", 3600)
    institutions[0].release_emergency_share(patient, access)
    institutions[1].release_emergency_share(patient, access)
    later = allergy(hospital_client, patient_client)
    with pytest.raises(RecoveryError, match="again, if the record was anchored after"):
        er_doctor.read_in_emergency(later.record_id, access)
    institutions[0].release_emergency_share(patient, access)
    institutions[1].release_emergency_share(patient, access)
    assert er_doctor.read_in_emergency(later.record_id, access).head.record_id == later.record_id


def test_an_institution_does_not_release_to_its_own_break_glass(
    patient_client, institutions, enrolled, governor, contracts
):
    """An institution that is also a provider opens the break-glass itself: its client
    refuses to release to it, and so does the contract (its own share would count towards
    the threshold, leaving one other institution to convince)."""
    patient = patient_client.address
    contracts.registry.admit(governor, "provider", institutions[0].account)
    access = institutions[0].open_break_glass(patient, "unconscious-in-ED", 3600)
    with pytest.raises(NotAuthorizedError, match="your own"):
        institutions[0].release_emergency_share(patient, access)
    with pytest.raises(ChainError, match="ReleaseToSelf"):
        contracts.escrow.release(
            institutions[0].account, patient, EscrowKind.EMERGENCY, access, 0,
            enrolled.keys_digest,
        )  # fmt: skip


def test_an_institution_removed_by_governance_gets_no_shares_of_new_records(
    patient_client, hospital_client, institutions, enrolled, governor, contracts
):
    """Governance removes institution 0 from the emergency role: records anchored from then
    on are split between the two that remain (still 2 needed), so it holds no share of them."""
    contracts.registry.remove(governor, "emergency", institutions[0].account)
    shares = contracts.emergency_shares(patient_client.address)
    assert shares is not None and len(shares.holders) == 2
    later = allergy(hospital_client, patient_client)
    context = contracts.record_context(patient_client.address, later.record_id, 1)
    wrapped = envelope_entry(patient_client.ipfs.cat(later.digest), EMERGENCY_ENTRY)
    with pytest.raises(KeyNotFoundError):
        open_emergency_share(wrapped, institutions[0].key_pair, context)
    assert open_emergency_share(wrapped, institutions[1].key_pair, context)


def test_commitments_are_what_the_contract_stores(patient_client, holders, contracts):
    """A holder can prove its share genuine: it opens to exactly the committed value."""
    escrow = backed_up(patient_client, holders)
    for index, holder in enumerate(holders):
        share = held_share(contracts, holder.ipfs, holder.key_pair, holder.address, escrow)
        assert share_commitment(
            escrow.patient, EscrowKind.BACKUP, escrow.epoch, index, share.salt, share.share
        ) == bytes(contracts.escrow.contract.getShare.call(escrow.patient, 0, 1, index).commitment)
