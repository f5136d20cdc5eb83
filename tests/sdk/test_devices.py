"""Medical devices that sign their readings: a reading is trusted only if the device's key
and state at the reading's time say so; each refusal is named, on ingest and on every read."""

import copy
from decimal import Decimal

import pytest

from carechain.device_gateway import (
    Gateway,
    check_readings,
    ingest_readings,
    read_readings,
    readings_record,
)
from carechain.device_sim import GLUCOSE, HEART_RATE, SimulatedDevice, stream
from carechain.devices import (
    SIGNATURE_URL,
    UNTRUSTED_URL,
    Pairing,
    ReadingVerifier,
    Reason,
    UntrustedReadingError,
    assign_to_patient,
    bind_device_key,
    release_from_patient,
    revoke_device_key,
    sign_reading,
    signed_content,
)
from carechain.errors import ChainError, InvalidRecordError
from carechain.trace import SupplyChainParty

SENSOR = "(01)00844588003288(21)GLU-0001"
MONITOR = "(01)00844588003288(21)HR-0001"


# ---------------------------------------------------------------------- no chain


def test_the_signed_form_is_rfc8785_without_carechains_extensions():
    """Keys sorted, no whitespace, decimals as JCS numbers; the signature is not signed."""
    device = SimulatedDevice(SENSOR, "0x" + "11" * 20, GLUCOSE, seed=3)
    reading = device.reading(1_800_000_000)
    content = signed_content(reading)
    assert content.startswith(b'{"category":[{"coding":[{"code":"laboratory"')
    assert SIGNATURE_URL.encode() not in content
    assert b", " not in content and b": " not in content  # no whitespace between tokens
    # Reordering keys or writing 101 as 101.0 signs the same bytes; changing the value does not.
    reordered = dict(reversed(list(reading.items())))
    reordered["valueQuantity"] = {**reading["valueQuantity"], "value": Decimal("101.0")}
    reading["valueQuantity"]["value"] = Decimal("101")
    assert signed_content(reordered) == signed_content(reading)
    reordered["valueQuantity"]["value"] = Decimal("102")
    assert signed_content(reordered) != signed_content(reading)


def test_the_simulator_streams_realistic_values_at_the_issues_cadence():
    """Heart rate every second in /min, glucose every five minutes in mg/dL, LOINC-coded."""
    hr = SimulatedDevice(MONITOR, "0x" + "11" * 20, HEART_RATE, seed=1)
    glu = SimulatedDevice(SENSOR, "0x" + "22" * 20, GLUCOSE, seed=2)
    ticks = list(stream([hr, glu], 0, 600))
    assert sum(1 for _, d in ticks if d is hr) == 600
    assert sum(1 for _, d in ticks if d is glu) == 2
    assert [t for t, _ in ticks] == sorted(t for t, _ in ticks)
    values = [hr.reading(i)["valueQuantity"] for i in range(300)]
    assert {v["code"] for v in values} == {"/min"}
    assert all(45 <= v["value"] <= 150 for v in values)
    g = glu.reading(0)
    assert g["code"]["coding"][0]["code"] == "2339-0" and g["valueQuantity"]["unit"] == "mg/dL"


def test_malformed_readings_are_refused_with_what_is_missing():
    """No device UDI, no patient address, no time zone: each named."""
    device = SimulatedDevice(SENSOR, "0x" + "11" * 20, GLUCOSE)
    reading = device.reading(1_800_000_000)
    for field, value, message in (
        ("device", {"display": "a sensor"}, "names its device by UDI"),
        ("subject", {"reference": "Patient/1"}, "names its patient by address"),
        ("effectiveDateTime", "2026-12-01T10:00:00", "needs a time zone"),
    ):
        broken = {**reading, field: value}
        with pytest.raises(InvalidRecordError, match=message):
            sign_reading(broken, device.private_key)


# ---------------------------------------------------------------------- on anvil and Kubo


def set_next_block_time(chain, moment: int) -> None:
    chain.provider.make_request("evm_setNextBlockTimestamp", [moment])


