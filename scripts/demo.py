"""The end-to-end scenario on a local anvil chain and a local Kubo node.

    make demo        (or: ape run demo --network ethereum:local:foundry)

A governor deploys carechain and admits a hospital; two patients publish their keys; the
hospital encrypts a handful of FHIR records, stores them on IPFS and anchors them; each
patient lists and decrypts their own records; a third party is refused.
"""

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand
from rich.console import Console
from rich.table import Table

from carechain import (
    CarechainError,
    Category,
    ChainError,
    ConsentRequiredError,
    Contracts,
    Hospital,
    Insurer,
    KemSuite,
    KeyPair,
    KuboNode,
    Patient,
    Purpose,
    Scope,
)
from carechain.device_gateway import Gateway, read_readings
from carechain.device_sim import GLUCOSE, SimulatedDevice
from carechain.devices import ReadingVerifier, assign_to_patient, bind_device_key
from carechain.errors import RecoveryError
from carechain.fhir import describe
from carechain.fhir_claims import build_claim
from carechain.fhir_trials import build_research_study, build_results
from carechain.onchain.deploy import deploy
from carechain.samples import chart
from carechain.settings import get_settings
from carechain.trace import GS, GS1Code, SupplyChainParty, parse_gs1
from carechain.trials import Sponsor, claim_rewards, enrol, inspect_trial
from carechain.unixfs import cid_from_digest
from carechain.worker import Journal, Rules, Worker

console = Console(width=130)
USD = 10**6  # the stablecoin has 6 decimals, like USDC


def when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def short(value: str, keep: int = 10) -> str:
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-6:]}"


