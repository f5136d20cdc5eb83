"""An Ethereum node over JSON-RPC: calls, batches, logs, and transactions signed locally.

One :class:`Node` per endpoint URL, on keep-alive HTTP connections (urllib3's pool: one
connection per thread that is waiting on the node; about a third of the CPU per request of
the httpx client this used before, which counted when a worker reads eight claims'
evidence at once). A transaction costs two
round trips before it is mined: one batch (gas estimate, nonce, base fee, tip) and the send;
a call the chain would refuse is refused at the estimate, so nothing is sent, no nonce is
used and no gas is burnt.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import urllib3

from ..errors import ChainError, ChainUnavailableError
from ..model import DEFAULT_RPC_URL
from .abi import Event, Log, decode_revert
from .signer import Signer, as_signer

#: The first pause while waiting for a receipt; it doubles up to RECEIPT_POLL.
RECEIPT_FIRST_POLL = 0.002
RECEIPT_POLL = 0.1
#: Headroom on a gas estimate (state can move between the estimate and the block).
GAS_MARGIN = 1.25
#: How many blocks the first eth_getLogs of a node asks for (few: a block of a busy chain can
#: hold a thousand logs, and a first page must not be millions), and the most any asks for.
#: After LOG_QUIET_PAGES pages in a row with fewer logs than LOG_PAGE_QUIET, the next page is
#: twice as long; a page with more than LOG_PAGE_FULL logs makes the next one short enough for
#: about LOG_PAGE_TARGET, so a dense stretch of chain is read in pages of bounded size.
LOG_SPAN_FIRST = 16
LOG_SPAN_MAX = 1_000_000
LOG_PAGE_QUIET = 1_000
LOG_QUIET_PAGES = 2
LOG_PAGE_TARGET = 5_000
LOG_PAGE_FULL = 2 * LOG_PAGE_TARGET
#: How endpoints word "this eth_getLogs asks for too much" (hosted providers cap the block
#: range at a few thousand and the results at about ten thousand).
_SIZE_REFUSAL = re.compile(
    r"range|too (many|large|big)|more than|exceed|limit|response size|timeout|timed out",
    re.IGNORECASE,
)


def _is_size_refusal(error: RpcError) -> bool:
    return bool(_SIZE_REFUSAL.search(error.rpc_message))


class RpcError(ChainError):
    """The node answered a request with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = int(error.get("code", 0))
        self.rpc_message = str(error.get("message", ""))
        data = error.get("data")
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        self.data = (
            bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else None
        )
        super().__init__(f"{method}: {self.rpc_message} (code {self.code})")

    @property
    def is_revert(self) -> bool:
        """Whether the node says the EVM reverted (as opposed to a bad request)."""
        return self.data is not None or "revert" in self.rpc_message.lower()


class Reverted(ChainError):
    """The contract refused: ``error_name`` and ``inputs`` are its custom error, decoded."""

    def __init__(self, error_name: str, inputs: dict[str, Any], detail: str = "") -> None:
        self.error_name = error_name
        self.inputs = inputs
        args = ", ".join(f"{k}={v!r}" for k, v in inputs.items())
        super().__init__(f"{error_name or 'reverted'}({args}){detail}")


def _reverted(error: RpcError) -> Reverted:
    name, inputs = decode_revert(error.data or b"")
    if not name:
        return Reverted("", {}, f": {error.rpc_message}")
    return Reverted(name, inputs)


@dataclass(frozen=True)
class Receipt:
    """A mined transaction: its hash, block, gas and raw logs."""

    txn_hash: str
    block_number: int
    gas_used: int
    status: int
    logs: list[dict[str, Any]] = field(repr=False)

    def decode_logs(self, event: Event) -> list[Log]:
        """This transaction's logs of ``event``, decoded."""
        return [event.decode(raw) for raw in self.logs if event.matches(raw)]


