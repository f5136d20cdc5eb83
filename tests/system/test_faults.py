"""Faults injected on purpose: Kubo killed in the middle of an upload, and two Kubo nodes
on loopback where a record stored on the hospital's node is read through the insurer's."""

import os
import signal
import threading
import time

import pytest

from carechain import (
    ContentNotFoundError,
    Hospital,
    IPFSUnavailableError,
    KeyPair,
    KuboNode,
    Party,
    Purpose,
    Scope,
)
from carechain.samples import chart

pytestmark = pytest.mark.integration


def document(size: int) -> dict:
    """A FHIR DocumentReference carrying ``size`` bytes (to make uploads take a while)."""
    import base64

    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(os.urandom(size)).decode(),
                }
            }
        ],
    }


def stored_objects(node: KuboNode) -> int:
    """How many blocks the node holds (pinned or not)."""
    return int(node.client._post("repo/stat").json()["NumObjects"])


def test_kubo_killed_mid_upload_anchors_nothing_and_a_retry_anchors_once(
    tmp_path, hospital, patient_client, contracts
):
    node = KuboNode(tmp_path / "hospital-kubo").start()
    try:
        client = Hospital(hospital, contracts, node.client, KeyPair.generate())
        client.publish_key()
        items = [(patient_client.address, document(256 * 1024)) for _ in range(40)]
        pins_before = node.client.pins()
        objects_before = stored_objects(node)
        failure: list[BaseException] = []

        def upload() -> None:
            try:
                client.anchor_records(items, batch_size=100)
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=upload)
        worker.start()
        deadline = time.monotonic() + 60
        while stored_objects(node) < objects_before + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(node.pid, signal.SIGKILL)  # some records stored, the batch not anchored
        worker.join(timeout=120)

        assert failure and isinstance(failure[0], IPFSUnavailableError), failure
        assert "Kubo" in str(failure[0]) or "IPFS" in str(failure[0])
        assert contracts.registry.records_of(patient_client.address) == []  # nothing anchored

        node.stop()
        node.start()
        # what was stored for the batch that never got its anchor is not pinned
        assert node.client.pins() == pins_before
        retry = Hospital(hospital, contracts, node.client, client.key_pair)
        refs = retry.anchor_records(items, batch_size=100)
        anchored = contracts.registry.records_of(patient_client.address)
        assert len(refs) == len(anchored) == 40  # exactly once
        patient_here = Party(
            patient_client.account, contracts, node.client, patient_client.key_pair
        )
        opened = patient_here.read_record(refs[0].record_id)  # stored on the hospital's node
        assert opened.resource == items[0][1]
    finally:
        node.stop()


def test_a_record_on_the_hospitals_node_is_read_through_the_insurers_node(
    tmp_path, hospital_client, patient_client, doctor, ipfs, contracts, chain
):
    """Two private nodes, connected by hand on loopback: content added on one is fetched
    by the other over bitswap and verified against the chain before decrypting."""
    [ref] = hospital_client.anchor_records([(patient_client.address, chart(5, "MRN-5")[1])])
    with KuboNode(tmp_path / "insurer-kubo") as other:
        reader = Party(doctor, contracts, other.client, KeyPair.generate())
        reader.publish_key()
        patient_client.grant_access(
            reader.address, Scope.all(), Purpose.TREATMENT, chain.blocks.head.timestamp + 3600
        )
        with pytest.raises(ContentNotFoundError):  # not connected: nobody has the block
            other.client.cat(ref.digest, timeout=2)
        other.client.connect(ipfs.swarm_addresses()[0])
        # The reader's only IPFS client is the second node: the bytes came over the link,
        # and were checked against the chain's digest before being decrypted.
        opened = reader.read_record(ref.record_id, purpose=Purpose.TREATMENT)
        assert opened.resource["resourceType"] == "Encounter"
