"""A small typed client for Kubo's HTTP RPC API.

Only what carechain needs: add and add_many (with the fixed layout of :mod:`carechain.unixfs`), cat,
pins, id and version. Every read is checked against the digest the caller expects, so a
node that returns other bytes is caught, and every HTTP or network failure is raised as
one of the package's own errors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import ContentNotFoundError, IntegrityError, IPFSError, IPFSUnavailableError
from .unixfs import (
    KUBO_ADD_PARAMS,
    batch_node,
    cid_from_digest,
    dag_digest,
    digest_from_cid,
    leaf_node,
)

#: The largest block Kubo's ``block/put`` takes without ``--allow-big-block``.
MAX_BLOCK_SIZE = 1 << 20


@dataclass(frozen=True)
class AddedContent:
    """Content now stored (and pinned) on the node."""

    cid: str
    digest: bytes
    size: int


class IPFSClient:
    """Talks to one Kubo node's RPC API (``http://127.0.0.1:5001`` style base URL)."""

    def __init__(self, api_url: str, timeout: float = 60.0, fetch_timeout: float = 10.0) -> None:
        """``timeout`` bounds every HTTP request; ``fetch_timeout`` bounds how long the node
        may look for content it does not hold (from peers) before reporting it missing."""
        self.api_url = api_url.rstrip("/")
        self.fetch_timeout = fetch_timeout
        self._http = httpx.Client(base_url=f"{self.api_url}/api/v0", timeout=timeout)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> IPFSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing

    def _post(self, command: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.post(f"/{command}", **kwargs)
        except httpx.TimeoutException as exc:
            raise IPFSUnavailableError(
                f"the IPFS node at {self.api_url} did not answer '{command}' in time; "
                "check that it is running (make demo / the test fixtures start one)"
            ) from exc
        except httpx.TransportError as exc:
            raise IPFSUnavailableError(
                f"cannot reach the IPFS node at {self.api_url} ({exc.__class__.__name__}); "
                "is the Kubo daemon running?"
            ) from exc
        if response.status_code != 200:
            message = _error_message(response)
            if any(m in message for m in ("not found", "deadline exceeded", "no link named")):
                raise ContentNotFoundError(
                    f"the IPFS node has no such content and found none among its peers "
                    f"({message}); was it added to this node, or is the node that holds it "
                    "connected?"
                )
            raise IPFSError(f"IPFS '{command}' failed ({response.status_code}): {message}")
        return response

    # ----------------------------------------------------------------- commands

    def version(self) -> str:
        """The node's Kubo version, e.g. ``0.39.0``."""
        return str(self._post("version").json()["Version"])

    def id(self) -> dict[str, Any]:
        """The node's identity: ``ID`` (peer id) and ``Addresses``."""
        return dict(self._post("id").json())

    def add(self, data: bytes, pin: bool = True) -> AddedContent:
        """Store ``data``; the returned CID is checked against our own computation."""
        params = {**KUBO_ADD_PARAMS, "pin": str(pin).lower(), "quieter": "true"}
        response = self._post("add", params=params, files={"file": ("record", data)})
        return self._checked(response.json()["Hash"], data)

    def add_many(self, items: Sequence[bytes], pin: bool = True) -> list[AddedContent]:
        """Store several contents with few requests; each CID is checked against our own
        computation, as in :meth:`add`, and the result is in input order.

        Contents whose block fits Kubo's 1 MiB block limit (every record in practice) are
        sent as the dag-pb blocks ``add`` would build for them, in one ``block/put``
        request, and then pinned with one ``pin/add`` request: the same CIDs and pins as
        ``add``, at about two thirds of Kubo's work (``add`` also files every item in its
        MFS tree). Nothing is pinned unless every block was stored. Larger contents go
        through one multipart ``add`` (Kubo pins its files together at the end)."""
        if len(items) <= 1:
            return [self.add(data, pin) for data in items]
        leaves = [leaf_node(data) for data in items]
        if all(len(leaf) <= MAX_BLOCK_SIZE for leaf in leaves):
            return self._put_blocks(items, leaves, pin)
        params = {**KUBO_ADD_PARAMS, "pin": str(pin).lower(), "progress": "false"}
        files = [("file", (str(i), data)) for i, data in enumerate(items)]
        response = self._post("add", params=params, files=files)
        return self._checked_all(response, "Name", "Hash", items)

    def _put_blocks(
        self, items: Sequence[bytes], leaves: list[bytes], pin: bool
    ) -> list[AddedContent]:
        """One-chunk contents as their UnixFS leaf blocks: one ``block/put``, one ``pin/add``."""
        params = {"cid-codec": "dag-pb", "mhtype": "sha2-256", "pin": "false"}
        files = [("file", (str(i), leaf)) for i, leaf in enumerate(leaves)]
        response = self._post("block/put", params=params, files=files)
        added = self._checked_all(response, None, "Key", items)
        if pin:
            self._post("pin/add", params=[("arg", content.cid) for content in added])
        return added

    def _checked_all(
        self, response: httpx.Response, name: str | None, key: str, items: Sequence[bytes]
    ) -> list[AddedContent]:
        """Check a multi-item answer (one JSON object per line, naming each item by ``name``,
        or in order when ``name`` is None) against ``items``."""
        answered: dict[str, str] = {}
        try:
            for line in response.text.splitlines():
                if line.strip():
                    entry = json.loads(line)
                    label = str(entry[name]) if name else str(len(answered))
                    answered[label] = str(entry[key])
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"IPFS node answered a multi-item store with something other than CIDs: {exc}"
            ) from exc
        out = []
        for index, data in enumerate(items):
            cid = answered.get(str(index))
            if cid is None:
                raise IntegrityError(
                    f"IPFS node did not report a CID for item {index} of {len(items)} it was "
                    "asked to store; the node is misconfigured or not trustworthy"
                )
            out.append(self._checked(cid, data))
        return out

    def _checked(self, cid: str, data: bytes) -> AddedContent:
        """The added content, if ``cid`` is what ``data`` must hash to."""
        expected = dag_digest(data)
        try:
            digest = digest_from_cid(cid)
        except ValueError as exc:
            raise IntegrityError(f"IPFS node answered add with an unexpected CID {cid}") from exc
        if digest != expected:
            raise IntegrityError(
                f"IPFS node stored the content under {cid}, but it should be "
                f"{cid_from_digest(expected)}: the node is misconfigured or not trustworthy"
            )
        return AddedContent(cid=cid, digest=digest, size=len(data))

    def cat(self, digest: bytes, timeout: float | None = None) -> bytes:
        """Fetch the content whose on-chain digest is ``digest`` and verify it."""
        cid = cid_from_digest(digest)
        wait = timeout if timeout is not None else self.fetch_timeout
        params = {"arg": cid, "timeout": f"{wait:g}s"}
        data = self._post("cat", params=params).content
        if not data or dag_digest(data) != digest:
            raise IntegrityError(
                f"the IPFS node returned {len(data)} bytes for {cid} that do not hash to it; "
                "the node or the network path is not trustworthy (nothing was decrypted)"
            )
        return data

    def pin(self, digest: bytes, timeout: float | None = None) -> None:
        """Pin content so the node keeps it (fetching it from peers if it has not got it;
        ``timeout``: give up after so many seconds)."""
        params = {"arg": cid_from_digest(digest)}
        if timeout is not None:
            params["timeout"] = f"{timeout:g}s"
        self._post("pin/add", params=params)

    def pin_together(self, digests: Sequence[bytes], timeout: float = 60.0) -> bytes:
        """Keep several stored contents with one pin: a single content is pinned itself;
        more are linked from a :func:`~carechain.unixfs.batch_node` stored and pinned in
        one request (its CID checked like any other). Returns the pinned node's digest.
        Every content must be on the node already (``timeout``: give up after so many
        seconds rather than look for it elsewhere)."""
        if len(digests) == 1:
            self.pin(digests[0], timeout=timeout)
            return digests[0]
        node = batch_node(list(digests))
        params = {"cid-codec": "dag-pb", "mhtype": "sha2-256", "pin": "true",
                  "timeout": f"{timeout:g}s"}  # fmt: skip
        response = self._post("block/put", params=params, files={"file": ("batch", node)})
        digest = hashlib.sha256(node).digest()
        if str(response.json().get("Key")) != cid_from_digest(digest):
            raise IntegrityError(
                "the IPFS node stored a batch node under a CID that is not its hash; the node "
                "is misconfigured or not trustworthy"
            )
        return digest

    def unpin(self, digest: bytes) -> None:
        """Unpin content (crypto-shredding destroys the keys; this frees the bytes)."""
        self._post("pin/rm", params={"arg": cid_from_digest(digest)})

    def pins(self) -> set[str]:
        """CIDs pinned recursively on the node."""
        keys = self._post("pin/ls", params={"type": "recursive"}).json().get("Keys", {})
        return set(keys)

    def swarm_addresses(self) -> list[str]:
        """This node's swarm addresses, each ending in /p2p/<peer id> (to connect to it)."""
        info = self._post("id").json()
        return [a for a in info.get("Addresses") or [] if "/p2p/" in a]

    def connect(self, address: str) -> None:
        """Connect to another node by its swarm address (private networks have no routing:
        peers that should exchange content are connected by hand)."""
        self._post("swarm/connect", params={"arg": address})

    def peer_with(self, address: str) -> None:
        """Keep a connection to another node for good (Kubo's peering: reconnects when
        the connection drops); ``address`` ends in /p2p/<peer id>."""
        self._post("swarm/peering/add", params={"arg": address})

    def forget_peer(self, peer_id: str) -> None:
        """Stop keeping a connection to a node (see :meth:`peer_with`)."""
        self._post("swarm/peering/rm", params={"arg": peer_id})

    def is_pinned(self, digest: bytes) -> bool:
        """Whether the node keeps the content: pinned itself, or linked from a pinned batch
        node (:meth:`pin_together`). One lookup of that CID, not a listing of every pin."""
        cid = cid_from_digest(digest)
        try:
            response = self._post("pin/ls", params={"arg": cid, "type": "all"})
        except IPFSError as exc:
            if "is not pinned" in str(exc):
                return False
            raise
        return cid in (response.json().get("Keys") or {})


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("Message", response.text))
    except ValueError:
        return response.text.strip() or response.reason_phrase
