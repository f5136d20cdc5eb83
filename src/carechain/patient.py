"""The patient client: publish a key, list every record about me, read them."""

from __future__ import annotations

from typing import Any

from .chain import Contracts, RecordHead, RecordVersion
from .crypto import KeyPair
from .ipfs import IPFSClient
from .records import DecryptedRecord, fetch_and_open


class Patient:
    """A patient: any address, no role needed. Holds the key pair that opens their records."""

    def __init__(
        self, account: Any, contracts: Contracts, ipfs: IPFSClient, key_pair: KeyPair
    ) -> None:
        self.account = account
        self.address = str(account.address)
        self.contracts = contracts
        self.ipfs = ipfs
        self.key_pair = key_pair

    def publish_key(self) -> Any:
        """Publish the patient's encryption key so providers can encrypt to it."""
        return self.contracts.keys.publish(
            self.account, self.key_pair.suite, self.key_pair.public_key
        )

    def list_records(self) -> list[tuple[RecordHead, RecordVersion]]:
        """Every record about this patient, from the chain's events: head and latest version."""
        registry = self.contracts.registry
        return [(registry.head(v.record_id), v) for v in registry.records_of(self.address)]

    def read_record(self, record_id: bytes, version: int | None = None) -> DecryptedRecord:
        """Fetch, verify against the chain, and decrypt one of my records."""
        return fetch_and_open(self.contracts, self.ipfs, self.key_pair, record_id, version)