class Node:
    """One JSON-RPC endpoint."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        # user:password@ in the URL (a node behind basic auth) is sent as an Authorization
        # header and never shown: messages and repr name the node without it.
        if "://" not in url:  # 127.0.0.1:8545, as people type it
            url = f"http://{url}"
        parts = urllib3.util.parse_url(url)
        headers = {"Content-Type": "application/json"}
        if parts.auth:
            headers.update(urllib3.util.make_headers(basic_auth=parts.auth))
            url = parts._replace(auth=None).url
        self.url = url
        self._http = urllib3.PoolManager(
            maxsize=16,  # connections kept; more threads than this open and close their own
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,  # a request is sent once: errors are reported, not repeated
            headers=headers,
        )
        self._ids = itertools.count(1)
        self._chain_id: int | None = None
        #: How many blocks one eth_getLogs asks for (halved when the endpoint refuses).
        self._log_span = LOG_SPAN_FIRST

    def __repr__(self) -> str:
        return f"Node({self.url!r})"

    # ------------------------------------------------------------------ transport
    def _post(self, body: Any) -> Any:
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            reply = self._http.request("POST", self.url, body=data)
        except urllib3.exceptions.HTTPError as exc:  # refused, timed out, cut off
            raise ChainUnavailableError(
                f"no Ethereum node answers at {self.url} ({type(exc).__name__}); start one "
                "(make chain) or point --rpc / CARECHAIN_RPC_URL at a running node"
            ) from exc
        content = reply.data
        if reply.status >= 400 and not content.strip().startswith((b"{", b"[")):
            text = content[:200].decode(errors="replace")
            raise ChainUnavailableError(
                f"the node at {self.url} answered HTTP {reply.status}: {text}"
            )
        return json.loads(content)

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC call; raises :class:`RpcError` if the node answers with an error."""
        reply = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply.get("result")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one request; each answer is its result or its :class:`RpcError`
        (in the calls' order). Falls back to one request per call if the node refuses
        batches."""
        if not calls:
            return []
        first = next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)}
            for i, (m, p) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        reply = self._post(body)
        if not isinstance(reply, list) or len(reply) != len(calls):
            return [self._one(m, p) for m, p in calls]
        by_id = {item.get("id"): item for item in reply}
        out = []
        for i, (method, _) in enumerate(calls):
            item = by_id.get(first + i, {})
            out.append(RpcError(method, item["error"]) if "error" in item else item.get("result"))
        return out

    def _one(self, method: str, params: Sequence[Any]) -> Any:
        try:
            return self.request(method, params)
        except RpcError as exc:
            return exc

    # ------------------------------------------------------------------ chain state
    @property
    def chain_id(self) -> int:
        """The chain's id (asked once)."""
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId"), 16)
        return self._chain_id

    def block(self, tag: int | str = "latest") -> dict[str, Any]:
        """A block header (``latest`` by default)."""
        ref = hex(tag) if isinstance(tag, int) else tag
        block = self.request("eth_getBlockByNumber", [ref, False])
        if block is None:
            raise ChainError(f"the node has no block {tag}")
        return block

    def block_hashes(self, numbers: Sequence[int]) -> list[str]:
        """The hashes of several blocks, asked in one batch request."""
        replies = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out = []
        for number, reply in zip(numbers, replies, strict=True):
            if isinstance(reply, RpcError):
                raise reply
            if reply is None:
                raise ChainError(f"the node has no block {number}")
            out.append(str(reply["hash"]))
        return out

    def block_number(self) -> int:
        """The head's number."""
        return int(self.request("eth_blockNumber"), 16)

    def head_timestamp(self) -> int:
        """The time the latest block carries."""
        return int(self.block()["timestamp"], 16)

    def next_block_time(self) -> int:
        """The time the next block will carry, at the earliest: the later of the wall clock
        and the last block's time (an idle anvil's last block can be minutes old, so a
        period counted from it could end before the transaction that starts it is mined)."""
        return max(int(time.time()), self.head_timestamp())

    def code(self, address: str) -> bytes:
        """The code deployed at ``address`` (empty if none)."""
        return bytes.fromhex(self.request("eth_getCode", [address, "latest"])[2:])

    def nonce(self, address: str, tag: str = "pending") -> int:
        """How many transactions ``address`` has sent (``pending`` counts the pool's)."""
        return int(self.request("eth_getTransactionCount", [address, tag]), 16)

    # ------------------------------------------------------------------ calls and logs
    def call(self, to: str, data: bytes) -> bytes:
        """``eth_call`` at the head; a revert raises :class:`Reverted` with its error."""
        try:
            result = self.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        except RpcError as exc:
            raise _reverted(exc) if exc.is_revert else exc from None
        return bytes.fromhex(result[2:])

    def calls(self, to: str, datas: Sequence[bytes], chunk: int = 500) -> list[bytes]:
        """Many ``eth_call`` s to one contract, ``chunk`` per batch request."""
        out: list[bytes] = []
        for start in range(0, len(datas), chunk):
            replies = self.batch(
                [
                    ("eth_call", [{"to": to, "data": "0x" + d.hex()}, "latest"])
                    for d in datas[start : start + chunk]
                ]
            )
            for reply in replies:
                if isinstance(reply, RpcError):
                    raise _reverted(reply) if reply.is_revert else reply
                out.append(bytes.fromhex(reply[2:]))
        return out

    def logs(
        self,
        address: str | list[str],
        topics: list[Any],
        start: int = 0,
        stop: int | str = "latest",
    ) -> list[dict[str, Any]]:
        """Raw logs of ``address`` (or of any of several) matching ``topics`` in blocks
        ``start`` to ``stop``, read in the pages :meth:`log_pages` reads."""
        return [raw for _, page in self.log_pages(address, topics, start, stop) for raw in page]

    def log_pages(
        self,
        address: str | list[str],
        topics: list[Any],
        start: int = 0,
        stop: int | str = "latest",
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """The same logs, one page at a time: ``(last block of the page, its raw logs)``, so
        that a reader of a long chain holds one page, never every log. Pages are what an
        endpoint accepts: a page refused for its size ("block range too large", "more than
        10000 results") is halved; a page with more than LOG_PAGE_FULL logs makes the next
        one shorter, to about LOG_PAGE_TARGET logs; after LOG_QUIET_PAGES quiet pages in a
        row the next one is twice as long (up to LOG_SPAN_MAX blocks). The span that worked
        is remembered for this node."""
        end = self.block_number() if stop == "latest" else int(stop)
        low, quiet = start, 0
        while low <= end:
            high = min(end, low + self._log_span - 1)
            query = {"address": address, "topics": topics,
                     "fromBlock": hex(low), "toBlock": hex(high)}  # fmt: skip
            try:
                page = self.request("eth_getLogs", [query])
            except RpcError as exc:
                if high == low or not _is_size_refusal(exc):
                    raise
                self._log_span = max(1, (high - low + 1) // 2)
                continue
            yield high, page
            span, low = high - low + 1, high + 1
            if len(page) > LOG_PAGE_FULL:  # dense: aim the next page at LOG_PAGE_TARGET logs
                self._log_span = max(1, span * LOG_PAGE_TARGET // len(page))
                quiet = 0
                continue
            quiet = quiet + 1 if len(page) < LOG_PAGE_QUIET else 0
            if quiet >= LOG_QUIET_PAGES:  # several quiet pages in a row: try a longer one
                self._log_span = min(self._log_span * 2, LOG_SPAN_MAX)
                quiet = 0

    # ------------------------------------------------------------------ transactions
    def transact(self, sender: Any, to: str, data: bytes, gas: int | None = None) -> Receipt:
        """Sign (locally, with ``sender``'s key) and send a call to ``to``; wait for it to be
        mined. A call the chain would refuse raises :class:`Reverted` before anything is
        sent; a mined revert raises :class:`ChainError`."""
        signed = self.sign(as_signer(sender), to, data, gas)
        return self.wait_for_receipt(self.send_raw(signed.raw_transaction))

    def prepare(self, signer: Signer, to: str, data: bytes, gas: int | None = None) -> dict:
        """The unsigned transaction: estimated gas (plus GAS_MARGIN), the pending nonce and
        fees from the head (EIP-1559 where the chain has a base fee), in one round trip."""
        [tx] = self.prepare_many(signer, [(to, data)], gas)
        if isinstance(tx, Exception):
            raise tx
        return tx

    def prepare_many(
        self, signer: Signer, calls: Sequence[tuple[str, bytes]], gas: int | None = None
    ) -> list[dict | Reverted | RpcError]:
        """:meth:`prepare` for several calls, in one round trip: each is estimated on its
        own against the head (so each must stand on its own, not rely on an earlier one of
        the list) and gets the pending nonce; number them before signing. A call the chain
        would refuse is its :class:`Reverted` (or :class:`RpcError`) in its place."""
        estimates = [
            ("eth_estimateGas", [{"from": signer.address, "to": to, "data": "0x" + data.hex()}])
            for to, data in calls
        ]
        *estimated, nonce, head, tip = self.batch(
            [
                *estimates,
                ("eth_getTransactionCount", [signer.address, "pending"]),
                ("eth_getBlockByNumber", ["latest", False]),
                ("eth_maxPriorityFeePerGas", []),
            ]
        )
        for reply in (nonce, head):
            if isinstance(reply, RpcError):
                raise reply
        fees: dict[str, Any]
        base_fee = head.get("baseFeePerGas")
        if base_fee is None:  # a chain without EIP-1559
            fees = {"gasPrice": int(self.request("eth_gasPrice"), 16)}
        else:
            priority = int(tip, 16) if not isinstance(tip, RpcError) else 10**9
            fees = {
                "type": 2,
                "maxPriorityFeePerGas": priority,
                "maxFeePerGas": 2 * int(base_fee, 16) + priority,
            }
        out: list[dict | Reverted | RpcError] = []
        for (to, data), estimate in zip(calls, estimated, strict=True):
            if isinstance(estimate, RpcError):
                out.append(_reverted(estimate) if estimate.is_revert else estimate)
                continue
            out.append(
                {
                    "chainId": self.chain_id,
                    "nonce": int(nonce, 16),
                    "to": to,
                    "data": "0x" + data.hex(),
                    "value": 0,
                    "gas": gas or math.ceil(int(estimate, 16) * GAS_MARGIN),
                    **fees,
                }
            )
        return out

    def sign(self, signer: Signer, to: str, data: bytes, gas: int | None = None) -> Any:
        """The signed transaction (``raw_transaction``, ``hash``), not sent."""
        return signer.sign_transaction(self.prepare(signer, to, data, gas))

    def send_raw(self, raw: bytes) -> str:
        """Broadcast a signed transaction; returns its hash."""
        return str(self.request("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt of a mined transaction, or None."""
        return self.request("eth_getTransactionReceipt", [tx_hash])

    def receipts(self, tx_hashes: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The receipts of several transactions (None for one not mined), by hash, asked in
        one batch request."""
        replies = self.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
        for reply in replies:
            if isinstance(reply, RpcError):
                raise reply
        return dict(zip(tx_hashes, replies, strict=True))

    def send_raw_many(self, raws: Sequence[bytes]) -> list[str | RpcError]:
        """Broadcast several signed transactions in one batch request; each answer is its
        hash or its :class:`RpcError` (an "already known", say), in order."""
        replies = self.batch([("eth_sendRawTransaction", ["0x" + bytes(r).hex()]) for r in raws])
        return [r if isinstance(r, RpcError) else str(r) for r in replies]

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """A transaction the node knows (mined or in its pool), or None."""
        return self.request("eth_getTransactionByHash", [tx_hash])

    def wait_for_receipt(self, tx_hash: str, timeout: float = 120.0) -> Receipt:
        """Wait for a transaction to be mined, with pauses from RECEIPT_FIRST_POLL doubling to
        RECEIPT_POLL (a local node mines a moment after it answers the send)."""
        deadline = time.monotonic() + timeout
        pause = RECEIPT_FIRST_POLL
        while True:
            raw = self.receipt(tx_hash)
            if raw is not None and raw.get("blockNumber"):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChainError(
                    f"transaction {tx_hash} is not in the chain after {timeout:.0f} s; "
                    "it may still be mined (look it up by its hash before sending again)"
                )
            time.sleep(min(pause, RECEIPT_POLL, left))
            pause *= 2
        receipt = Receipt(
            txn_hash=str(raw["transactionHash"]),
            block_number=int(raw["blockNumber"], 16),
            gas_used=int(raw["gasUsed"], 16),
            status=int(raw.get("status", "0x1"), 16),
            logs=list(raw.get("logs", [])),
        )
        if not receipt.status:
            raise ChainError(
                f"transaction {receipt.txn_hash} reverted in block {receipt.block_number}"
            )
        return receipt


# --------------------------------------------------------------------------- which node

_nodes: dict[str, Node] = {}
_connected: str | None = None
_nodes_lock = threading.Lock()


def node_at(url: str) -> Node:
    """The (shared) client of the node at ``url``."""
    with _nodes_lock:
        if url not in _nodes:
            _nodes[url] = Node(url)
        return _nodes[url]


def connect(url: str | None) -> Node | None:
    """Use the node at ``url`` from now on, in this process (None: go back to the
    default, see :func:`current_url`)."""
    global _connected
    _connected = url
    return node_at(url) if url else None


@contextmanager
def using(url: str) -> Iterator[Node]:
    """Use the node at ``url`` inside the block, then whichever was used before."""
    before = _connected
    try:
        yield connect(url)  # type: ignore[misc]
    finally:
        connect(before)


def _ape_provider_url() -> str | None:
    """The node Ape is connected to, when this runs inside Ape (its test runner, ``ape run``):
    the SDK then talks to the same node as the test's accounts and isolation."""
    if "ape" not in sys.modules:
        return None
    from ape import networks

    provider = networks.active_provider
    if provider is None or not provider.is_connected:
        return None
    uri = getattr(provider, "uri", None)
    return str(uri) if uri and str(uri).startswith("http") else None


def current_url() -> str:
    """The node this process talks to: the one :func:`connect` named; else the one Ape is
    connected to; else ``CARECHAIN_RPC_URL``; else DEFAULT_RPC_URL."""
    return (
        _connected or _ape_provider_url() or os.environ.get("CARECHAIN_RPC_URL") or DEFAULT_RPC_URL
    )


def current() -> Node:
    """The client of :func:`current_url`'s node."""
    return node_at(current_url())