@pytest.fixture
def world(accounts, governor, contracts, hospital, hospital_client, patient_client):
    """A glucose sensor registered by its maker, in service at the hospital, its key bound,
    assigned to the patient; the gateway knows the pairing."""
    maker, regulator = accounts[11], accounts[14]
    contracts.registry.admit(governor, "manufacturer", maker)
    contracts.registry.admit(governor, "regulator", regulator)
    contracts.trace.assign_company_prefix(governor, "0844588", maker.address)
    device = SimulatedDevice(SENSOR, patient_client.address, GLUCOSE, seed=7)
    SupplyChainParty(maker, contracts, hospital_client.ipfs).register_device(SENSOR, b"IFU v1")
    contracts.trace.assign_device(maker, device_udi_id(), hospital.address)
    bind_device_key(contracts, maker, SENSOR, device.public_key)
    pairing = assign_to_patient(contracts, hospital, SENSOR, patient_client.address)
    verifier = ReadingVerifier(contracts, ttl=0)
    gateway = Gateway(hospital_client, verifier, [pairing], max_readings=4, max_age=3600)

    def verify(observation, patient=None):
        """What the gateway's check says (it adds the pairing's salt first)."""
        return verifier.verify(gateway.salted(observation), patient)

    return {
        "verify": verify,
        "maker": maker,
        "regulator": regulator,
        "device": device,
        "pairing": pairing,
        "verifier": verifier,
        "gateway": gateway,
    }


def parse_device_id(udi: str) -> bytes:
    from carechain.trace import device_id

    return device_id(udi)


def device_udi_id() -> bytes:
    from carechain.trace import device_id

    return device_id(SENSOR)


def head_time(contracts) -> int:
    return contracts.node.head_timestamp()


def test_a_sensor_assigned_to_the_patient_streams_trusted_readings_the_doctor_reads_back(
    world, contracts, hospital_client, patient_client, doctor_client
):
    """Signed readings go through the gateway into one encrypted record of the patient; the
    patient and a consented doctor read them back, each checked again, values exact."""
    from carechain import Purpose, Scope

    start = head_time(contracts)
    readings = [world["device"].reading(start + i) for i in range(4)]
    assert all(world["gateway"].add(r).trusted for r in readings)
    [(ref, anchored)] = world["gateway"].flush()
    assert ref.patient == patient_client.address and len(anchored) == 4
    # The chain and IPFS hold only ciphertext: no value, no UDI, no signature in the clear.
    stored = hospital_client.ipfs.cat(ref.digest)
    assert b"GLU-0001" not in stored and b"mg/dL" not in stored

    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, start + 3600)
    for reader in (patient_client, doctor_client):
        checked = read_readings(reader, ref.record_id, world["verifier"], mode="refuse")
        assert [c.verdict.trusted for c in checked] == [True] * 4
        assert [c.value for c in checked] == [
            f"{r['valueQuantity']['value']} mg/dL" for r in readings
        ]
        assert checked[0].udi == SENSOR and checked[0].time == start


def test_a_reading_from_an_unknown_device_is_refused(world, contracts, patient_client):
    """A device never registered: refused on ingest, nothing buffered."""
    rogue = SimulatedDevice("(01)00844588003288(21)NOT-REGISTERED", patient_client.address)
    verdict = world["gateway"].add(rogue.reading(head_time(contracts)))
    assert verdict.reason is Reason.UNKNOWN_DEVICE and "NOT-REGISTERED" in verdict.detail
    assert world["gateway"].pending() == 0


def test_a_registered_device_without_a_key_is_refused(world, contracts, hospital_client):
    """Registered, but its manufacturer never bound a key: nothing it signs is trusted."""
    keyless = "(01)00844588003288(21)GLU-NOKEY"
    SupplyChainParty(world["maker"], contracts, hospital_client.ipfs).register_device(
        keyless, b"IFU"
    )
    reading = SimulatedDevice(keyless, world["device"].patient).reading(head_time(contracts))
    verdict = world["verify"](reading)
    assert verdict.reason is Reason.NO_KEY and "no signing key" in verdict.detail


