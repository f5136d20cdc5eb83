"""Contracts as their ABIs describe them: calls encoded and decoded with eth-abi, events
decoded from raw logs, custom errors named from revert data.

The ABIs are the build's own (``tools/export_abis.py`` copies them here at ``make compile``),
so an installed carechain needs no compiler and no development framework.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

ABI_DIR = Path(__file__).with_name("abi")

#: Checksummed addresses, remembered: a listing decodes the same few (contracts, providers,
#: insurers) in every log, and checksumming costs a keccak per address.
_checksum = functools.lru_cache(maxsize=4096)(to_checksum_address)


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter (tuples spelled out: ``(address,uint8)[]``)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


class Struct:
    """A decoded tuple: its members by position, by unpacking, and by name
    (``claim.status``; a member may be called ``count``, so this is not a tuple)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._names = tuple(names)
        self._values = tuple(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[self._names.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __getitem__(self, index: Any) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Struct):
            return self._values == other._values
        return isinstance(other, tuple | list) and self._values == tuple(other)

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(self._names, self._values, strict=True))
        return f"({inner})"


def _shape(param: dict[str, Any], value: Any) -> Any:
    """A decoded value as the SDK reads it: tuples with named members, checksummed
    addresses, bytes as bytes."""
    kind = param["type"]
    if kind.endswith("]"):
        element = dict(param, type=kind[: kind.rindex("[")])
        return [_shape(element, v) for v in value]
    if kind == "tuple":
        components = param["components"]
        return Struct(
            [c["name"] for c in components],
            [_shape(c, v) for c, v in zip(components, value, strict=True)],
        )
    if kind == "address":
        return _checksum(value)
    return value


def _topic_decoder(param: dict[str, Any]) -> Any:
    """How to read an indexed argument's topic word, by hand (a catch-up decodes every log:
    eth-abi's general decoder cost several times the rest): the word itself for a dynamic
    value (only its hash is logged) and ``bytesN``, the number for integers, the address for
    an address, checksummed."""
    kind = abi_type(param)
    if kind in ("bytes", "string") or kind.endswith("]") or "(" in kind:
        return lambda word: word
    if kind == "address":
        return lambda word: _checksum("0x" + word[12:].hex())
    if kind.startswith("uint"):
        return lambda word: int.from_bytes(word, "big")
    if kind.startswith("int"):
        return lambda word: int.from_bytes(word, "big", signed=True)
    if kind == "bool":
        return lambda word: word != bytes(32)
    if kind.startswith("bytes"):
        size = int(kind[5:])
        return lambda word: word[:size]
    raise ValueError(f"an indexed {kind} is not an ABI type the SDK decodes")


def _arg(param: dict[str, Any], value: Any) -> Any:
    """An argument as eth-abi encodes it: anything with an ``address`` (an account) as its
    address, hex strings as bytes, enums as ints, tuples member by member."""
    kind = param["type"]
    if kind.endswith("]"):
        element = dict(param, type=kind[: kind.rindex("[")])
        return [_arg(element, v) for v in value]
    if kind == "tuple":
        components = param["components"]
        if isinstance(value, dict):
            value = [value[c["name"]] for c in components]
        return tuple(_arg(c, v) for c, v in zip(components, value, strict=True))
    if kind == "address":
        return to_checksum_address(str(getattr(value, "address", value)))
    if kind.startswith("bytes") and isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    if kind.startswith(("uint", "int")):
        return int(value)
    if kind == "bool":
        return bool(value)
    return value


class Function:
    """One function of a contract's ABI."""

    def __init__(self, abi: dict[str, Any]) -> None:
        self.abi = abi
        self.name: str = abi["name"]
        self.inputs: list[dict[str, Any]] = abi["inputs"]
        self.outputs: list[dict[str, Any]] = abi.get("outputs", [])
        self.types = [abi_type(p) for p in self.inputs]
        self.signature = f"{self.name}({','.join(self.types)})"
        self.selector = keccak(text=self.signature)[:4]
        self.view = abi.get("stateMutability") in ("view", "pure")

    def encode(self, *args: Any) -> bytes:
        """The call data for ``name(*args)``."""
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs)} arguments, got {len(args)}")
        values = [_arg(p, v) for p, v in zip(self.inputs, args, strict=True)]
        return self.selector + abi_encode(self.types, values)

    def decode(self, data: bytes) -> Any:
        """What the function returned: one value, or a tuple (named members) of several."""
        types = [abi_type(p) for p in self.outputs]
        values = [_shape(p, v) for p, v in zip(self.outputs, abi_decode(types, data), strict=True)]
        if len(values) == 1:
            return values[0]
        return Struct([p["name"] for p in self.outputs], values)


