"""Hostile input, table-driven: each bad input across the contracts (through the SDK), the
SDK and the CLI is refused with a named error, and nothing changes anywhere — no block is
mined and nothing waits in the pool (so the chain's state is untouched), and the IPFS
node's pins are the same after."""

import json
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import click
import httpx
import pytest

from carechain import (
    Category,
    ChainError,
    ConfigurationError,
    ConsentRequiredError,
    ContentNotFoundError,
    Contracts,
    DecryptionError,
    Hospital,
    Insurer,
    IntegrityError,
    InvalidRecordError,
    KemSuite,
    KeyNotFoundError,
    KeyPair,
    NotAuthorizedError,
    Patient,
    Purpose,
    RecordNotFoundError,
    Scope,
    deploy,
)
from carechain.cli import ADDRESS
from carechain.crypto import decrypt_record
from carechain.errors import CarechainError
from carechain.fhir import parse_resource
from carechain.fhir_claims import build_claim
from carechain.ipfs import IPFSClient
from carechain.keystore import load_key_pair
from carechain.model import PendingAnchor
from carechain.samples import chart
from carechain.trace import GS1Code, SupplyChainParty, parse_gs1
from carechain.unixfs import cid_from_digest
from carechain.worker import Rules

pytestmark = pytest.mark.integration

USD = 10**6
DAY = 86400


@dataclass
class World:
    contracts: Contracts
    hospital: Hospital
    patient: Patient
    doctor: Hospital
    insurer: Insurer
    stranger: object
    maker: SupplyChainParty
    pharmacy: SupplyChainParty
    refs: list
    envelope: bytes
    policy_id: int
    claim_id: bytes
    signed: object
    batch: bytes
    now: int
    governor: object
    fresh: object
    day: date
    retracted: bytes
    newcomer: object  # an admitted provider the patient never consented to
    receipts_root: bytes
    guardian: object  # appointed by the patient
    stale_revocation: object  # signed by the patient before a later direct decision
    break_glass: bytes  # the hospital's open emergency access to the patient


@pytest.fixture(scope="module")
def world(accounts, governor, hospital, patient, doctor, insurer, stranger, ipfs, chain):
    """One deployment with a chart, consent, a policy and a claim, a relayed signed
    consent, and a medicine batch: built once, then each case starts from this state."""
    contracts = Contracts(deploy(governor))
    for role, account in (
        ("provider", hospital),
        ("insurer", insurer),
        ("manufacturer", accounts[11]),
        ("pharmacy", accounts[13]),
        ("provider", accounts[14]),  # a second hospital: admitted, no care relationship
    ):
        contracts.registry.admit(governor, role, account)
    # the maker's brand: GTINs and device DIs under GS1 company prefix 9506000
    contracts.trace.assign_company_prefix(governor, "9506000", accounts[11].address)
    h = Hospital(hospital, contracts, ipfs, KeyPair.generate())
    p = Patient(patient, contracts, ipfs, KeyPair.generate(KemSuite.MLKEM768_X25519))
    d = Hospital(doctor, contracts, ipfs, KeyPair.generate())
    i = Insurer(insurer, contracts, ipfs, KeyPair.generate())
    for party in (h, p, d, i):
        party.publish_key()
    refs = h.anchor_records([(p.address, r) for r in chart(9, "MRN-9")])
    now = chain.blocks.head.timestamp
    p.grant_access(i.address, Scope.all(), Purpose.PAYMENT, now + 365 * DAY)
    p.grant_access(h.address, Scope.all(), Purpose.TREATMENT, now + 365 * DAY, share_keys=False)
    [retracted] = h.anchor_records([(p.address, chart(10, "MRN-10")[1])])
    h.retract_record(retracted.record_id)
    contracts.claims.token.mint(insurer, 10**12, sender=governor)
    i.fund_escrow(10_000 * USD)
    policy_id = i.issue_policy(
        p.address, 5_000 * USD, 0, 0, {Category.ENCOUNTER}, now - DAY, now + 365 * DAY
    )
    day = date.today()
    claim = build_claim(
        p.address,
        h.address,
        i.address,
        policy_id,
        day,
        [("99213", "v", 300 * USD)],
        [refs[1].record_id],
    )
    claim_id, _ = h.submit_claim(policy_id, i.address, claim, [refs[1].record_id], day)
    signed = p.sign_access(d.address, Scope.all(), Purpose.TREATMENT, now + DAY, now + 3600)
    contracts.consent.relay(stranger, signed)  # used once: replays must fail
    fresh = p.sign_access(  # valid and never relayed: the cases tamper with copies
        d.address, Scope.category(Category.OBSERVATION), Purpose.TREATMENT, now + DAY, now + 3600
    )
    maker = SupplyChainParty(accounts[11], contracts, ipfs)
    pharmacy = SupplyChainParty(accounts[13], contracts, ipfs)
    batch = maker.register_batch(
        GS1Code("09506000134352", "HOSTILE", date.today() + timedelta(days=90)), 1, 100, b"CoA"
    )
    envelope = ipfs.cat(refs[3].digest)
    d.receipts.record(p.address, refs[0].record_id, 1, Purpose.TREATMENT)  # a logged read
    [receipts_root] = d.receipts.flush()
    guardian = accounts[12]
    p.appoint_guardian(guardian.address)
    consent_id = contracts.consent.grant_id(p.address, d.address, Scope.all(), Purpose.TREATMENT)
    stale_revocation = p.sign_revocation(consent_id)
    p.grant_access(d.address, Scope.all(), Purpose.TREATMENT, now + 2 * DAY)  # the later one
    break_glass = h.open_break_glass(p.address, "unconscious-in-ED")
    return World(
        contracts,
        h,
        p,
        d,
        i,
        stranger,
        maker,
        pharmacy,
        refs,
        envelope,
        policy_id,
        claim_id,
        signed,
        batch,
        now,
        governor,
        fresh,
        day,
        retracted.record_id,
        accounts[14],
        receipts_root,
        guardian,
        stale_revocation,
        break_glass,
    )