def test_a_tampered_reading_is_refused_on_ingest_and_on_read(world, contracts, hospital_client):
    """A value changed after signing fails the signature; marked mode keeps it flagged, and
    every later read flags it again."""
    reading = world["device"].reading(head_time(contracts))
    tampered = copy.deepcopy(reading)
    tampered["valueQuantity"]["value"] = Decimal("95")  # from a hypoglycaemic 60-ish, say
    verdict = world["verify"](tampered)
    assert (
        verdict.reason is Reason.TAMPERED and "changed after the device signed it" in verdict.detail
    )
    with pytest.raises(UntrustedReadingError, match="tampered") as refused:
        check_readings(
            world["verifier"], map(world["gateway"].salted, [reading, tampered]), mode="refuse"
        )
    assert [i for i, _ in refused.value.verdicts] == [1]

    # Even in mark mode a gateway refuses it: it may not come from the device at all.
    marked = Gateway(hospital_client, world["verifier"], [world["pairing"]], mode="mark")
    assert marked.add(tampered).reason is Reason.TAMPERED and marked.pending() == 0
    # Anchored around the gateway, it is flagged on every read (refused in refuse mode).
    ref = hospital_client.anchor_record(
        world["device"].patient, readings_record([world["gateway"].salted(tampered)])
    )
    [checked] = read_readings(hospital_client, ref.record_id, world["verifier"], mode="mark")
    assert checked.verdict.reason is Reason.TAMPERED
    assert any(e["url"] == UNTRUSTED_URL for e in checked.observation["extension"])
    with pytest.raises(UntrustedReadingError, match="reading 0 is not trusted"):
        read_readings(hospital_client, ref.record_id, world["verifier"], mode="refuse")
    # A signature that is not even base64 is malformed, not trusted.
    garbled = copy.deepcopy(reading)
    next(e for e in garbled["extension"] if e["url"] == SIGNATURE_URL)["valueSignature"]["data"] = (
        "!!"
    )
    assert world["verify"](garbled).reason is Reason.MALFORMED


def test_a_decommissioned_device_is_refused_from_its_decommissioning_on(
    world, contracts, hospital, chain
):
    """Readings dated after the decommissioning are refused; earlier ones stay trusted."""
    before = head_time(contracts) + 1
    set_next_block_time(chain, before + 10)
    contracts.trace.decommission(hospital, device_udi_id(), "cracked housing")
    device = world["device"]
    assert world["verify"](device.reading(before)).trusted
    late = world["verify"](device.reading(before + 11))
    assert late.reason is Reason.DECOMMISSIONED and "decommissioned at" in late.detail


def test_a_device_whose_last_quality_check_failed_is_refused_until_one_passes(
    world, contracts, hospital, chain
):
    """The last quality check or calibration before the reading decides."""
    trace, t0 = contracts.trace, head_time(contracts) + 1
    set_next_block_time(chain, t0 + 10)
    trace.log_service(hospital, device_udi_id(), "quality-check", False, b"\1" * 32)
    set_next_block_time(chain, t0 + 20)
    trace.log_service(hospital, device_udi_id(), "calibration", True, b"\2" * 32)
    device, verify = world["device"], world["verify"]
    assert verify(device.reading(t0)).trusted
    failed = verify(device.reading(t0 + 15))
    assert failed.reason is Reason.QUALITY_CHECK_FAILED and "failed" in failed.detail
    assert verify(device.reading(t0 + 25)).trusted
    with pytest.raises(UntrustedReadingError, match="quality check failed"):
        check_readings(
            world["verifier"], [world["gateway"].salted(device.reading(t0 + 15))], mode="refuse"
        )


