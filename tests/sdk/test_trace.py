"""Traceability: GS1 parsing, medicine custody from manufacturer to dispensing, recalls,
counterfeits, and medical devices through their life in a hospital."""

from datetime import date, timedelta

import pytest

from carechain.errors import ChainError, InvalidRecordError, NotAuthorizedError, RecordNotFoundError
from carechain.trace import GS, UDI, GS1Code, SupplyChainParty, device_id, parse_gs1, parse_udi

pytestmark = pytest.mark.integration

GTIN = "09506000134352"  # a valid GTIN-14 (check digit 2), company prefix 9506000
RIVAL_GTIN = "09506010000012"  # another brand's (company prefix 950601)
PUMP_DI = "00844588003288"  # a device's UDI-DI, company prefix 0844588


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


def test_udis_are_parsed_into_a_device_identifier_and_production_identifiers():
    udi = parse_udi(f"(01){PUMP_DI}(11)250102(21)PUMP-0042")
    assert udi == UDI(PUMP_DI, (("11", "250102"), ("21", "PUMP-0042")))
    # scanned, in another order: the same device
    assert parse_udi(f"]d201{PUMP_DI}21PUMP-0042{GS}11250102") == udi
    assert device_id(udi.element_string()) == udi.device_id
    assert udi.element_string() == f"(01){PUMP_DI}(11)250102(21)PUMP-0042"
    assert device_id(f"(01){PUMP_DI}(21)PUMP-0043") != udi.device_id
    for text, message in (
        (f"(01){PUMP_DI}", "production identifier"),
        ("(01)00844588003289(21)X", "check digit"),
        ("(21)X", "14 digits"),
        (f"(01){PUMP_DI}(11)251301(21)X", "YYMMDD"),
        (f"(01){PUMP_DI}(99)X", "unsupported"),
    ):
        with pytest.raises(InvalidRecordError, match=message):
            parse_udi(text)


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
    # the governor binds the brand's GS1 company prefixes (drugs and devices) to its maker
    for prefix in ("9506000", "0844588"):
        contracts.trace.assign_company_prefix(governor, prefix, roles["manufacturer"].address)
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
        i for i, s in enumerate(contracts.trace.segments(batch)) if s.holder == p.address
    )
    with pytest.raises(ChainError, match="AlreadyDispensed"):
        contracts.trace.dispense(p.account, batch, holding, 150)  # ...and so does the contract
    # Custody is exact: who holds what now.
    assert sorted((s.holder, s.first, s.last) for s in contracts.trace.segments(batch)) == sorted(
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
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
        trace.dispense(d.account, batch, 0, 500)  # a distributor cannot dispense
    with pytest.raises(ChainError, match="NotHolder"):
        trace.dispense(p.account, batch, 0, 500)  # the pharmacy holds nothing yet
    trace.cancel_offer(d.account, batch, 0)  # the receiver declines
    assert d.incoming(batch) == []
    with pytest.raises(ChainError, match="NotBatchManufacturerOrRegulator"):
        trace.recall(d.account, batch, "contamination")
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
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
    holding = next(
        i for i, s in enumerate(contracts.trace.segments(batch)) if s.holder == p.address
    )
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        contracts.trace.dispense(p.account, batch, holding, 50)  # the contract, not just the SDK
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        h2.accept_all(batch)
    with pytest.raises(ChainError, match="BatchIsRecalled"):
        m.ship(batch, 801, 810, p.address)
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
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
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


# ---------------------------------------------------------------------- review findings


@pytest.fixture
def rival(stranger, governor, contracts, ipfs):
    """Another manufacturer, with its own brand (company prefix 950601)."""
    contracts.registry.admit(governor, "manufacturer", stranger)
    contracts.trace.assign_company_prefix(governor, "950601", stranger.address)
    return SupplyChainParty(stranger, contracts, ipfs)


def test_a_manufacturer_cannot_squat_another_brands_lots_or_devices(parties, rival, contracts):
    m, p = parties["manufacturer"], parties["pharmacy"]
    next_lot = code(lot="LOT-8")  # the brand's predictable next lot
    with pytest.raises(NotAuthorizedError, match="CompanyPrefixNotYours"):
        rival.register_batch(next_lot, 1, 1000, b"forged CoA")
    with pytest.raises(NotAuthorizedError, match="CompanyPrefixNotYours"):
        rival.register_device(f"(01){PUMP_DI}(21)PUMP-0099", b"forged IFU")
    batch = m.register_batch(next_lot, 1, 1000, b"CoA")  # the genuine registration works
    assert p.verify(code("5", lot="LOT-8")).holder == m.address
    m.recall(batch, "the brand owner recalls its own lot")
    # the rival registers under its own prefix, and the prefix's owner is public
    rival.register_batch(GS1Code(RIVAL_GTIN, "R-1", code().expiry), 1, 10, b"CoA")
    assert contracts.trace.company_prefix_of(int(GTIN)) == ("9506000", m.address)
    assert contracts.trace.company_prefix_of(int(PUMP_DI)) == ("0844588", m.address)


def test_company_prefixes_are_governed(parties, rival, contracts, governor):
    trace, m = contracts.trace, parties["manufacturer"]
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
        trace.assign_company_prefix(m.account, "950601", m.address)  # not the governor
    with pytest.raises(ChainError, match="CompanyPrefixOverlaps"):
        trace.assign_company_prefix(governor, "95060001", rival.address)  # inside 9506000
    with pytest.raises(ValueError, match="6 to 12 digits"):
        trace.assign_company_prefix(governor, "95060", rival.address)
    trace.assign_company_prefix(governor, "9506000", rival.address)  # the brand is sold
    with pytest.raises(NotAuthorizedError, match="CompanyPrefixNotYours"):
        m.register_batch(code(lot="AFTER"), 1, 10, b"CoA")
    trace.revoke_company_prefix(governor, "9506000")
    assert trace.company_prefix_of(int(GTIN)) == ("", "")
    with pytest.raises(ChainError, match="CompanyPrefixNotAssigned"):
        trace.revoke_company_prefix(governor, "9506000")


def test_an_offer_splits_nothing_until_it_is_accepted(parties, batch, contracts):
    m, d, p = parties["manufacturer"], parties["distributor"], parties["pharmacy"]
    trace = contracts.trace
    for _ in range(5):  # offering and cancelling costs nothing in segments
        m.ship(batch, 500, 500, d.address)
        trace.cancel_offer(m.account, batch, 0)
    assert len(trace.segments(batch)) == 1
    m.ship(batch, 1, 1000, d.address)
    d.accept_all(batch)
    d.ship(batch, 401, 600, p.address)
    assert p.incoming(batch) == [(0, 401, 600)]
    assert p.verify(code("450")).offered_to == p.address
    assert p.verify(code("50")).offered_to == ""  # outside the offered range
    assert p.accept_all(batch) == 200
    assert [(s.holder, s.first, s.last) for s in trace.segments(batch)] == [
        (p.address, 401, 600),
        (d.address, 1, 400),
        (d.address, 601, 1000),
    ]
    assert trace.max_segments() == 1000


def test_a_party_whose_role_was_revoked_can_neither_ship_nor_accept(
    parties, batch, contracts, governor
):
    m, d, p = parties["manufacturer"], parties["distributor"], parties["pharmacy"]
    m.ship(batch, 1, 100, d.address)
    d.accept_all(batch)
    m.ship(batch, 101, 200, p.address)
    contracts.registry.remove(governor, "distributor", d.account)
    contracts.registry.remove(governor, "pharmacy", p.account)
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
        d.ship(batch, 1, 100, p.address)
    with pytest.raises(NotAuthorizedError, match="AccessControlUnauthorizedAccount"):
        p.accept_all(batch)
