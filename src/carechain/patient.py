"""The patient client: publish a key, list every record about me, read them."""

from __future__ import annotations

from .chain import RecordHead, RecordVersion
from .records import Party


class Patient(Party):
    """A patient: any address, no role needed. Holds the key pair that opens their records
    (``read_record``, inherited)."""

    def list_records(self) -> list[tuple[RecordHead, RecordVersion]]:
        """Every record about this patient, from the chain's events: head and latest version."""
        registry = self.contracts.registry
        return [(registry.head(v.record_id), v) for v in registry.records_of(self.address)]
