"""Privacy canary: plant a unique string in a patient's records and claim, run the flows
(anchoring, consent with shared keys, a logged read, a claim adjudicated and settled by the
worker), then search everything public — every transaction's calldata, every event log,
every contract's storage and code (anvil's state dump) and every block in the Kubo
repository — for the canary as UTF-8, UTF-16 and base64. It must be nowhere."""

import base64
import gzip
import json
import secrets

import pytest

from carechain import Purpose, Scope
from carechain.samples import chart
from carechain.worker import Journal, Rules, Worker
from tests.helpers import USD

pytestmark = pytest.mark.integration


def forms(canary: str) -> list[bytes]:
    """The canary as it could appear: UTF-8, UTF-16 (both byte orders), and base64 at each
    of the three alignments (the part of the encoding that does not depend on neighbours)."""
    raw = canary.encode()
    found = [raw, canary.encode("utf-16-le"), canary.encode("utf-16-be")]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        start = (shift * 4 + 2) // 3 + 1  # skip characters mixed with the padding bytes
        found.append(encoded[start : len(encoded) - 4])
    return found


def leaks(blob: bytes, canary: str) -> bool:
    """Whether ``blob`` contains the canary in any of its forms (also hex-encoded)."""
    lowered = blob.lower()
    return any(f in blob or f.hex().encode() in lowered for f in forms(canary))


def test_the_scanner_finds_a_planted_canary():
    """The detector can fail: each form, embedded in other bytes, is found."""
    canary = "CANARY-" + secrets.token_hex(8)
    for shift in range(3):
        encoded = base64.b64encode(b"x" * shift + canary.encode() + b"tail")
        assert leaks(b"prefix " + encoded + b" suffix", canary)
    assert leaks(b"..." + canary.encode("utf-16-le") + b"...", canary)
    assert leaks(b"0x00" + canary.encode().hex().encode() + b"00", canary)
    assert not leaks(b"nothing to see here", canary)


def kubo_blocks(ipfs) -> list[bytes]:
    """Every block in the node's repository."""
    listing = ipfs._post("refs/local").text.splitlines()
    cids = [json.loads(line)["Ref"] for line in listing if line.strip()]
    return [ipfs._post("block/get", params={"arg": cid}).content for cid in cids]


def chain_blobs(chain) -> list[bytes]:
    """Every transaction's input and every log (topics and data) on the chain."""
    web3 = chain.provider.web3
    blobs = []
    for number in range(chain.blocks.height + 1):
        block = web3.eth.get_block(number, full_transactions=True)
        blobs += [bytes(tx["input"]) for tx in block["transactions"]]
    for log in web3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}):
        blobs.append(b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"]))
    return blobs


def state_dump(chain) -> bytes:
    """anvil's whole state (every account's code and storage), decompressed."""
    dumped = chain.provider.make_request("anvil_dumpState", [])
    return gzip.decompress(bytes.fromhex(dumped.removeprefix("0x")))


def test_no_plaintext_health_data_leaves_the_patients_devices(
    hospital_client,
    patient_client,
    doctor_client,
    insurer_client,
    contracts,
    ipfs,
    chain,
    tmp_path,
):
    canary = "CANARY-" + secrets.token_hex(8)
    records = chart(77, f"MRN-{canary}")
    records[0]["name"][0]["family"] = canary  # the Patient's name
    records[2]["note"] = [{"text": f"patient said {canary} twice"}]  # a Condition's note
    now = chain.blocks.head.timestamp
    refs = hospital_client.anchor_records([(patient_client.address, r) for r in records])
    # Consent that shares the keys of existing records (a key object on IPFS), a read, and
    # its receipt anchored.
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, now + 86400)
    doctor_client.read_record(refs[2].record_id, purpose=Purpose.TREATMENT)
    doctor_client.receipts.flush()
    # A claim whose FHIR Claim carries the canary, adjudicated and paid by the worker.
    policy_id = insurer_client.issue_policy(
        patient_client.address,
        limit=5_000 * USD,
        deductible=0,
        copay_bps=0,
        covered={refs[1].category},
        start=now - 86400,
        end=now + 365 * 86400,
    )
    patient_client.grant_access(
        insurer_client.address, Scope.all(), Purpose.PAYMENT, now + 365 * 86400
    )
    patient_client.grant_access(
        hospital_client.address, Scope.all(), Purpose.TREATMENT, now + 86400, share_keys=False
    )
    hospital_client.bill(
        policy_id,
        insurer_client.address,
        patient_client.address,
        [("99213", f"visit about {canary}", 120 * USD)],
        [refs[1].record_id],
    )
    rules = Rules.from_dict(
        {
            "approve": {"below": "1000.00"},
            "settle": {"interval": 0},
            "chain": {"confirmations": 1, "poll_interval": 0.05},
        }
    )
    journal = Journal(tmp_path / "worker.sqlite")
    Worker(insurer_client, rules, journal).run(until_idle=True, max_steps=50)
    assert journal.status()["paid_count"] == 1  # the flows really ran
    journal.close()

    places = {
        "transaction calldata or event logs": chain_blobs(chain),
        "contract storage or code": [state_dump(chain)],
        "the Kubo repository": kubo_blocks(ipfs),
    }
    assert len(places["the Kubo repository"]) > len(records)  # ciphertexts, key object, ...
    for place, blobs in places.items():
        assert not any(leaks(blob, canary) for blob in blobs), f"canary found in {place}"

    # Positive controls: the same scans find the canary once it is stored in the clear.
    ipfs.add(f"leaked {canary}".encode(), pin=False)
    assert any(leaks(blob, canary) for blob in kubo_blocks(ipfs))
    patient_client.account.transfer(patient_client.address, 0, data=canary.encode())
    assert any(leaks(blob, canary) for blob in chain_blobs(chain))


