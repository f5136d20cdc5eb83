"""Every carechain contract of one deployment, on one node."""

from __future__ import annotations

import logging
from pathlib import Path

from ..crypto import EmergencyShares, KemSuite, RecordContext
from ..errors import ConfigurationError, KeyNotFoundError
from ..model import Deployment
from .access_log import AccessLog
from .claims import ClaimsManager
from .consent import ConsentManager
from .device_keys import DeviceKeys
from .escrow import KeyEscrow
from .index import LogIndex
from .keys import KeyDirectory
from .registry import Registry
from .rpc import Node, current
from .traceability import Traceability
from .trials import ClinicalTrials

log = logging.getLogger(__name__)


class Contracts:
    """Every carechain contract of one deployment."""

    def __init__(
        self, deployment: Deployment, node: Node | None = None, index: Path | None = None
    ) -> None:
        """The contracts of ``deployment`` on ``node`` (the current node by default). With
        ``index`` (a file), event listings answer from a local index kept there (see
        :class:`LogIndex`) instead of reading the chain's logs every time."""
        node = node or current()
        if deployment.chain_id != node.chain_id:
            raise ConfigurationError(
                f"deployment '{deployment.network}' is for chain {deployment.chain_id}, but the "
                f"node at {node.url} runs chain {node.chain_id}; connect to the right node or "
                "redeploy"
            )
        for name, address in (
            ("registry", deployment.registry),
            ("keys", deployment.key_directory),
        ):
            if not node.code(address):
                raise ConfigurationError(
                    f"no contract at the {name} address {address} on chain {node.chain_id}: "
                    "the chain was restarted or the deployment file is stale; redeploy "
                    "(ape run deploy --network ...)"
                )
        self.node = node
        self.deployment = deployment
        # Event queries start at the deployment's block (recorded once every contract was
        # deployed): nothing the SDK reads from events is older.
        since = deployment.block
        self.registry = Registry(node, deployment.registry, since)
        self.keys = KeyDirectory(node, deployment.key_directory, since)
        self.consent = ConsentManager(node, deployment.consent, since)
        self.access_log = AccessLog(node, deployment.access_log, since)
        self.claims = ClaimsManager(node, deployment.claims, deployment.token, since)
        self.trace = Traceability(node, deployment.trace, since) if deployment.trace else None
        self._escrow = KeyEscrow(node, deployment.escrow, since) if deployment.escrow else None
        self.device_keys = (
            DeviceKeys(node, deployment.device_keys, since) if deployment.device_keys else None
        )
        self._trials = ClinicalTrials(node, deployment.trials, since) if deployment.trials else None
        self.index: LogIndex | None = None
        if index is not None:
            wrappers = [self.registry, self.keys, self.consent, self.access_log, self.claims]
            wrappers += [self.trace] if self.trace else []
            wrappers += [self._escrow] if self._escrow else []
            wrappers += [self.device_keys] if self.device_keys else []
            wrappers += [self._trials] if self._trials else []
            self.index = LogIndex(index, node, [w.contract.address for w in wrappers], since)
            for wrapper in wrappers:
                wrapper.contract.index = self.index

    @property
    def escrow(self) -> KeyEscrow:
        """The KeyEscrow (backups and emergency escrow); older deployments have none."""
        if self._escrow is None:
            raise ConfigurationError(
                f"deployment '{self.deployment.network}' has no KeyEscrow contract (it predates "
                "key backup and emergency escrow); redeploy (ape run deploy --network ...)"
            )
        return self._escrow

    @property
    def trials(self) -> ClinicalTrials:
        """The ClinicalTrials contract; older deployments have none."""
        if self._trials is None:
            raise ConfigurationError(
                f"deployment '{self.deployment.network}' has no ClinicalTrials contract (it "
                "predates clinical trials); redeploy (ape run deploy --network ...)"
            )
        return self._trials

    @property
    def has_escrow(self) -> bool:
        """Whether this deployment has a KeyEscrow."""
        return self._escrow is not None

    def emergency_shares(self, patient: str) -> EmergencyShares | None:
        """The emergency institutions new records of ``patient`` split their data key among
        (:class:`EmergencyShares`); None if the patient is not enrolled (or opted out). An
        institution that has withdrawn its published key is left out, with a warning; if
        fewer than the threshold remain, nothing is split (and that is logged). So is one that
        governance removed from the emergency role: it could no longer release its shares."""
        if self._escrow is None:
            return None
        from ..model import EscrowKind

        view = self._escrow.escrow(patient, EscrowKind.EMERGENCY)
        if view is None:
            return None
        keys = []
        for holder in view.holders:
            if not self.registry.has_role("emergency", holder):
                log.warning("%s is no longer an emergency institution: left out", holder)
                continue
            try:
                keys.append(self.reader_key(holder))
            except KeyNotFoundError:
                log.warning("emergency institution %s has no published key: left out", holder)
        if len(keys) < view.threshold:
            log.warning(
                "%s's emergency escrow needs %d admitted institutions with published keys, %d "
                "remain: new records are not escrowed (the patient should enrol again)",
                patient,
                view.threshold,
                len(keys),
            )
            return None
        return EmergencyShares(view.threshold, tuple(keys))

    @property
    def chain_id(self) -> int:
        """The chain these contracts live on."""
        return self.deployment.chain_id

    def record_context(self, patient: str, record_id: bytes, version: int) -> RecordContext:
        """The context a record version's ciphertext is bound to."""
        return RecordContext(self.chain_id, self.registry.address, patient, record_id, version)

    def reader_key(self, party: str) -> tuple[KemSuite, bytes]:
        """The key to wrap data keys to for ``party``: the post-quantum hybrid if published."""
        for suite in (KemSuite.MLKEM768_X25519, KemSuite.X25519):
            try:
                return suite, self.keys.public_key(party, suite)
            except KeyNotFoundError:
                continue
        raise KeyNotFoundError(
            f"{party} has not published an encryption key, so nothing can be encrypted to "
            "them; they must publish one first (Party.publish_key / carechain keys publish)"
        )

    @classmethod
    def load(
        cls, network: str | None = None, node: Node | None = None, index: bool = True
    ) -> Contracts:
        """The deployment recorded for ``network`` (``deployments/<network>.json``); by
        default the one recorded for the chain ``node`` (the current node) runs. Listings
        use a local index of its events (``index=False``: none), one file per chain and
        deployment under the data folder (``CARECHAIN_STATE_DIR``, ``.carechain`` by
        default); deleting it costs only a rescan."""
        node = node or current()
        if network is None:
            deployment = Deployment.for_chain(node.chain_id)
        else:
            deployment = Deployment.load(network)
        path = None
        if index:
            from ..settings import get_settings

            name = f"{deployment.chain_id}-{deployment.registry.lower()}.sqlite"
            path = get_settings().state_dir / "index" / name
        return cls(deployment, node, path)
