"""Medical devices that sign their readings: a reading is trusted only if the device's key
and state at the reading's time say so; each refusal is named, on ingest and on every read."""

import copy
from decimal import Decimal

import pytest

from carechain.device_gateway import Gateway, check_readings, ingest_readings, read_readings
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

    # Accepted marked untrusted (the setting): stored with the reason, flagged on every read.
    marked = Gateway(hospital_client, world["verifier"], [world["pairing"]], mode="mark")
    assert marked.add(tampered).reason is Reason.TAMPERED
    [(ref, [stored])] = marked.flush(everything=True)
    assert any(e["url"] == UNTRUSTED_URL for e in stored["extension"])
    [checked] = read_readings(hospital_client, ref.record_id, world["verifier"], mode="mark")
    assert checked.verdict.reason is Reason.TAMPERED
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
    wrong = verify(other.reading(t0))
    assert wrong.reason is Reason.OTHER_PATIENT
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