def test_a_device_assigned_to_another_patient_is_refused(
    world, contracts, hospital, hospital_client, patient_client, second_patient, chain
):
    """Readings naming another patient, filed in another's record, or dated after the device
    moved to another patient are refused; the chain never names either patient."""
    device, verify = world["device"], world["verify"]
    t0 = head_time(contracts) + 1
    # The same sensor's reading naming the second patient (a gateway mixing patients up).
    other = SimulatedDevice(SENSOR, second_patient.address, GLUCOSE, private_key=device.private_key)
    wrong = verify(other.reading(t0))  # the gateway has no pairing for them: no salt to show
    assert wrong.reason is Reason.NO_PAIRING and "no pairing" in wrong.detail
    # Filed in the second patient's record while it is about the first.
    assert verify(device.reading(t0), patient=second_patient.address).reason is Reason.OTHER_PATIENT
    # Reassigned: from then on the first patient's readings are not theirs.
    set_next_block_time(chain, t0 + 10)
    pairing = assign_to_patient(contracts, hospital, SENSOR, second_patient.address)
    world["gateway"].pair(pairing)
    before, after = device.reading(t0 + 5), device.reading(t0 + 15)
    assert world["gateway"].add(before).trusted
    assert world["gateway"].add(after).reason is Reason.OTHER_PATIENT
    assert world["gateway"].add(other.reading(t0 + 15)).trusted
    # Returned to the hospital: worn by no one, so nobody's readings are trusted.
    set_next_block_time(chain, t0 + 20)
    release_from_patient(contracts, hospital, SENSOR)
    unworn = verify(other.reading(t0 + 25))
    assert unworn.reason is Reason.NOT_ASSIGNED and "no patient" in unworn.detail
    # On-chain: a salted commitment, not an address.
    [first, second, _] = contracts.device_keys.assignments(device_udi_id())
    assert patient_client.address.lower()[2:] not in first.patient.hex()
    assert first.valid_to == second.valid_from == t0 + 10


def test_a_reading_signed_with_a_rotated_out_key_is_refused(world, contracts, chain):
    """After a rotation the old key signs nothing new; what it signed before stays trusted."""
    device, maker = world["device"], world["maker"]
    t0 = head_time(contracts) + 1
    set_next_block_time(chain, t0 + 10)
    replacement = SimulatedDevice(SENSOR, device.patient, GLUCOSE)
    bind_device_key(contracts, maker, SENSOR, replacement.public_key)
    verify = world["verify"]
    assert verify(device.reading(t0 + 5)).trusted
    late = verify(device.reading(t0 + 15))
    assert late.reason is Reason.ROTATED_OUT_KEY and "until" in late.detail
    assert verify(replacement.reading(t0 + 15)).trusted
    # The new key cannot sign backwards into the old key's time either.
    assert verify(replacement.reading(t0 + 5)).reason is Reason.ROTATED_OUT_KEY
    # A regulator revokes the new key (a cloned device): nothing after is trusted.
    set_next_block_time(chain, t0 + 20)
    revoke_device_key(contracts, world["regulator"], SENSOR)
    assert verify(replacement.reading(t0 + 25)).reason is Reason.ROTATED_OUT_KEY


def test_only_the_manufacturer_binds_keys_and_only_the_holder_assigns_patients(
    stranger, patient, world, contracts, hospital
):
    """Through the SDK, the contract's refusals arrive by name."""
    key = SimulatedDevice(SENSOR, patient.address).public_key
    for party in (stranger, hospital, patient):
        with pytest.raises(ChainError, match="NotDeviceManufacturer"):
            bind_device_key(contracts, party, SENSOR, key)
    for party in (stranger, patient, world["maker"]):
        with pytest.raises(ChainError, match="NotDeviceHolder"):
            assign_to_patient(contracts, party, SENSOR, patient.address)
    with pytest.raises(ValueError, match="32 bytes"):
        bind_device_key(contracts, world["maker"], SENSOR, b"short")