def test_no_share_or_key_material_in_the_clear(
    patient_client, hospital_client, accounts, governor, second_patient, guardian, doctor,
    other_hospital, contracts, ipfs, chain, monkeypatch,
):  # fmt: skip
    """Back up a key 2 of 3, recover it on a new device and rotate, enrol in emergency
    escrow and open a record under break-glass: no escrowed private key, no share, no
    device key, no data key split for emergencies and none of its shares is anywhere public
    — calldata, logs, contract state or the Kubo repository."""
    import carechain.crypto as crypto_module
    import carechain.escrow as escrow_module
    from carechain import KemSuite, KeyPair, Patient
    from carechain.hospital import Hospital

    split = escrow_module.split_secret
    secrets_seen: list[tuple[bytes, list[str]]] = []

    def recording_split(secret, threshold, count):
        shares = split(secret, threshold, count)
        secrets_seen.append((secret, shares))
        return shares

    monkeypatch.setattr(escrow_module, "split_secret", recording_split)
    split_key = crypto_module.split_data_key
    keys_seen: list[tuple[bytes, list[bytes]]] = []

    def recording_split_key(data_key, threshold, count):
        shares = split_key(data_key, threshold, count)
        keys_seen.append((data_key, shares))
        return shares

    monkeypatch.setattr(crypto_module, "split_data_key", recording_split_key)

    def published(kind, account):
        client = kind(account, contracts, ipfs, KeyPair.generate())
        client.publish_key()
        return client

    [ref] = hospital_client.anchor_records([(patient_client.address, chart(78, "MRN-78")[3])])
    holders = [published(Patient, a) for a in (second_patient, guardian, doctor)]
    patient_client.back_up_key([h.address for h in holders], 2)
    device = Patient(patient_client.account, contracts, ipfs, KeyPair.generate(KemSuite.X25519))
    device.request_recovery()
    holders[0].release_backup_share(patient_client.address)
    holders[1].release_backup_share(patient_client.address)
    old = device.recover_key()
    device.rotate_key(old)
    device.close_recovery()
    institutions = []
    for account in (accounts[11], accounts[12], accounts[13]):
        contracts.registry.admit(governor, "emergency", account)
        institutions.append(published(Hospital, account))
    device.enroll_emergency([i.address for i in institutions], 2)
    contracts.registry.admit(governor, "provider", other_hospital)
    clinician = published(Hospital, other_hospital)
    access = clinician.open_break_glass(device.address, "unconscious-in-ED", 3600)
    for institution in institutions[:2]:
        institution.release_emergency_share(device.address, access)
    clinician.read_in_emergency(ref.record_id, access)
    clinician.receipts.flush()
    assert len(secrets_seen) == 1  # the backup; emergency escrow has no key to split
    assert keys_seen  # the record's data key, split among the institutions at enrolment

    private = [secret for secret, _ in secrets_seen] + [device.key_pair.private_bytes()]
    private += [data_key for data_key, _ in keys_seen]
    private += [share for _, key_shares in keys_seen for share in key_shares]
    shares = [share for _, split_shares in secrets_seen for share in split_shares]
    places = {
        "transaction calldata or event logs": chain_blobs(chain),
        "contract storage or code": [state_dump(chain)],
        "the Kubo repository": kubo_blocks(ipfs),
    }
    for place, blobs in places.items():
        for blob in blobs:
            lowered = blob.lower()
            for key in private:
                assert key not in blob and key.hex().encode() not in lowered, f"key in {place}"
            for share in shares:
                assert not leaks(blob, share), f"a share in {place}"

    # Positive control: a share stored in the clear is found.
    ipfs.add(f"oops {shares[0]}".encode(), pin=False)
    assert any(leaks(blob, shares[0]) for blob in kubo_blocks(ipfs))
