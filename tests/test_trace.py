"""Traceability: GS1 parsing, medicine custody from manufacturer to dispensing, recalls,
counterfeits, and medical devices through their life in a hospital."""

from datetime import date, timedelta

import pytest

from carechain.errors import ChainError, InvalidRecordError, RecordNotFoundError
from carechain.trace import GS, GS1Code, SupplyChainParty, device_id, parse_gs1

pytestmark = pytest.mark.integration

GTIN = "09506000134352"  # a valid GTIN-14 (check digit 2)


# ---------------------------------------------------------------------- GS1 (no chain)


def test_parse_human_readable_and_scanned_forms():
    text = f"(01){GTIN}(17)271231(10)A12B(21)1005"
    code = parse_gs1(text)
    assert code == GS1Code(GTIN, "A12B", date(2027, 12, 31), "1005")
    assert code.element_string() == text
    scanned = f"]d201{GTIN}17271231" + f"10A12B{GS}211005"
    assert parse_gs1(scanned) == code
    # Variable fields may come in any order; the last needs no GS.
    assert parse_gs1(f"01{GTIN}211005{GS}10A12B{GS}17271231") == code


@pytest.mark.parametrize(
    "text, message",
    [
        ("(01)09506000134353(10)A1(21)1", "check digit"),
        ("(01)0950600013435(10)A1", "14 digits"),
        (f"(01){GTIN}(21)1", "needs a lot"),
        (f"(01){GTIN}(10)" + "L" * 21, "1 to 20"),
        (f"(01){GTIN}(17)271340(10)A1", "YYMMDD"),
        (f"(01){GTIN}(99)x(10)A1", "unsupported"),
        ("hello", "unsupported"),
    ],
)
def test_bad_codes_are_refused_by_name(text, message):
    with pytest.raises(InvalidRecordError, match=message):
        parse_gs1(text)


def test_serials_must_be_numeric_and_udis_present():
    with pytest.raises(InvalidRecordError, match="numeric"):
        _ = parse_gs1(f"(01){GTIN}(10)A1(21)AB12").serial_number
    with pytest.raises(InvalidRecordError, match="UDI"):
        device_id("  ")


# ---------------------------------------------------------------------- on anvil and Kubo


@pytest.fixture
def parties(accounts, governor, contracts, ipfs, hospital, other_hospital):
    """A manufacturer, a distributor, a pharmacy, two hospitals and a regulator."""
    roles = {
        "manufacturer": accounts[11],
        "distributor": accounts[12],
        "pharmacy": accounts[13],
        "regulator": accounts[14],
    }
    for role, account in roles.items():
        contracts.registry.admit(governor, role, account)
    contracts.registry.admit(governor, "provider", other_hospital)
    named = {name: SupplyChainParty(a, contracts, ipfs) for name, a in roles.items()}
    named["hospital"] = SupplyChainParty(hospital, contracts, ipfs)
    named["other_hospital"] = SupplyChainParty(other_hospital, contracts, ipfs)
    return named


def code(serial=None, lot="LOT-7", expiry=None):
    return GS1Code(GTIN, lot, expiry or date.today() + timedelta(days=365), serial)


@pytest.fixture
def batch(parties):
    """1,000 units (serials 1..1000) registered with a certificate of analysis."""
    return parties["manufacturer"].register_batch(code(), 1, 1000, b"CoA: assay 99.8%, sterile")


def test_a_batch_moves_down_the_chain_and_is_dispensed_once(parties, batch, contracts, ipfs):
    m, d, p = parties["manufacturer"], parties["distributor"], parties["pharmacy"]
    registered = contracts.trace.events(batch)[0]
    assert registered.event_name == "BatchRegistered"
    assert ipfs.cat(bytes(registered.docDigest)).startswith(b"CoA")  # the certificate, verified

    m.ship(batch, 1, 600, d.address)
    assert d.incoming(batch) == [(0, 1, 600)]
    assert d.accept_all(batch) == 600
    d.ship(batch, 101, 300, p.address)
    assert p.accept_all(batch) == 200

    v = p.verify(code("150"))
    assert v.genuine and v.holder == p.address and v.safe_to_use
    p.dispense(code("150"))
    again = p.verify(code("150"))
    assert again.dispensed and not again.safe_to_use
    assert [line.split(": ", 1)[1].split(",")[0] for line in again.history] == [
        f"registered by manufacturer {m.address}",
        "offered",
        "accepted",
        "offered",
        "accepted",
        f"dispensed by {p.address}",
    ]
    with pytest.raises(ChainError, match=r"AlreadyDispensed.*nothing was sent"):
        p.dispense(code("150"))  # the SDK refuses before sending...
    holding = next(
        i for i, (h, lo, hi, _) in enumerate(contracts.trace.segments(batch)) if h == p.address
    )
    with pytest.raises(ChainError, match="AlreadyDispensed"):
        contracts.trace.dispense(p.account, batch, holding, 150)  # ...and so does the contract
    # Custody is exact: who holds what now.
    assert sorted((h, lo, hi) for h, lo, hi, _ in contracts.trace.segments(batch)) == sorted(
        [
            (m.address, 601, 1000),
            (d.address, 1, 100),
            (p.address, 101, 300),
            (d.address, 301, 600),
        ]
    )