def test_ingesting_a_file_of_readings_is_all_or_nothing(
    world, contracts, hospital_client, patient_client
):
    """In refuse mode one bad reading refuses the whole ingest and nothing is anchored; the
    error names it. Good readings become records of at most ``max_readings`` each."""
    t0 = head_time(contracts)
    good = [world["device"].reading(t0 + i) for i in range(5)]
    unsigned = {k: v for k, v in good[0].items() if k != "extension"}
    pairings = [world["pairing"]]
    with pytest.raises(
        UntrustedReadingError, match=r"reading 5 refused .*carries no device signature"
    ):
        ingest_readings(
            hospital_client, world["verifier"], [*good, unsigned], pairings, mode="refuse"
        )
    assert patient_client.list_records() == []
    anchored = ingest_readings(hospital_client, world["verifier"], good, pairings, max_readings=3)
    assert [len(readings) for _, readings in anchored] == [3, 2]
    assert len(patient_client.list_records()) == 2


def test_pairings_round_trip_and_refuse_garbage():
    pairing = Pairing(SENSOR, "0x" + "ab" * 20, b"\7" * 32)
    again = Pairing.from_json(pairing.to_json())
    assert again.salt == pairing.salt and again.udi == SENSOR
    with pytest.raises(InvalidRecordError, match="not a device pairing"):
        Pairing.from_json({"udi": SENSOR})


# ---------------------------------------------------------------------- attack review (devrev)


def _unsigned(reading):
    return {k: v for k, v in reading.items() if k != "extension"}


def test_a_fake_device_reading_anchored_as_a_plain_record_is_refused_or_flagged_on_read(
    world, contracts, hospital_client, patient_client
):
    """Finding 1: a provider anchors an unsigned Observation naming a registered device
    through the ordinary anchor path; every read (patient, portal, `records read`) checks
    it: refused by default, shown marked in mark mode. A stored mark is not believed either
    way (stripped or forged, the read's own verdict replaces it)."""
    fake = _unsigned(world["device"].reading(head_time(contracts)))
    fake["extension"] = [{"url": UNTRUSTED_URL, "valueString": "trusted"}]  # a forged mark
    ref = hospital_client.anchor_record(patient_client.address, fake)
    with pytest.raises(
        UntrustedReadingError, match=r"reading 0 is not trusted .*no device signature"
    ):
        patient_client.read_record(ref.record_id)
    opened = patient_client.read_record(ref.record_id, untrusted="mark")
    [(index, verdict)] = opened.readings
    assert index == 0 and verdict.reason is Reason.TAMPERED
    marks = [e for e in opened.resource["extension"] if e["url"] == UNTRUSTED_URL]
    assert [m["valueString"] for m in marks] == [verdict.words()]
    # A genuine reading with an injected stale mark reads trusted, mark dropped.
    genuine = world["gateway"].salted(world["device"].reading(head_time(contracts)))
    genuine["extension"].append({"url": UNTRUSTED_URL, "valueString": "tampered: no"})
    ref = hospital_client.anchor_record(patient_client.address, genuine)
    opened = patient_client.read_record(ref.record_id)
    assert [v.trusted for _, v in opened.readings] == [True]
    assert all(e["url"] != UNTRUSTED_URL for e in opened.resource["extension"])


def test_a_small_order_key_signs_nothing(world, contracts, patient_client):
    """Finding 2: the identity point as a device key makes R=identity, S=0 a valid
    signature over anything; the SDK refuses to bind it, and a key bound around the SDK
    counts as no key."""
    import base64

    identity = b"\x01" + b"\x00" * 31
    with pytest.raises(InvalidRecordError, match="small-order"):
        bind_device_key(contracts, world["maker"], SENSOR, identity)
    contracts.device_keys.set_key(world["maker"], device_udi_id(), identity)  # around the SDK
    forged = world["device"].reading(head_time(contracts) + 1)
    forged["valueQuantity"]["value"] = Decimal("250")
    signature = next(e for e in forged["extension"] if e["url"] == SIGNATURE_URL)
    signature["valueSignature"]["data"] = base64.b64encode(identity + b"\x00" * 32).decode()
    verdict = world["verify"](forged)
    assert verdict.reason is Reason.NO_KEY and "weak" in verdict.detail