class Log:
    """A decoded event: its arguments by name (``log.patient`` or ``log["from"]``), and where
    it was emitted (``block_number``, ``log_index``, ``transaction_hash``, ``address``)."""

    __slots__ = ("address", "args", "block_hash", "block_number", "event_name", "log_index",
                 "transaction_hash")  # fmt: skip

    def __init__(self, event_name: str, args: dict[str, Any], raw: dict[str, Any]) -> None:
        self.event_name = event_name
        self.args = args
        self.address = _checksum(raw["address"])
        self.block_number = int(raw["blockNumber"], 16)
        self.block_hash = str(raw["blockHash"])
        self.log_index = int(raw["logIndex"], 16)
        self.transaction_hash = str(raw["transactionHash"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self.args[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def __repr__(self) -> str:
        return f"<{self.event_name} {self.args} block {self.block_number}>"


class Event:
    """One event of a contract's ABI, bound to the contract's address."""

    def __init__(self, abi: dict[str, Any], address: str) -> None:
        self.abi = abi
        self.name: str = abi["name"]
        self.address = address
        self.inputs: list[dict[str, Any]] = abi["inputs"]
        signature = f"{self.name}({','.join(abi_type(p) for p in self.inputs)})"
        self.topic = "0x" + keccak(text=signature).hex()
        self._data = [p for p in self.inputs if not p.get("indexed")]
        self._data_types = [abi_type(p) for p in self._data]
        self._topics = {p["name"]: _topic_decoder(p) for p in self.inputs if p.get("indexed")}

    def topics(self, search: dict[str, Any] | None = None) -> list[Any]:
        """The ``eth_getLogs`` topic filter: this event, and the indexed arguments in
        ``search`` (by name) equal to the values given."""
        search = dict(search or {})
        topics: list[Any] = [self.topic]
        for param in (p for p in self.inputs if p.get("indexed")):
            if param["name"] in search:
                value = _arg(param, search.pop(param["name"]))
                topics.append("0x" + abi_encode([abi_type(param)], [value]).hex())
            else:
                topics.append(None)
        if search:
            raise ValueError(f"{self.name} has no indexed argument {sorted(search)}")
        while topics[-1] is None:
            topics.pop()
        return topics

    def decode(self, raw: dict[str, Any]) -> Log:
        """A raw log (as ``eth_getLogs`` or a receipt gives it) of this event, decoded."""
        data = bytes.fromhex(str(raw["data"]).removeprefix("0x"))
        values = iter(abi_decode(self._data_types, data)) if self._data_types else iter(())
        topics = iter(raw["topics"][1:])
        args: dict[str, Any] = {}
        for param in self.inputs:
            name = param["name"]
            if param.get("indexed"):
                word = bytes.fromhex(str(next(topics)).removeprefix("0x"))
                args[name] = self._topics[name](word)
            else:
                args[name] = _shape(param, next(values))
        return Log(self.name, args, raw)

    def matches(self, raw: dict[str, Any]) -> bool:
        """Whether a raw log is this event, emitted by this contract."""
        return (
            bool(raw["topics"])
            and str(raw["topics"][0]).lower() == self.topic
            and str(raw["address"]).lower() == self.address.lower()
        )


class ContractError:
    """A custom error of a contract's ABI."""

    def __init__(self, abi: dict[str, Any]) -> None:
        self.name: str = abi["name"]
        self.inputs: list[dict[str, Any]] = abi["inputs"]
        self.types = [abi_type(p) for p in self.inputs]
        self.selector = keccak(text=f"{self.name}({','.join(self.types)})")[:4]

    def decode(self, data: bytes) -> dict[str, Any]:
        """The error's arguments by name."""
        values = abi_decode(self.types, data)
        return {p["name"]: _shape(p, v) for p, v in zip(self.inputs, values, strict=True)}


@functools.cache
def load_abi(name: str) -> tuple[dict[str, Any], ...]:
    """The shipped ABI of contract ``name``."""
    path = ABI_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no ABI for {name} in {ABI_DIR} (run make compile)")
    return tuple(json.loads(path.read_text()))


@functools.cache
def errors_by_selector() -> dict[bytes, ContractError]:
    """Every custom error of every shipped contract, by its 4-byte selector."""
    out: dict[bytes, ContractError] = {}
    for path in sorted(ABI_DIR.glob("*.json")):
        for entry in load_abi(path.stem):
            if entry["type"] == "error":
                error = ContractError(entry)
                out[error.selector] = error
    return out


def decode_revert(data: bytes) -> tuple[str, dict[str, Any]]:
    """(error name, arguments) of revert data: a custom error of ours, ``Error(string)``,
    ``Panic(uint256)``, or ``("", {})`` when nothing is recognised."""
    if len(data) < 4:
        return "", {}
    selector, body = data[:4], data[4:]
    try:
        if selector == keccak(text="Error(string)")[:4]:
            return "Error", {"message": abi_decode(["string"], body)[0]}
        if selector == keccak(text="Panic(uint256)")[:4]:
            return "Panic", {"code": abi_decode(["uint256"], body)[0]}
        error = errors_by_selector().get(selector)
        if error is not None:
            return error.name, error.decode(body)
    except Exception:  # malformed revert data: report it unnamed
        pass
    return "", {}


class ContractABI:
    """A contract's functions and events by name, bound to an address."""

    def __init__(self, name: str, address: str) -> None:
        self.contract_name = name
        self.address = to_checksum_address(address)
        abi = load_abi(name)
        self.functions = {e["name"]: Function(e) for e in abi if e["type"] == "function"}
        self.events = {e["name"]: Event(e, self.address) for e in abi if e["type"] == "event"}

    def function(self, name: str) -> Function:
        """The function ``name`` (carechain's contracts overload none)."""
        try:
            return self.functions[name]
        except KeyError:
            raise AttributeError(f"{self.contract_name} has no function {name}") from None

    def event(self, name: str) -> Event:
        """The event ``name``."""
        try:
            return self.events[name]
        except KeyError:
            raise AttributeError(f"{self.contract_name} has no event {name}") from None