def test_transfers_and_dispensing_are_refused_to_the_wrong_party(
    parties, batch, contracts, stranger
):
    m, d, p = parties["manufacturer"], parties["distributor"], parties["pharmacy"]
    trace = contracts.trace
    with pytest.raises(ChainError, match="NotHolder"):
        trace.offer(d.account, batch, 0, 1, 10, p.address)  # not the holder
    with pytest.raises(ChainError, match="NotInSupplyChain"):
        trace.offer(m.account, batch, 0, 1, 10, stranger.address)  # no supply-chain role
    with pytest.raises(ChainError, match="SerialsOutsideSegment"):
        trace.offer(m.account, batch, 0, 990, 1001, d.address)  # serial outside the batch
    m.ship(batch, 1, 10, d.address)
    with pytest.raises(ChainError, match="TransferPending"):
        trace.offer(m.account, batch, 0, 1, 5, p.address)  # already offered
    with pytest.raises(ChainError, match="NoTransferToYou"):
        trace.accept(p.account, batch, 0)  # offered to someone else
    with pytest.raises(ChainError, match="MissingRole"):
        trace.dispense(d.account, batch, 1, 500)  # a distributor cannot dispense
    with pytest.raises(ChainError, match="NotHolder"):
        trace.dispense(p.account, batch, 1, 500)  # the pharmacy holds nothing yet
    trace.cancel_offer(d.account, batch, 0)  # the receiver declines
    assert d.incoming(batch) == []
    with pytest.raises(ChainError, match="NotBatchManufacturerOrRegulator"):
        trace.recall(d.account, batch, "contamination")
    with pytest.raises(ChainError, match="MissingRole"):
        d.register_batch(code(lot="OTHER"), 1, 10, b"CoA")  # only manufacturers register


def test_batches_are_registered_once_with_a_sane_range(parties, batch):
    m = parties["manufacturer"]
    with pytest.raises(ChainError, match="BatchExists"):
        m.register_batch(code(), 1, 5, b"CoA")
    with pytest.raises(ChainError, match="InvalidBatch"):
        m.register_batch(code(lot="L2"), 10, 9, b"CoA")
    with pytest.raises(ChainError, match="InvalidBatch"):
        m.register_batch(code(lot="L3", expiry=date(2020, 1, 1)), 1, 9, b"CoA")


def test_a_counterfeit_serial_is_not_genuine(parties, batch):
    p = parties["pharmacy"]
    outside = p.verify(code("1001"))  # beyond the registered range
    assert not outside.genuine and not outside.safe_to_use and outside.history == []
    unknown = p.verify(code("5", lot="FAKE-1"))  # a lot never registered
    assert not unknown.genuine
    with pytest.raises(InvalidRecordError, match="check digit"):
        p.verify("(01)09506000134351(10)LOT-7(21)5")  # a forged GTIN


def test_a_recall_reaches_every_downstream_holder_and_stops_the_units(parties, batch, contracts):
    m, d, p = parties["manufacturer"], parties["distributor"], parties["pharmacy"]
    h1, h2 = parties["hospital"], parties["other_hospital"]
    m.ship(batch, 1, 800, d.address)
    d.accept_all(batch)
    d.ship(batch, 1, 100, p.address)
    p.accept_all(batch)
    d.ship(batch, 101, 400, h1.address)
    h1.accept_all(batch)
    d.ship(batch, 401, 500, h2.address)  # still in transit when the recall comes
    h1.dispense(code("200"))

    holders = parties["regulator"].recall(batch, "sterility failure")
    assert set(holders) == {m.address, d.address, p.address, h1.address, h2.address}
    assert p.verify(code("50")).recalled
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        p.dispense(code("50"))
    holding = next(i for i, (h, *_) in enumerate(contracts.trace.segments(batch)) if h == p.address)
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        contracts.trace.dispense(p.account, batch, holding, 50)  # the contract, not just the SDK
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        h2.accept_all(batch)
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        d.ship(batch, 501, 510, p.address)
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        m.recall(batch, "again")
    [event] = [e for e in contracts.trace.events(batch) if e.event_name == "BatchRecalled"]
    assert event.by == parties["regulator"].address


def test_a_device_from_registration_to_decommissioning(parties, contracts, ipfs, stranger):
    m, h1, h2 = parties["manufacturer"], parties["hospital"], parties["other_hospital"]
    udi = "(01)00844588003288(21)PUMP-0042"
    m.register_device(udi, b"IFU and declaration of conformity")
    m.assign_device(udi, h1.address)
    h1.log_service(udi, "calibration", True, b"flow rate within 2%")
    h1.log_service(udi, "quality-check", False, b"occlusion alarm late")
    m.log_service(udi, "maintenance", True, b"alarm board replaced")
    h1.assign_device(udi, h2.address)  # moved to another hospital
    trace = contracts.trace
    with pytest.raises(ChainError, match="NotDeviceParty"):
        h1.log_service(udi, "maintenance", True, b"not ours any more")
    with pytest.raises(ChainError, match="MissingRole"):
        h2.assign_device(udi, stranger.address)  # only hospitals hold devices
    h2.decommission(udi, "end of life")
    with pytest.raises(ChainError, match="WrongDeviceStatus"):
        h2.log_service(udi, "maintenance", True, b"too late")
    with pytest.raises(ChainError, match="DeviceExists"):
        m.register_device(udi, b"again")
    history = h2.device_history(udi)
    assert [line.split(": ", 1)[1].split(" ")[0] for line in history] == [
        "registered",
        "assigned",
        "calibration",
        "quality",
        "maintenance",
        "assigned",
        "decommissioned",
    ]
    assert "FAILED" in history[3]
    stored = trace.device(device_id(udi))
    assert int(stored.status) == 3 and int(stored.services) == 3
    with pytest.raises(RecordNotFoundError, match="UnknownDevice"):
        h2.device_history("(01)00844588003288(21)NEVER")
    reports = [e for e in trace.device_events(device_id(udi)) if e.event_name == "DeviceServiced"]
    assert ipfs.cat(bytes(reports[1].reportDigest)) == b"occlusion alarm late"