def test_a_leaked_key_cannot_back_date_readings_after_its_revocation(
    world, contracts, hospital_client, patient_client, chain
):
    """Finding 3: a revoked key still signs readings dated before the revocation; stored
    (or anchored) later than the grace period after it, they are refused. And a reading
    dated after its record's anchoring is from the future even once that date has passed."""
    from carechain.devices import ANCHOR_GRACE

    t0 = head_time(contracts) + 1
    set_next_block_time(chain, t0 + 10)
    revoke_device_key(contracts, world["regulator"], SENSOR)
    back_dated = world["gateway"].salted(world["device"].reading(t0 + 5))
    assert world["verifier"].verify(back_dated).trusted  # within the grace: a late upload
    set_next_block_time(chain, t0 + 10 + ANCHOR_GRACE + 60)
    ref = hospital_client.anchor_record(patient_client.address, back_dated)
    late = ReadingVerifier(contracts).verify(back_dated)  # a gateway storing it now
    assert late.reason is Reason.ANCHORED_AFTER_KEY_ENDED and "revoked" in late.detail
    with pytest.raises(UntrustedReadingError, match="anchored after its key ended"):
        patient_client.read_record(ref.record_id)
    # Dated an hour ahead of its anchoring: refused on read, whenever it is read.
    fresh_key = SimulatedDevice(SENSOR, patient_client.address, GLUCOSE)
    bind_device_key(contracts, world["maker"], SENSOR, fresh_key.public_key)
    anchored = head_time(contracts)
    ahead = world["gateway"].salted(fresh_key.reading(anchored + 3600))
    ref = hospital_client.anchor_record(patient_client.address, ahead)
    set_next_block_time(chain, anchored + 7200)
    chain.mine()
    opened = patient_client.read_record(ref.record_id, untrusted="mark")
    [(_, verdict)] = opened.readings
    assert verdict.reason is Reason.FUTURE and "after its record was anchored" in verdict.detail


def test_one_bad_reading_neither_stalls_the_gateway_nor_lets_strangers_in(
    world, contracts, hospital_client, patient_client
):
    """Finding 4: a reading that is not valid FHIR is refused on arrival (it used to be
    buffered and fail every flush, holding every patient's readings back); in mark mode a
    reading that may not come from the device (unsigned, unknown device) is still refused,
    and only state failures are kept marked."""
    t0 = head_time(contracts)
    bogus = world["device"].reading(t0)
    bogus = sign_reading({**_unsigned(bogus), "status": "bogus"}, world["device"].private_key)
    gateway = Gateway(hospital_client, world["verifier"], [world["pairing"]], mode="mark")
    verdict = gateway.add(bogus)
    assert verdict.reason is Reason.MALFORMED and "status" in verdict.detail
    assert gateway.pending() == 0
    assert gateway.add(_unsigned(world["device"].reading(t0))).reason is Reason.TAMPERED
    rogue = SimulatedDevice("(01)00844588003288(21)NOT-REGISTERED", patient_client.address)
    assert gateway.add(rogue.reading(t0)).reason is Reason.UNKNOWN_DEVICE
    assert gateway.pending() == 0
    assert gateway.add(world["device"].reading(t0 + 1)).trusted
    [(ref, [_stored])] = gateway.flush(everything=True)
    assert ref.patient == patient_client.address


def test_crafted_dates_and_numbers_are_malformed_not_a_crash(world, contracts):
    """Finding 6: a date before year 1 in UTC, a number JSON cannot write: MALFORMED."""
    reading = world["device"].reading(head_time(contracts))
    early = {**reading, "effectiveDateTime": "0001-01-01T00:30:00+01:00"}
    assert world["verify"](early).reason is Reason.MALFORMED
    huge = copy.deepcopy(reading)
    huge["valueQuantity"]["value"] = Decimal("1E+400")
    assert world["verify"](huge).reason is Reason.MALFORMED