def fingerprint(chain, ipfs) -> tuple:
    """Everything a refused input must leave untouched. On anvil (automine) state changes
    only in a mined block, so the head block (height and hash) and an empty pool stand for
    the whole chain state; IPFS is the node's pin set."""
    head = chain.blocks.head
    pool = chain.provider.make_request("txpool_content", [])
    pending = sum(len(txs) for txs in pool.get("pending", {}).values())
    return head.number, head.hash, pending, frozenset(ipfs.pins())


def flip(data: bytes, position: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def context_of(w: World, n: int = 3):
    ref = w.refs[n]
    return w.contracts.record_context(ref.patient, ref.record_id, 1)


def bad_fhir(resource):
    def run(w: World):
        w.hospital.anchor_records([(w.patient.address, resource)])

    return run


def _anchor_pending(w: World, count: int, patient: str | None = None) -> None:
    pending = [
        PendingAnchor(
            secrets.token_bytes(32),
            patient or w.patient.address,
            Category.OTHER,
            secrets.token_bytes(32),
        )
        for _ in range(count)
    ]
    w.contracts.registry.anchor_batch(w.hospital.account, pending)


class _WrongBytes(httpx.BaseTransport):
    """A node that answers every request with bytes other than those asked for."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not what you asked for")


def _lying_node(w: World) -> None:
    client = IPFSClient("http://127.0.0.1:1", timeout=1)
    client._http = httpx.Client(base_url="http://127.0.0.1:1/api/v0", transport=_WrongBytes())
    client.cat(w.refs[0].digest)


def _anchor_receipts(w: World, **changes) -> None:
    """The doctor anchors a receipt batch, by default its already anchored one."""
    fields = {
        "patient": w.patient.address,
        "root": w.receipts_root,
        "digest": secrets.token_bytes(32),
        "count": 1,
    }
    fields.update(changes)
    w.contracts.access_log.anchor(
        w.doctor.account, fields["patient"], fields["root"], fields["digest"], fields["count"]
    )


def _mistype(address: str) -> str:
    """``address`` with the case of one letter flipped (a typo EIP-55 must catch)."""
    i = next(i for i, c in enumerate(address[2:], 2) if c.isalpha())
    return address[:i] + address[i].swapcase() + address[i + 1 :]


def _units(text: str):
    def run(w: World):
        from carechain.cli.common import units as parse

        parse(w.contracts.claims, text)

    return run


def _key_file(content: str | None):
    def run(w: World, tmp_path=None):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "key.json"
            if content is not None:
                path.write_text(content)
            load_key_pair(path)

    return run


def _relay_with(change):
    def run(w: World):
        w.contracts.consent.relay(w.stranger, change(w))

    return run


def _sign_fresh(w: World, **changes):
    """A variant of the world's valid, never-relayed signed consent."""
    return replace(w.fresh, **changes)


def _submit_edited(w: World, edit, day=None):
    """The world's kind of claim, its FHIR edited by ``edit`` before submission."""
    claim = build_claim(
        w.patient.address,
        w.hospital.address,
        w.insurer.address,
        w.policy_id,
        w.day,
        [("99" + secrets.token_hex(2), "v", 200 * USD)],
        [w.refs[4].record_id],
    )
    edit(claim)
    w.hospital.submit_claim(w.policy_id, w.insurer.address, claim, [w.refs[4].record_id], day)


def _submit(w: World, **changes):
    fields = {
        "policy_id": w.policy_id,
        "records": [w.refs[4].record_id],  # not cited by the world's claim
        "amount": 200 * USD,
        "code": "99" + secrets.token_hex(2),
        "day": w.day,  # the world's claim day (not today: a run may cross midnight)
    }
    fields.update(changes)
    claim = build_claim(
        w.patient.address,
        w.hospital.address,
        w.insurer.address,
        fields["policy_id"],
        fields["day"],
        [(fields["code"], "v", fields["amount"])],
        fields["records"],
    )
    w.hospital.submit_claim(
        fields["policy_id"], w.insurer.address, claim, fields["records"], fields["day"]
    )


ZERO = "0x" + "00" * 20
TOMORROW = date.today() + timedelta(days=1)

# (id, action(world), exception, message pattern)
CASES = [
    # ---- malformed FHIR, refused before anything is stored
    *[
        (f"fhir-{name}", bad_fhir(resource), InvalidRecordError, pattern)
        for name, resource, pattern in [
            ("empty", {}, "resourceType"),
            ("list", [1, 2], "JSON object"),
            ("unknown-type", {"resourceType": "Spaceship"}, "not a FHIR R4"),
            ("type-not-text", {"resourceType": 7}, "resourceType"),
            ("obs-no-status", {"resourceType": "Observation", "code": {"text": "x"}}, "status"),
            (
                "obs-bad-status",
                {"resourceType": "Observation", "status": "maybe", "code": {"text": "x"}},
                "status",
            ),
            ("obs-no-code", {"resourceType": "Observation", "status": "final"}, "code"),
            ("bad-date", {"resourceType": "Patient", "birthDate": "1990-13-45"}, "birthDate"),
            ("bad-gender", {"resourceType": "Patient", "gender": "sometimes"}, "gender"),
            ("unknown-field", {"resourceType": "Patient", "shoeSize": 44}, "shoeSize"),
            (
                "wrong-type",
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "valueQuantity": {"value": "high"},
                },
                "value",
            ),
            (
                "bad-bundle",
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": {"resourceType": "Patient", "gender": "?"}}],
                },
                "gender",
            ),
        ]
    ],
    ("fhir-not-json", lambda w: parse_resource(b"{not json"), InvalidRecordError, "not JSON"),
    # ---- tampered or truncated ciphertext, and the wrong key
    *[
        (
            f"bitflip-{pos}",
            lambda w, pos=pos: decrypt_record(
                flip(w.envelope, pos), w.patient.key_pair, context_of(w)
            ),
            (DecryptionError, KeyNotFoundError),
            "",
        )
        for pos in (0, 1, 5, 9, 17, 33, 64, 100, 257, 513, -40, -17, -1)
    ],
    *[
        (
            f"truncated-{n}",
            lambda w, n=n: decrypt_record(w.envelope[:n], w.patient.key_pair, context_of(w)),
            (DecryptionError, KeyNotFoundError),
            "",
        )
        for n in (0, 1, 8, 40, 200, -1)
    ],
    (
        "wrong-key-x25519",
        lambda w: decrypt_record(w.envelope, KeyPair.generate(), context_of(w)),
        (DecryptionError, KeyNotFoundError),
        "",
    ),
    (
        "wrong-key-hybrid",
        lambda w: decrypt_record(
            w.envelope, KeyPair.generate(KemSuite.MLKEM768_X25519), context_of(w)
        ),
        (DecryptionError, KeyNotFoundError),
        "",
    ),
    (
        "wrong-context-record",
        lambda w: decrypt_record(w.envelope, w.patient.key_pair, context_of(w, 4)),
        (DecryptionError, KeyNotFoundError),
        "",
    ),
    (
        "wrong-context-chain",
        lambda w: decrypt_record(
            w.envelope, w.patient.key_pair, replace(context_of(w), chain_id=1)
        ),
        (DecryptionError, KeyNotFoundError),
        "",
    ),
    # ---- unknown records and content, bad CIDs, a lying node
    (
        "unknown-record",
        lambda w: w.patient.read_record(secrets.token_bytes(32)),
        RecordNotFoundError,
        "no record",
    ),
    (
        "unknown-version",
        lambda w: w.patient.read_record(w.refs[0].record_id, 7),
        RecordNotFoundError,
        "versions 1 to 1, not 7",
    ),
    (  # not "the latest": versions count from 1
        "version-zero",
        lambda w: w.patient.read_record(w.refs[0].record_id, 0),
        RecordNotFoundError,
        "versions 1 to 1, not 0",
    ),
    (
        "unknown-content",
        lambda w: w.patient.ipfs.cat(secrets.token_bytes(32), timeout=1),
        ContentNotFoundError,
        "no such content",
    ),
    ("cid-short-digest", lambda w: cid_from_digest(b"\x01" * 31), ValueError, "32"),
    ("cid-empty-digest", lambda w: cid_from_digest(b""), ValueError, "32"),
    ("lying-node", _lying_node, IntegrityError, "do not hash"),
    (
        "stranger-reads",
        lambda w: Hospital(w.stranger, w.contracts, w.patient.ipfs, KeyPair.generate()).read_record(
            w.refs[0].record_id
        ),
        ConsentRequiredError,
        "no active consent",
    ),
    (
        "insurer-reads-for-treatment",
        lambda w: w.insurer.read_record(w.refs[0].record_id, purpose=Purpose.TREATMENT),
        ConsentRequiredError,
        "treatment",
    ),
    (
        "doctor-reads-research",
        lambda w: w.doctor.read_record(w.refs[0].record_id, purpose=Purpose.RESEARCH),
        ConsentRequiredError,
        "research",
    ),
    # ---- zero addresses and unknown parties
    (
        "grant-to-zero",
        lambda w: w.patient.grant_access(
            ZERO, Scope.all(), Purpose.TREATMENT, w.now + DAY, share_keys=False
        ),
        ChainError,
        "ZeroAddress|InvalidGrantee",
    ),
    (
        "grant-to-keyless",
        lambda w: w.patient.grant_access(
            "0x" + "12" * 20, Scope.all(), Purpose.TREATMENT, w.now + DAY
        ),
        KeyNotFoundError,
        "has not published",
    ),
    (
        "anchor-for-keyless-patient",
        lambda w: w.hospital.anchor_records([("0x" + "34" * 20, chart(1, "MRN-1")[1])]),
        KeyNotFoundError,
        "has not published",
    ),
    (
        "policy-for-zero",
        lambda w: w.insurer.issue_policy(ZERO, 100, 0, 0, {Category.ENCOUNTER}, w.now, w.now + DAY),
        ChainError,
        "InvalidPolicy|zero",
    ),
    (
        "policy-deductible-above-limit",
        lambda w: w.insurer.issue_policy(
            w.patient.address, 100, 101, 0, {Category.ENCOUNTER}, w.now, w.now + DAY
        ),
        ChainError,
        "deductible above the limit",
    ),
    (
        "admit-zero",
        lambda w: w.contracts.registry.admit(w.governor, "provider", ZERO),
        ChainError,
        "ZeroAddress",
    ),
    ("ship-to-zero", lambda w: w.maker.ship(w.batch, 1, 5, ZERO), ChainError, "NotInSupplyChain"),
    (
        "assign-device-to-zero",
        lambda w: w.maker.assign_device("(01)09506000200019(21)never", ZERO),
        ChainError,
        "UnknownDevice",
    ),
    # ---- expired deadlines, periods, reused nonces, wrong chain
    (
        "grant-ended",
        lambda w: w.patient.grant_access(
            w.doctor.address, Scope.all(), Purpose.RESEARCH, w.now - DAY, share_keys=False
        ),
        ValueError,
        "end in the future",
    ),
    (
        "grant-ended-with-keys",
        lambda w: w.patient.grant_access(
            w.doctor.address, Scope.all(), Purpose.RESEARCH, w.now - DAY
        ),
        ValueError,
        "end in the future",
    ),
    (
        "signed-consent-replayed",
        lambda w: w.contracts.consent.relay(w.stranger, w.signed),
        ChainError,
        "InvalidSignature|Nonce",
    ),
    (
        "signed-consent-expired",
        _relay_with(lambda w: _sign_fresh(w, deadline=w.now - 1)),
        ChainError,
        "Expired|Deadline|InvalidSignature",
    ),
    (
        "signed-consent-tampered",
        _relay_with(lambda w: _sign_fresh(w, signature=flip(_sign_fresh(w).signature, 3))),
        ChainError,
        "InvalidSignature",
    ),
    (
        "signed-consent-truncated",
        _relay_with(lambda w: _sign_fresh(w, signature=_sign_fresh(w).signature[:64])),
        ChainError,
        "Signature",
    ),
    (
        "signed-consent-other-patient",
        _relay_with(lambda w: _sign_fresh(w, patient=w.doctor.address)),
        ChainError,
        "InvalidSignature",
    ),
    (
        "signed-revocation-after-a-later-decision",
        lambda w: w.contracts.consent.relay_revoke(w.stranger, w.stale_revocation),
        ChainError,
        "InvalidSignature",
    ),
    (
        "guardian-grants-itself",
        lambda w: w.contracts.consent.grant(
            w.guardian,
            w.guardian.address,
            Scope.all(),
            Purpose.TREATMENT,
            w.now + 365 * DAY,
            patient=w.patient.address,
        ),
        NotAuthorizedError,
        "GuardianOwnAccess",
    ),
    (
        "break-glass-free-text",
        lambda w: w.hospital.open_break_glass(w.patient.address, "he fell down the stairs"),
        ValueError,
        "a reason must be a code",
    ),
    (
        "break-glass-closed-by-stranger",
        lambda w: w.contracts.consent.close_break_glass(w.stranger, w.break_glass),
        NotAuthorizedError,
        "NotPatientOrGuardian",
    ),
    (
        "deployment-wrong-chain",
        lambda w: Contracts(replace(w.contracts.deployment, chain_id=5)),
        ConfigurationError,
        "chain",
    ),
    (
        "deployment-no-code",
        lambda w: Contracts(replace(w.contracts.deployment, registry="0x" + "56" * 20)),
        ConfigurationError,
        "no contract",
    ),
    # ---- oversize and empty batches
    ("anchor-batch-501", lambda w: _anchor_pending(w, 501), ValueError, "1 to"),
    ("anchor-batch-0", lambda w: _anchor_pending(w, 0), ValueError, "1 to"),
    (
        "settle-101",
        lambda w: w.contracts.claims.settle(w.insurer.account, [secrets.token_bytes(32)] * 101),
        ChainError,
        "InvalidBatchSize",
    ),
    (
        "settle-0",
        lambda w: w.contracts.claims.settle(w.insurer.account, []),
        ChainError,
        "InvalidBatchSize",
    ),
    (
        "anchor-existing-id",
        lambda w: w.contracts.registry.anchor(
            w.hospital.account,
            PendingAnchor(
                w.refs[0].record_id, w.patient.address, Category.OTHER, secrets.token_bytes(32)
            ),
        ),
        ChainError,
        "RecordExists",
    ),
    ("anchor-zero-patient", lambda w: _anchor_pending(w, 1, ZERO), ChainError, "Zero|Patient"),
    # ---- unauthorised callers
    (
        "stranger-anchors",
        lambda w: Hospital(
            w.stranger, w.contracts, w.patient.ipfs, KeyPair.generate()
        ).anchor_records([(w.patient.address, chart(2, "MRN-2")[1])]),
        CarechainError,
        "provider",
    ),
    (
        "stranger-supersedes",
        lambda w: Hospital(
            w.stranger, w.contracts, w.patient.ipfs, w.hospital.key_pair
        ).supersede_record(w.refs[1].record_id, chart(9, "MRN-9")[1]),
        CarechainError,
        "provider role|NotRecordAuthor",
    ),
    (
        "stranger-retracts",
        lambda w: w.contracts.registry.retract(w.stranger, w.refs[1].record_id, "x"),
        ChainError,
        "NotRecordAuthor|Provider",
    ),
    (
        "stranger-revokes",
        lambda w: w.contracts.consent.revoke(w.stranger, secrets.token_bytes(32)),
        ChainError,
        "",
    ),
    (
        "stranger-approves-claim",
        lambda w: w.contracts.claims.approve(w.stranger, w.claim_id, 1),
        ChainError,
        "NotPolicyInsurer",
    ),
    (
        "stranger-settles",
        lambda w: w.contracts.claims.settle(w.stranger, [w.claim_id]),
        ChainError,
        "NotPolicyInsurer|WrongStatus",
    ),
    (
        "stranger-admits",
        lambda w: w.contracts.registry.admit(w.stranger, "provider", w.stranger.address),
        ChainError,
        "AccessControl",
    ),
    (
        "stranger-recalls",
        lambda w: SupplyChainParty(w.stranger, w.contracts, w.patient.ipfs).recall(w.batch, "x"),
        ChainError,
        "NotBatchManufacturerOrRegulator",
    ),
    (
        "stranger-registers-batch",
        lambda w: SupplyChainParty(w.stranger, w.contracts, w.patient.ipfs).register_batch(
            GS1Code("09506000134352", "S", TOMORROW), 1, 2, b"x"
        ),
        ChainError,
        "AccessControlUnauthorizedAccount",
    ),
    (
        "stranger-offers-units",  # only supply-chain parties (still admitted) move goods
        lambda w: w.contracts.trace.offer(w.stranger, w.batch, 0, 1, 2, w.pharmacy.address),
        ChainError,
        "AccessControlUnauthorizedAccount",
    ),
    (
        "stranger-assigns-company-prefix",
        lambda w: w.contracts.trace.assign_company_prefix(w.stranger, "1234567", w.maker.address),
        ChainError,
        "AccessControlUnauthorizedAccount",
    ),
    (
        "pharmacy-dispenses-unheld",
        lambda w: w.pharmacy.dispense(GS1Code("09506000134352", "HOSTILE", TOMORROW, "5")),
        ChainError,
        "do not hold",
    ),
    ("withdraw-too-much", lambda w: w.insurer.withdraw(10**15), ChainError, "Insufficient"),
    (
        "fund-more-than-held",
        lambda w: w.contracts.claims.deposit(w.insurer.account, 10**15),
        ValueError,
        r"holds [\d,]+\.\d\d tokens, fewer than the 1,000,000,000.00 to deposit",
    ),
    (  # refused before the token approval is sent, not after it was mined
        "fund-by-a-non-insurer",
        lambda w: w.contracts.claims.deposit(w.doctor.account, 10),
        NotAuthorizedError,
        "refused before sending.*insurer role",
    ),
    # ---- access receipts (review finding 7): batches are keyed by (reader, root)
    ("receipts-root-anchored-twice", _anchor_receipts, ChainError, "BatchExists"),
    (
        "receipts-root-twice-other-patient",
        lambda w: _anchor_receipts(w, patient=w.insurer.address),
        ChainError,
        "BatchExists",
    ),
    (
        "receipts-zero-root",
        lambda w: _anchor_receipts(w, root=bytes(32)),
        ChainError,
        "InvalidBatch",
    ),
    (
        "receipts-zero-patient",
        lambda w: _anchor_receipts(w, root=secrets.token_bytes(32), patient=ZERO),
        ChainError,
        "InvalidBatch",
    ),
    (
        "receipts-zero-digest",
        lambda w: _anchor_receipts(w, root=secrets.token_bytes(32), digest=bytes(32)),
        ChainError,
        "InvalidBatch",
    ),
    (
        "receipts-empty-batch",
        lambda w: _anchor_receipts(w, root=secrets.token_bytes(32), count=0),
        ChainError,
        "InvalidBatch",
    ),
    (
        "receipts-seal-nothing",
        lambda w: w.doctor.receipts.seal(w.stranger.address),
        ValueError,
        "at least one leaf",
    ),
    # ---- claims
    ("claim-unknown-policy", lambda w: _submit(w, policy_id=999), ChainError, "UnknownPolicy"),
    (
        "claim-duplicate",
        lambda w: _submit(w, code="99213", amount=300 * USD),
        ChainError,
        "DuplicateClaim",
    ),
    ("claim-no-evidence", lambda w: _submit(w, records=[]), InvalidRecordError, "NoEvidence"),
    (  # valid FHIR, but carechain cannot turn Patient/123 into an address
        "claim-patient-by-reference",
        lambda w: _submit_edited(w, lambda c: c.update(patient={"reference": "Patient/123"})),
        InvalidRecordError,
        "Patient/123.*Ethereum address",
    ),
    (
        "claim-service-date-not-the-claims",
        lambda w: _submit_edited(w, lambda c: None, day=w.day - timedelta(days=1)),
        InvalidRecordError,
        "not the Claim's servicedDate",
    ),
    (
        "claim-items-on-two-days",
        lambda w: _submit_edited(
            w,
            lambda c: c["item"].append(
                {**c["item"][0], "sequence": 2, "servicedDate": "2001-01-01"}
            ),
        ),
        InvalidRecordError,
        "different days",
    ),
    (  # the token has 6 decimals: a total it cannot pay exactly is refused, not rounded
        "claim-total-too-precise",
        lambda w: _submit_edited(
            w, lambda c: c.update(total={"value": Decimal("200.0000001"), "currency": "USD"})
        ),
        InvalidRecordError,
        "more than 6 decimal places",
    ),
    (
        "claim-outside-its-billable-period",
        lambda w: _submit_edited(
            w, lambda c: c.update(billablePeriod={"start": "2001-01-01", "end": "2001-01-31"})
        ),
        InvalidRecordError,
        "outside the Claim's billablePeriod",
    ),
    (
        "claim-unknown-record",
        lambda w: _submit(w, records=[secrets.token_bytes(32)]),
        RecordNotFoundError,
        "no record",
    ),
    (
        "claim-rebills-a-cited-record",
        lambda w: _submit(w, records=[w.refs[1].record_id]),
        ChainError,
        "EvidenceAlreadyClaimed",
    ),
    (
        "claim-by-a-provider-that-never-treated",
        lambda w: Hospital(
            w.newcomer,
            w.contracts,
            w.patient.ipfs,
            KeyPair.generate(),
        ).bill(
            w.policy_id,
            w.insurer.address,
            w.patient.address,
            [("99213", "v", 1)],
            [w.refs[4].record_id],
            w.day,
        ),
        NotAuthorizedError,
        "NoCareRelationship",
    ),
    (
        "deny-with-a-free-text-reason",
        lambda w: w.insurer.deny(w.claim_id, "patient admitted drinking before the fall"),
        ValueError,
        "must be a code",
    ),
    (
        "retract-with-a-free-text-reason",
        lambda w: w.hospital.retract_record(w.refs[2].record_id, "wrong patient: J. Doe"),
        ValueError,
        "must be a code",
    ),
    (
        "claim-retracted-evidence",
        lambda w: _submit(w, records=[w.retracted]),
        ChainError,
        "RetractedEvidence",
    ),
    (
        "claim-future-service-date",
        lambda w: _submit(w, day=date.today() + timedelta(days=2)),
        ChainError,
        r"ServiceDateInFuture\(serviceDate=\d{4}-\d\d-\d\d, today=\d{4}-\d\d-\d\d\)",
    ),
    (
        "withdraw-owed-when-nothing-is-owed",
        lambda w: w.contracts.claims.withdraw_owed(w.hospital.account, w.hospital.address),
        ChainError,
        "NothingOwed",
    ),
    (
        "finalize-a-submitted-claim",
        lambda w: w.contracts.claims.finalize_denial(w.stranger, w.claim_id),
        ChainError,
        r"WrongStatus\(claimId=0x[0-9a-f]{64}, status=[a-z]+\)",
    ),
    (
        "claim-out-of-period",
        lambda w: _submit(w, day=date(2001, 1, 1)),
        ChainError,
        r"PolicyNotActive\(policyId=\d+, serviceDate=2001-01-01\)",
    ),
    (
        "approve-more-than-claimed",
        lambda w: w.insurer.approve(w.claim_id, 10**12),
        ChainError,
        r"InvalidAmount\(amount=1,000,000.00 tokens\)",
    ),
    ("approve-zero", lambda w: w.insurer.approve(w.claim_id, 0), ChainError, "InvalidAmount"),
    (
        "deny-unknown-claim",
        lambda w: w.insurer.deny(secrets.token_bytes(32), "x"),
        ChainError,
        "UnknownClaim|NotPolicyInsurer",
    ),
    (
        "dispute-undenied",
        lambda w: w.contracts.claims.dispute(w.hospital.account, w.claim_id),
        ChainError,
        "WrongStatus",
    ),
    (
        "show-unknown-claim",
        lambda w: w.contracts.claims.claim(secrets.token_bytes(32)),
        ChainError,
        "UnknownClaim",
    ),
    # ---- traceability
    (
        "gs1-forged-check-digit",
        lambda w: parse_gs1("(01)09506000134351(10)A(21)1"),
        InvalidRecordError,
        "check digit",
    ),
    (
        "gs1-lot-too-long",
        lambda w: parse_gs1("(01)09506000134352(10)" + "L" * 21),
        InvalidRecordError,
        "1 to 20",
    ),
    (
        "gs1-unknown-ai",
        lambda w: parse_gs1("(01)09506000134352(99)x(10)A"),
        InvalidRecordError,
        "unsupported",
    ),
    (
        "gs1-alpha-serial",
        lambda w: w.pharmacy.dispense(parse_gs1("(01)09506000134352(10)HOSTILE(21)AB")),
        InvalidRecordError,
        "numeric",
    ),
    (
        "ship-beyond-batch",
        lambda w: w.maker.ship(w.batch, 90, 101, w.pharmacy.address),
        ChainError,
        "no single range",
    ),
    (
        "ship-unknown-batch",
        lambda w: w.maker.ship(secrets.token_bytes(32), 1, 2, w.pharmacy.address),
        RecordNotFoundError,
        "UnknownBatch",
    ),
    (
        "batch-twice",
        lambda w: w.maker.register_batch(
            GS1Code("09506000134352", "HOSTILE", TOMORROW), 1, 5, b"CoA"
        ),
        ChainError,
        "BatchExists",
    ),
    (
        "batch-reversed-range",
        lambda w: w.maker.register_batch(GS1Code("09506000134352", "REV", TOMORROW), 9, 1, b"CoA"),
        ChainError,
        "InvalidBatch",
    ),
    (
        "batch-no-expiry",
        lambda w: w.maker.register_batch(GS1Code("09506000134352", "NOEXP"), 1, 2, b"CoA"),
        InvalidRecordError,
        "expiry",
    ),
    (
        "batch-squats-another-brand",  # the GTIN's company prefix (9506010) is not the maker's
        lambda w: w.maker.register_batch(GS1Code("09506010000012", "NEXT", TOMORROW), 1, 9, b"x"),
        ChainError,
        "CompanyPrefixNotYours",
    ),
    (
        "device-squats-another-brand",
        lambda w: w.maker.register_device("(01)00844588003288(21)PUMP-1", b"IFU"),
        ChainError,
        "CompanyPrefixNotYours",
    ),
    (
        "prefix-overlapping-an-assigned-one",
        lambda w: w.contracts.trace.assign_company_prefix(w.governor, "95060001", w.maker.address),
        ChainError,
        "CompanyPrefixOverlaps",
    ),
    (
        "prefix-too-short",
        lambda w: w.contracts.trace.assign_company_prefix(w.governor, "95060", w.maker.address),
        ValueError,
        "6 to 12 digits",
    ),
    (
        "udi-bad-device-identifier",
        lambda w: w.maker.register_device("(01)0(21)none", b"IFU"),
        InvalidRecordError,
        "14 digits",
    ),
    (
        "udi-no-production-identifier",
        lambda w: w.maker.register_device("(01)09506000200019", b"IFU"),
        InvalidRecordError,
        "production identifier",
    ),
    (
        "device-history-unknown",
        lambda w: w.maker.device_history("(01)09506000200019(21)none"),
        RecordNotFoundError,
        "UnknownDevice",
    ),
    (
        "device-service-bad-kind",
        lambda w: w.contracts.trace.log_service(
            w.maker.account, secrets.token_bytes(32), "polishing", True, bytes(32)
        ),
        ValueError,
        "unknown service kind",
    ),
    # ---- CLI and configuration
    (  # one mistyped character in a checksummed address: EIP-55 catches it
        "address-bad-checksum",
        lambda w: ADDRESS.convert(_mistype(w.patient.address), None, None),
        click.BadParameter,
        "EIP-55",
    ),
    (
        "address-short",
        lambda w: ADDRESS.convert("0x1234", None, None),
        click.BadParameter,
        "40 hex",
    ),
    ("address-name", lambda w: ADDRESS.convert("alice", None, None), click.BadParameter, "40 hex"),
    ("amount-not-a-number", _units("abc"), click.BadParameter, "not an amount"),
    ("amount-negative", _units("-1"), click.BadParameter, "not an amount"),
    ("amount-exponent", _units("1e3"), click.BadParameter, "not an amount"),
    ("amount-nan", _units("nan"), click.BadParameter, "not an amount"),
    ("amount-infinite", _units("inf"), click.BadParameter, "not an amount"),
    ("amount-thousands-separator", _units("1,000"), click.BadParameter, "not an amount"),
    ("amount-beyond-uint64", _units("18446744073709.551616"), click.BadParameter, "too large"),
    ("amount-too-precise", _units("1.0000001"), click.BadParameter, "whole token units"),
    ("amount-zero", _units("0"), click.BadParameter, "positive"),
    ("key-file-missing", _key_file(None), ConfigurationError, "no key file"),
    ("key-file-not-json", _key_file("{oops"), ConfigurationError, "not a carechain key file"),
    (
        "key-file-bad-suite",
        _key_file(json.dumps({"suite": "RSA", "private_key": "00"})),
        ConfigurationError,
        "not a carechain key file",
    ),
    (
        "key-file-bad-hex",
        _key_file(json.dumps({"suite": "X25519", "private_key": "zz"})),
        ConfigurationError,
        "not a carechain key file",
    ),
    (
        "rules-unknown-section",
        lambda w: Rules.from_dict({"aprove": {}}),
        ConfigurationError,
        "unknown section",
    ),
    (
        "rules-batch-too-big",
        lambda w: Rules.from_dict({"settle": {"batch_size": 500}}),
        ConfigurationError,
        "1..100",
    ),
    (
        "rules-low-fee-bump",
        lambda w: Rules.from_dict({"chain": {"fee_bump": 1.0}}),
        ConfigurationError,
        "1.125",
    ),
    (
        "cli-hex-id",
        lambda w: __import__("carechain.cli.common", fromlist=["hex32"]).hex32("0x12"),
        click.BadParameter,
        "",
    ),
    (
        "cli-hex-garbage",
        lambda w: __import__("carechain.cli.common", fromlist=["hex32"]).hex32("zz" * 32),
        click.BadParameter,
        "",
    ),
    (
        "fhir-base64-garbage",
        lambda w: parse_resource(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "content": [{"attachment": {"data": "%%%not-base64%%%"}}],
            }
        ),
        InvalidRecordError,
        "data",
    ),
]


def test_the_table_has_at_least_100_distinct_cases():
    names = [case[0] for case in CASES]
    assert len(names) >= 100 and len(set(names)) == len(names)


@pytest.mark.parametrize("name, action, error, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_and_changes_nothing(
    world, chain, ipfs, name, action, error, pattern
):
    before = fingerprint(chain, ipfs)
    with pytest.raises(error) as refused:
        action(world)
    assert str(refused.value), f"{name}: refused without a message"
    if pattern:
        import re

        assert re.search(pattern, str(refused.value), re.IGNORECASE), str(refused.value)
    assert fingerprint(chain, ipfs) == before, f"{name} left state behind"