@click.command(cls=ConnectedProviderCommand)
def cli():
    """Run the carechain demo."""
    governor, hospital_acct, alice_acct, bob_acct, eve_acct, doctor_acct = accounts.test_accounts[
        :6
    ]
    node = KuboNode(get_settings().state_dir / "demo-kubo")
    with node:
        console.rule("[bold]carechain demo")
        console.print(f"Kubo node {node.client.version()} at {node.api_url} (loopback only)")

        deployment = deploy(governor)
        deployment.save()
        contracts = Contracts(deployment)
        console.print(
            f"RecordRegistry at {deployment.registry}, KeyDirectory at {deployment.key_directory}"
        )
        contracts.registry.admit(governor, "provider", hospital_acct)
        console.print(f"governor admitted hospital {hospital_acct.address}")

        hospital = Hospital(hospital_acct, contracts, node.client, KeyPair.generate())
        alice = Patient(
            alice_acct, contracts, node.client, KeyPair.generate(KemSuite.MLKEM768_X25519)
        )
        bob = Patient(bob_acct, contracts, node.client, KeyPair.generate())
        for party, label in (
            (hospital, "hospital"),
            (alice, "alice (ML-KEM-768+X25519)"),
            (bob, "bob (X25519)"),
        ):
            party.publish_key()
            console.print(f"{label} published an encryption key")

        console.rule("hospital anchors records")
        records = [(alice.address, r) for r in chart(1, "MRN-0001")]
        records += [(bob.address, r) for r in chart(2, "MRN-0002", extra=2)]
        single = hospital.anchor_record(*records[0])
        batch = hospital.anchor_records(records[1:], batch_size=100)
        refs = [single, *batch]
        console.print(
            f"1 record alone: {single.gas_used:,} gas; {len(batch)} records in one batch: "
            f"{batch[0].gas_used:,} gas each"
        )

        console.rule("each patient lists and decrypts their own records")
        table = Table("patient", "record", "content", "CID", "digest verified", "gas used")
        gas_by_id = {ref.record_id: ref.gas_used for ref in refs}
        for name, patient in (("alice", alice), ("bob", bob)):
            for head, version in patient.list_records():
                opened = patient.read_record(head.record_id)
                table.add_row(
                    name,
                    short("0x" + head.record_id.hex()),
                    describe(opened.resource),
                    short(cid_from_digest(version.cid_digest), 12),
                    "[green]yes[/green]",
                    f"{gas_by_id[head.record_id]:,}",
                )
        console.print(table)

        console.rule("what anyone can see")
        head = contracts.registry.head(single.record_id)
        stored = node.client.cat(single.digest)
        console.print(
            f"on-chain head of alice's first record: patient {head.patient}, author {head.author}, "
            f"category {head.category.name}, version {head.version}"
        )
        console.print(
            f"on IPFS ({single.cid}): {len(stored):,} bytes of ciphertext, starting "
            f"{stored[:24].hex()}…; the MRN 'MRN-0001' appears in it: {b'MRN-0001' in stored}"
        )

        console.rule("bulk ingest: 100 records in one transaction")
        bulk = [(bob.address, r) for seed in range(100, 117) for r in chart(seed, "MRN-0002")][:100]
        bulk_refs = hospital.anchor_records(bulk, batch_size=100)
        gas = Table("anchoring", "records", "gas per record", title="gas (target: one ≤ 50,000)")
        gas.add_row("one record, alone", "1", f"{single.gas_used:,}")
        gas.add_row("a batch", str(len(batch)), f"{batch[0].gas_used:,}")
        gas.add_row("a batch", str(len(bulk_refs)), f"{bulk_refs[0].gas_used:,}")
        console.print(gas)

        console.rule("a third party cannot read")
        eve = Patient(eve_acct, contracts, node.client, KeyPair.generate())
        target = refs[0].record_id
        try:
            eve.read_record(target)
        except ConsentRequiredError as exc:
            console.print(
                f"eve asked for alice's record 0x{target.hex()[:8]}…: [red]refused[/red] — {exc}"
            )
        else:
            raise SystemExit("eve could read alice's record: this must never happen")

        console.rule("consent: alice shares with a doctor at another hospital")
        doctor = Hospital(doctor_acct, contracts, node.client, KeyPair.generate())
        doctor.publish_key()
        month = chain.blocks.head.timestamp + 30 * 86400
        grant_id, receipt = alice.grant_access(
            doctor.address, Scope.all(), Purpose.TREATMENT, month
        )
        console.print(
            f"alice granted the doctor all records for treatment until {when(month)} "
            f"(keys for {len(alice.list_records())} records shared; {receipt.gas_used:,} gas)"
        )
        alice_first = next(ref for ref in refs if ref.patient == alice.address)
        opened = doctor.read_record(alice_first.record_id, purpose=Purpose.TREATMENT)
        console.print(
            f"the doctor read alice's {describe(opened.resource)}: [green]allowed[/green]"
        )
        fresh = hospital.anchor_record(alice.address, chart(3, "MRN-0001")[3])
        opened = doctor.read_record(fresh.record_id)
        console.print(
            f"a record anchored after the grant ({describe(opened.resource)}) is readable "
            "without alice doing anything more"
        )
        doctor.receipts.flush()
        receipt = alice.revoke_access(grant_id)
        console.print(f"alice revoked the grant ({receipt.gas_used:,} gas)")
        try:
            doctor.read_record(alice_first.record_id)
        except ConsentRequiredError as exc:
            console.print(f"the doctor's next read: [red]refused[/red] — {exc}")
        else:
            raise SystemExit("a revoked grant still allowed a read: this must never happen")

        trail = Table(
            "when",
            "reader",
            "record",
            "purpose",
            "signature",
            "in anchored batch",
            "check",
            title="alice's audit trail (every read, signed and Merkle-anchored)",
        )
        for entry in alice.audit_trail():
            r = entry.receipt
            check = "verified" if entry.verified else f"FLAGGED: {entry.problem}"
            if r is None:  # a batch that could not be read: shown, never hidden
                trail.add_row(when(entry.when), short(entry.reader), "(batch)", "", "", "", check)
                continue
            trail.add_row(
                when(r.read_at),
                short(r.reader),
                short("0x" + r.record_id.hex()),
                r.purpose.name.lower(),
                "valid" if entry.signature_valid else "BAD",
                "proven" if entry.in_anchored_batch else "NO",
                check,
            )
        console.print(trail)
        history = Table("consent", "grantee", "scope", "purpose", "state", title="alice's consents")
        for consent in alice.consents():
            state = "revoked" if consent.revoked else ("active" if consent.active else "expired")
            history.add_row(
                short("0x" + consent.grant_id.hex()),
                short(consent.grantee),
                consent.scope.describe(),
                consent.purpose.name.lower(),
                state,
            )
        console.print(history)

        console.rule("claims: an insurer settles alice's claims in a stablecoin")
        insurer_acct = accounts.test_accounts[6]
        contracts.registry.admit(governor, "insurer", insurer_acct)
        insurer = Insurer(insurer_acct, contracts, node.client, KeyPair.generate())
        insurer.publish_key()
        contracts.claims.token.mint(insurer_acct, 250_000 * USD, sender=governor)
        insurer.fund_escrow(100_000 * USD)
        now = chain.blocks.head.timestamp
        policy_id = insurer.issue_policy(
            alice.address,
            limit=20_000 * USD,
            deductible=250 * USD,
            copay_bps=2_000,
            covered={Category.OBSERVATION, Category.ENCOUNTER, Category.CONDITION},
            start=now - 30 * 86400,
            end=now + 365 * 86400,
            auto_approve_below=300 * USD,
        )
        alice.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, now + 365 * 86400)
        # A provider bills only for records it may read for treatment: alice's consent is its
        # care relationship (any provider could anchor a record under her address).
        alice.grant_access(
            hospital.address, Scope.all(), Purpose.TREATMENT, now + 365 * 86400, share_keys=False
        )
        console.print(
            f"insurer funded 100,000 mUSDC of escrow, issued policy #{policy_id} to alice "
            "(limit 20,000, deductible 250, co-pay 20%, auto-approve ≤ 300); alice consented "
            "to payment reads by the insurer and to treatment by the hospital"
        )
        billable = {Category.OBSERVATION, Category.ENCOUNTER, Category.CONDITION}
        visits = [r for r in refs if r.patient == alice.address and r.category in billable]
        submitted = {}
        for (label, code, amount, day), record in zip(
            (
                ("routine check", "99212", 180, 1),
                ("specialist visit", "99215", 1_450, 2),
                ("cosmetic add-on", "15780", 2_900, 3),
            ),
            visits,
            strict=False,
        ):
            evidence = [record.record_id]  # each visit's own record: a record backs one claim
            service = date.today() - timedelta(days=day)
            fhir_claim = build_claim(
                alice.address,
                hospital.address,
                insurer.address,
                policy_id,
                service,
                [(code, label, amount * USD)],
                evidence,
            )
            claim_id, receipt = hospital.submit_claim(
                policy_id, insurer.address, fhir_claim, evidence, service
            )
            submitted[label] = (claim_id, fhir_claim, service, evidence)
            console.print(
                f"hospital submitted '{label}' ({amount:,} mUSDC; {receipt.gas_used:,} gas)"
            )
        try:
            _, again, service, evidence = submitted["routine check"]
            hospital.submit_claim(policy_id, insurer.address, again, evidence, service)
        except ChainError as exc:
            console.print(f"the same 'routine check' again: [red]refused[/red] — {exc}")
        try:
            _, _, service, evidence = submitted["specialist visit"]
            hospital.bill(
                policy_id,
                insurer.address,
                alice.address,
                [("99214", "specialist visit, re-coded", 1_400 * USD)],
                evidence,
                service,
            )
        except ChainError as exc:
            console.print(
                f"the specialist visit's record billed again under another code: "
                f"[red]refused[/red] — {exc}"
            )
        # The insurer's settlement worker (carechain insurer worker) decides by its rules,
        # reading the evidence under alice's payment consent, and settles in one batch.
        rules = Rules.from_dict(
            {
                "approve": {"below": "2000.00"},
                "deny": {"codes": ["15780"], "reason": "not-covered-cosmetic"},
                "settle": {"interval": 0},
                "chain": {"confirmations": 1, "poll_interval": 0.1},
            }
        )
        paid_before = contracts.claims.balance_of(hospital.address)
        with tempfile.TemporaryDirectory() as scratch:
            journal = Journal(Path(scratch) / "worker.sqlite")
            Worker(insurer, rules, journal).run(until_idle=True, max_steps=100)
            decided_by = {row["claim_id"]: row["decided_by"] for row in journal.claims()}
            settlements = journal.db.execute(
                "SELECT COUNT(*) FROM txs WHERE kind = 'settle' AND state = 'done'"
            ).fetchone()[0]
            journal.close()
        received = contracts.claims.balance_of(hospital.address) - paid_before
        console.print(
            "the insurer's worker (rules: approve under 2,000 when the evidence is covered, "
            f"deny code 15780) decided {len(decided_by)} claims and settled the approved ones "
            f"in {settlements} settlement transaction{'s' if settlements != 1 else ''}; the "
            f"hospital received {received / USD:,.2f} mUSDC"
        )
        claims_table = Table(
            "claim",
            "asked",
            "decided by",
            "status",
            "insurer paid",
            "alice owes",
            title="alice's claims (FHIR ClaimResponse outcome in brackets)",
        )
        for view in alice.claims():
            name = next(k for k, v in submitted.items() if v[0] == view.claim_id)
            outcome = insurer.claim_response(view, alice.address)["outcome"]
            claims_table.add_row(
                name,
                f"{view.amount / USD:,.2f}",
                decided_by["0x" + view.claim_id.hex()],
                f"{view.status.name.lower()} [{outcome}]",
                f"{view.approved / USD:,.2f}",
                f"{view.patient_share / USD:,.2f}",
            )
        console.print(claims_table)
        console.print(
            "(the routine check was auto-approved on submission, but alice's 250 deductible "
            "absorbs all of it, so the insurer pays 0.00)"
        )
        balance, reserved = insurer.escrow()
        hospital_balance = contracts.claims.balance_of(hospital.address)
        denied_id = submitted["cosmetic add-on"][0]
        held, until = contracts.claims.denial(denied_id)
        if held:
            console.print(
                f"the cosmetic denial keeps {held / USD:,.2f} of escrow reserved until "
                f"{datetime.fromtimestamp(until, UTC):%Y-%m-%d}: what an arbitrator could award "
                "if the hospital or alice disputes it (then released by `finalizeDenial`)"
            )
        console.print(
            f"balances (mUSDC): hospital {hospital_balance / USD:,.2f}; "
            f"insurer escrow {balance / USD:,.2f} ({reserved / USD:,.2f} reserved); "
            f"alice owes the hospital {alice.amount_owed() / USD:,.2f}"
        )

        console.rule("traceability: a medicine batch from factory to patient, and a device's life")
        maker_acct, wholesaler_acct, pharmacy_acct, regulator_acct = accounts.test_accounts[11:15]
        for role, acct in (
            ("manufacturer", maker_acct),
            ("distributor", wholesaler_acct),
            ("pharmacy", pharmacy_acct),
            ("regulator", regulator_acct),
        ):
            contracts.registry.admit(governor, role, acct)
        # The governor binds the brand's GS1 company prefixes (its medicines' GTINs and its
        # devices' UDI-DIs) to the manufacturer: no other manufacturer can register them.
        for prefix in ("9506000", "0844588"):
            contracts.trace.assign_company_prefix(governor, prefix, maker_acct.address)
        console.print(
            "governor assigned GS1 company prefixes 9506000 (medicines) and 0844588 (devices) "
            "to the manufacturer"
        )
        maker, wholesaler, pharmacy, regulator, ward = (
            SupplyChainParty(a, contracts, node.client)
            for a in (maker_acct, wholesaler_acct, pharmacy_acct, regulator_acct, hospital_acct)
        )
        pack = GS1Code("09506000134352", "AMX-2611", date.today() + timedelta(days=540))
        batch = maker.register_batch(pack, 1, 1000, b"Certificate of analysis: assay 99.7%")
        registered = contracts.trace.events(batch)[0]
        console.print(
            f"manufacturer registered batch {pack.element_string()} — serials 1..1,000 — "
            f"with its certificate of analysis on IPFS (block {registered.block_number})"
        )
        maker.ship(batch, 1, 600, wholesaler.address)
        wholesaler.accept_all(batch)
        wholesaler.ship(batch, 1, 200, pharmacy.address)
        pharmacy.accept_all(batch)
        wholesaler.ship(batch, 201, 500, ward.address)
        ward.accept_all(batch)
        console.print(
            "custody: manufacturer → wholesaler (600 units) → pharmacy (1..200) and "
            "the hospital (201..500); each transfer offered by the holder, accepted by the "
            "receiver"
        )
        scanned = "]d201" + pack.gtin + f"17{pack.expiry:%y%m%d}10{pack.lot}" + GS + "2142"
        pharmacy.dispense(parse_gs1(scanned))
        check = pharmacy.verify(parse_gs1(scanned))
        console.print(
            f"pharmacy scanned serial 42 and dispensed it (no patient recorded); verifying it "
            f"again: genuine={check.genuine}, dispensed={check.dispensed}"
        )
        for line in check.history:
            console.print(f"   {line}")
        fake = pharmacy.verify(GS1Code(pack.gtin, pack.lot, pack.expiry, "4242"))
        console.print(
            f"a pack with serial 4242 (outside the batch): "
            f"{'[red]refused — not genuine[/red]' if not fake.genuine else 'genuine?!'}"
        )
        holders = regulator.recall(batch, "nitrosamine above limit")
        names = {
            maker.address: "manufacturer",
            wholesaler.address: "wholesaler",
            pharmacy.address: "pharmacy",
            ward.address: "hospital",
        }
        console.print(
            "regulator recalled the batch; holders to contact: "
            + ", ".join(names.get(h, h) for h in holders)
        )
        try:
            ward.dispense(GS1Code(pack.gtin, pack.lot, pack.expiry, "250"))
        except ChainError as exc:
            console.print(f"the hospital tries to give serial 250: [red]refused[/red] — {exc}")
        udi = "(01)00844588003288(21)PUMP-0042"
        maker.register_device(udi, b"Instructions for use; declaration of conformity")
        maker.assign_device(udi, ward.address)
        ward.log_service(udi, "calibration", True, b"flow within 2% at 5, 50, 500 ml/h")
        ward.log_service(udi, "quality-check", False, b"occlusion alarm 4 s late")
        maker.log_service(udi, "maintenance", True, b"alarm board replaced")
        ward.decommission(udi, "end-of-life")
        device = Table("infusion pump " + udi, title="a device's whole history (one call)")
        for line in ward.device_history(udi):
            device.add_row(line)
        console.print(device)

        console.rule("medical devices that sign their readings: alice's glucose sensor")
        sensor_udi, faulty_udi = (f"(01)00844588003288(21)GLU-{n}" for n in ("0007", "0008"))
        sensor = SimulatedDevice(sensor_udi, alice.address, GLUCOSE, seed=7)
        faulty = SimulatedDevice(faulty_udi, alice.address, GLUCOSE, seed=8)
        for simulated in (sensor, faulty):  # made, delivered, its key bound, given to alice
            maker.register_device(simulated.udi, b"CGM sensor: instructions for use")
            maker.assign_device(simulated.udi, ward.address)
            bind_device_key(contracts, maker_acct, simulated.udi, simulated.public_key)
        pairings = [
            assign_to_patient(contracts, hospital_acct, s.udi, alice.address)
            for s in (sensor, faulty)
        ]
        ward.log_service(faulty_udi, "quality-check", False, b"reads 18% high against YSI")
        console.print(
            "two glucose sensors made by the manufacturer, their Ed25519 keys bound to their "
            "UDIs, both given to alice (the chain holds a salted commitment, not her address); "
            "the second failed its quality check"
        )
        start = chain.blocks.head.timestamp + 1
        chain.pending_timestamp = start + 3600  # an hour of alice's day passes
        chain.mine()
        console.print(
            "[dim]the local chain's clock moves on an hour, as if alice's morning had passed "
            "(the readings below are timed within it, so later than your clock says)[/dim]"
        )
        verifier = ReadingVerifier(contracts)
        gateway = Gateway(hospital, verifier, pairings, max_readings=12)
        for i in range(12):  # one reading every five minutes
            gateway.add(sensor.reading(start + 300 * i))
        refused = gateway.add(faulty.reading(start + 600))
        console.print(f"a reading from the failed sensor: [red]refused[/red] — {refused.words()}")
        [(series, _)] = gateway.flush(everything=True)
        console.print(
            f"the gateway batched alice's 12 signed readings into one encrypted record "
            f"({series.gas_used:,} gas, {series.gas_used // 12:,} per reading)"
        )
        alice.grant_access(
            doctor.address,
            Scope.category(Category.OBSERVATION),
            Purpose.TREATMENT,
            chain.blocks.head.timestamp + 30 * 86400,
        )
        readings = Table(
            "time", "glucose", "device", "check", title="alice's glucose, as her doctor reads it"
        )
        for c in read_readings(doctor, series.record_id, verifier):
            readings.add_row(when(c.time), c.value, c.udi, c.verdict.words())
        console.print(readings)
        doctor.receipts.flush()

        console.rule("keys people can lose: alice's key file is gone; 2 of 3 holders bring it back")
        guardian_acct = accounts.test_accounts[7]
        alice.appoint_guardian(guardian_acct.address)
        guardian = Patient(guardian_acct, contracts, node.client, KeyPair.generate())
        guardian.publish_key()
        holders = [bob, doctor, guardian]  # a relative, her GP, her guardian
        backup = alice.back_up_key([h.address for h in holders], 2)
        console.print(
            f"alice split her record key 2 of 3 (SLIP-39) among bob, her GP and her guardian: "
            f"each share sealed to its holder's key on IPFS, {len(backup.commitments)} "
            "commitments on-chain, nothing in the clear"
        )
        device = Patient(
            alice_acct, contracts, node.client, KeyPair.generate(KemSuite.MLKEM768_X25519)
        )
        try:
            bob.release_backup_share(alice.address)
        except CarechainError as exc:
            console.print(f"bob offers his share unasked: [red]refused[/red] — {exc}")
        device.request_recovery()
        console.print(
            "alice lost her key file; on a new device her account (its Ethereum key, not the "
            "lost record key) asked her holders for their shares, sealed to the device's key"
        )
        bob.release_backup_share(alice.address)
        try:
            device.recover_key()
        except RecoveryError as exc:
            console.print(f"with bob's share alone: [red]not enough[/red] — {exc}")
        doctor.release_backup_share(alice.address)
        recovered = device.recover_key()
        with_recovered = Patient(alice_acct, contracts, node.client, recovered)
        readable = len(
            [with_recovered.read_record(head.record_id) for head, _ in alice.list_records()]
        )
        console.print(
            f"with her GP's share too, alice rebuilt her key (each share checked against its "
            f"commitment) and read all {readable} of her records"
        )
        device.rotate_key(recovered)
        device.close_recovery()
        device.back_up_key([h.address for h in holders], 2)
        alice = device
        console.print(
            "alice rotated: her records' data keys re-wrapped to the device's new key, the new "
            "key published in place of the old one, and backed up again to the same holders"
        )

        console.rule("emergency access that opens records")
        institutions = []
        for acct in accounts.test_accounts[8:11]:
            contracts.registry.admit(governor, "emergency", acct)
            institution = Hospital(acct, contracts, node.client, KeyPair.generate())
            institution.publish_key()
            institutions.append(institution)
        alice.enroll_emergency([i.address for i in institutions], 2)
        allergy = {
            "resourceType": "AllergyIntolerance",
            "id": "alice-peanut",
            "patient": {"reference": "Patient/alice"},
            "code": {"text": "Peanut"},
            "criticality": "high",
        }
        allergy_ref = hospital.anchor_record(alice.address, allergy)
        console.print(
            "alice enrolled in emergency escrow: each record's data key is split 2 of 3 among "
            "three emergency institutions the governor chose; the hospital anchored her peanut "
            "allergy"
        )
        try:
            institutions[0].release_emergency_share(alice.address, bytes(32))
        except CarechainError as exc:
            console.print(
                "an institution asked to release citing a break-glass that was never opened "
                f"(id 0x00…00): [red]refused[/red] — {exc}"
            )
        contracts.registry.admit(governor, "provider", doctor_acct)
        access = doctor.open_break_glass(alice.address, "unconscious-in-ED", 3600)
        for institution in institutions[:2]:
            institution.release_emergency_share(alice.address, access)
        opened = doctor.read_in_emergency(allergy_ref.record_id, access)
        doctor.receipts.flush()
        console.print(
            f"an emergency doctor opened break-glass; two institutions released their shares of "
            f"her records' keys to the doctor, who read alice's [green]{describe(opened.resource)} "
            f"(criticality {opened.resource['criticality']})[/green]"
        )
        contracts.registry.admit(governor, "auditor", governor)  # the governor audits here
        contracts.consent.review_break_glass(governor, access, False)
        try:
            institutions[2].release_emergency_share(alice.address, access)
        except CarechainError as exc:
            console.print(
                f"after the auditor's verdict, the third institution: [red]refused[/red] — {exc}"
            )
        emergency_reads = [
            e for e in alice.audit_trail() if e.receipt and e.receipt.purpose is Purpose.EMERGENCY
        ]
        verdict = contracts.consent.break_glass_by_id(access).verdict
        console.print(
            f"alice's trail: {len(emergency_reads)} emergency read (receipt verified: "
            f"{all(e.verified for e in emergency_reads)}), {len(alice.emergency_releases())} "
            f"institutions released shares for break-glass 0x{access.hex()[:8]}…, auditor's "
            "verdict: "
            f"[red]{verdict}[/red]"
        )

        console.rule("clinical research: a trial fixed before enrolment, participants rewarded")
        sponsor_acct = accounts.test_accounts.generate_test_account()
        governor.transfer(sponsor_acct, 10**18)
        contracts.registry.admit(governor, "sponsor", sponsor_acct)
        sponsor = Sponsor(sponsor_acct, contracts, node.client, KeyPair.generate())
        sponsor.publish_key()
        contracts.claims.mint_test_tokens(governor, sponsor.address, 100 * USD)
        hba1c, weight = "HbA1c change at 26 weeks", "Body weight change at 26 weeks"
        now, day = chain.blocks.head.timestamp, 86400
        trial_id = sponsor.register_trial(
            build_research_study("Drug X in type 2 diabetes", sponsor.address, [hba1c], [weight]),
            b"# Protocol\nRandomised, double-blind, 26 weeks; analysis by ANCOVA.\n",
            planned_enrolment=2,
            enrolment_closes=now + 30 * day,
            ends_at=now + 180 * day,
            results_due=now + 365 * day,
            scope=Scope.category(Category.OBSERVATION),
            reward_per_contribution=5 * USD,
            reward_per_milestone=10 * USD,
            reward_cap=25 * USD,
        )
        sponsor.fund_trial(trial_id, 100 * USD)
        console.print(
            f"a sponsor registered trial {trial_id} (protocol and ResearchStudy public on IPFS, "
            f"checked for personal data; primary outcome '{hba1c}') and funded 100.00 mUSDC"
        )
        for patient in (alice, bob):
            enrol(patient, trial_id)
        console.print(
            "alice and bob enrolled by consenting to the sponsor: research, observations only, "
            f"until the trial's end; the chain counts {contracts.trials.trial(trial_id).enrolled}"
        )
        for patient in (alice, bob):
            heads = [h for h, _ in patient.list_records() if h.category is Category.OBSERVATION]
            for head in heads[:2]:
                sponsor.read_for_trial(head.record_id)
        sponsor.receipts.flush()
        condition = next(h for h, _ in alice.list_records() if h.category is Category.CONDITION)
        try:
            sponsor.read_for_trial(condition.record_id)
        except ConsentRequiredError:
            console.print(
                "the sponsor read two observations each; alice's condition: [red]refused[/red]"
            )
        else:
            raise SystemExit("the sponsor read a record outside the trial's consent")
        sponsor.attest_milestone(trial_id, alice.address, "week-12-visit")
        for name, patient in (("alice", alice), ("bob", bob)):
            paid = claim_rewards(patient, trial_id)
            again = claim_rewards(patient, trial_id).paid
            console.print(
                f"{name} claimed {paid.paid / USD:.2f} mUSDC: {paid.contributions} reads proven by "
                f"the sponsor's anchored receipts, {paid.milestones / USD:.2f} for a milestone; "
                f"claiming again pays {again / USD:.2f}"
            )
        switched_study = build_research_study("Drug X", sponsor.address, [weight], [hba1c])
        version, switched = sponsor.amend_trial(trial_id, switched_study, "slow recruitment")
        results = build_results(
            trial_id, sponsor.address, {weight: "-2.1 kg vs -0.4 kg", hba1c: "-0.9% vs -0.3%"}
        )
        sponsor.post_results(trial_id, results)
        report = inspect_trial(contracts, node.client, trial_id)
        table = Table(f"outcome (version {version})", "kind", "registered before enrolment?")
        for check in report.outcomes:
            answer = (
                "yes"
                if check.registered_before_enrolment
                else f"[red]no[/red] (was {check.registered_as or 'absent'})"
            )
            table.add_row(check.name, check.kind, answer)
        console.print(table)
        for flag in report.flags:
            console.print(f"[bold red]{flag}[/bold red]")
        console.print(
            f"results posted and checked against the registered outcomes; version {version} "
            f"flagged as an outcome switch: {switched}, shown wherever the trial is shown"
        )

        console.rule("[bold green]done")
        console.print(
            "Every record above went to IPFS only as ciphertext; the chain holds its digest, "
            "whose patient it is, its category and who may read it — no health data. "
            "Revocation stops future reads; it cannot make the doctor forget what was read."
        )
        console.print(
            "Next: [bold]make portal[/bold] shows such records in a browser as a patient, a "
            "clinician or an insurer sees them; README's 'The command line' walks through "
            "the same story command by command; docs/ has the design and what each party "
            "could try."
        )