def test_a_cached_device_state_does_not_vouch_for_readings_after_it_was_read(
    world, contracts, chain
):
    """Finding 7: a long-lived gateway caches device states; a reading dated after the
    state was read (here: just after a revocation) is checked against a fresh state."""
    verifier = ReadingVerifier(contracts, ttl=3600)
    gateway = Gateway(None, verifier, [world["pairing"]])
    t0 = head_time(contracts) + 1
    assert verifier.verify(gateway.salted(world["device"].reading(t0 - 1))).trusted
    revoked_at = head_time(contracts) + 10  # the chain's clock may have moved on meanwhile
    set_next_block_time(chain, revoked_at)
    revoke_device_key(contracts, world["regulator"], SENSOR)
    late = verifier.verify(gateway.salted(world["device"].reading(revoked_at + 5)))
    assert late.reason is Reason.ROTATED_OUT_KEY


def test_re_keying_a_readings_record_keeps_its_readings_standing_and_content(
    world, contracts, hospital_client, patient_client, chain
):
    """Bounding readings by their anchoring must not turn a re-keyed record's genuine
    readings untrusted (the first anchoring counts), and re-keying a record with an
    untrusted reading works in refuse mode and stores it as written, without read marks."""
    from carechain.devices import ANCHOR_GRACE

    t0 = head_time(contracts)
    genuine = world["gateway"].salted(world["device"].reading(t0))
    ref = hospital_client.anchor_record(patient_client.address, genuine)
    fake = hospital_client.anchor_record(
        patient_client.address, _unsigned(world["device"].reading(t0))
    )
    # After the anchors, by the chain's clock (on a loaded machine it may be past t0 + 10).
    revoked_at = head_time(contracts) + 10
    set_next_block_time(chain, revoked_at)
    revoke_device_key(contracts, world["regulator"], SENSOR)
    set_next_block_time(chain, revoked_at + 2 * ANCHOR_GRACE)
    hospital_client.rotate_record_key(ref.record_id)
    opened = patient_client.read_record(ref.record_id)
    assert opened.version.version == 2 and [v.trusted for _, v in opened.readings] == [True]
    hospital_client.rotate_record_key(fake.record_id)
    again = patient_client.read_record(fake.record_id, untrusted="mark")
    assert again.version.version == 2 and "extension" not in again.as_stored
    assert [v.reason for _, v in again.readings] == [Reason.TAMPERED]


def test_a_flush_sets_aside_a_bad_group_and_loses_nothing_when_anchoring_fails(
    world, contracts, hospital_client, patient_client, accounts, governor, hospital
):
    """Finding 4, at flush: a buffered reading changed after it was checked (the gateway
    keeps the caller's dict) makes its group invalid; that group is quarantined and the
    other device's readings are anchored. If anchoring itself fails with any error, the
    readings taken out of the buffers go back."""
    other_udi = "(01)00844588003288(21)GLU-0002"
    SupplyChainParty(world["maker"], contracts, hospital_client.ipfs).register_device(
        other_udi, b"IFU"
    )
    contracts.trace.assign_device(world["maker"], parse_device_id(other_udi), hospital.address)
    other = SimulatedDevice(other_udi, patient_client.address, GLUCOSE, seed=9)
    bind_device_key(contracts, world["maker"], other_udi, other.public_key)
    pairing = assign_to_patient(contracts, hospital, other_udi, patient_client.address)
    gateway = Gateway(hospital_client, world["verifier"], [world["pairing"], pairing])
    t0 = head_time(contracts)
    changed = world["gateway"].salted(world["device"].reading(t0))
    assert gateway.add(changed).trusted and gateway.add(other.reading(t0)).trusted
    changed["status"] = "bogus"
    [(ref, [anchored])] = gateway.flush(everything=True)
    assert anchored["device"]["identifier"]["value"] == other_udi
    assert ref.patient == patient_client.address
    [(patient, [held], why)] = gateway.quarantined
    assert (
        patient == patient_client.address
        and held is changed
        and "status" in why
        and gateway.pending() == 0
    )

    class Broken:
        def anchor_records(self, items):
            raise RuntimeError("IPFS went away")

    failing = Gateway(Broken(), world["verifier"], [pairing])
    assert failing.add(other.reading(t0 + 1)).trusted
    with pytest.raises(RuntimeError):
        failing.flush(everything=True)
    assert failing.pending() == 1  # not lost
