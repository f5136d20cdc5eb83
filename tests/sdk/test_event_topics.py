"""Events' indexed arguments are read from their topic words by hand (a catch-up decodes every
log of the chain, and eth-abi's general decoder was most of the worker's catch-up time at a
million records): for every indexed argument of every event carechain ships, the hand
decoding gives what eth-abi gives."""

import random

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from carechain.onchain.abi import ABI_DIR, ContractABI, abi_type


def sample(kind: str, rng: random.Random):
    """A random value of an ABI type (static types; the high end included)."""
    if kind == "address":
        return to_checksum_address(rng.randbytes(20))
    if kind.startswith("uint"):
        bits = int(kind[4:] or 256)
        return rng.choice([0, 1, 2**bits - 1, rng.getrandbits(bits)])
    if kind.startswith("int"):
        bits = int(kind[3:] or 256)
        return rng.choice([-(2 ** (bits - 1)), -1, 0, 2 ** (bits - 1) - 1])
    if kind == "bool":
        return rng.choice([True, False])
    if kind.startswith("bytes") and kind != "bytes":
        return rng.randbytes(int(kind[5:]))
    raise AssertionError(kind)


def test_indexed_arguments_decode_as_eth_abi_decodes_them():
    rng = random.Random(21)
    checked = set()
    for path in sorted(ABI_DIR.glob("*.json")):
        contract = ContractABI(path.stem, "0x" + "11" * 20)
        for event in contract.events.values():
            indexed = [p for p in event.inputs if p.get("indexed")]
            data = [p for p in event.inputs if not p.get("indexed")]
            if not indexed or any(
                abi_type(p) in ("bytes", "string") or abi_type(p).endswith("]") for p in indexed
            ):
                continue  # a dynamic indexed value is logged as its hash (kept as the word)
            for _ in range(4):
                values = [sample(abi_type(p), rng) for p in indexed]
                words = [
                    abi_encode([abi_type(p)], [v]) for p, v in zip(indexed, values, strict=True)
                ]
                body = abi_encode(
                    [abi_type(p) for p in data],
                    [_zero(abi_type(p), p) for p in data],
                )
                raw = {
                    "address": contract.address.lower(),
                    "topics": [event.topic] + ["0x" + w.hex() for w in words],
                    "data": "0x" + body.hex(),
                    "blockNumber": "0x1",
                    "blockHash": "0x" + "22" * 32,
                    "logIndex": "0x0",
                    "transactionHash": "0x" + "33" * 32,
                }
                log = event.decode(raw)
                for param, word, value in zip(indexed, words, values, strict=True):
                    (expected,) = abi_decode([abi_type(param)], word)
                    if abi_type(param) == "address":
                        expected = to_checksum_address(expected)
                    assert log[param["name"]] == expected == value, (event.name, param)
                    checked.add(abi_type(param))
    # the kinds carechain's events index: ids, addresses, numbers (ids, kinds, epochs)
    assert {"address", "bytes32", "uint32"} <= checked


def _zero(kind: str, param: dict):
    """A plain value of a data argument (only the indexed ones are under test)."""
    if kind.endswith("]"):
        return []
    if kind.startswith("("):
        return tuple(_zero(abi_type(c), c) for c in param["components"])
    if kind == "address":
        return "0x" + "00" * 20
    if kind in ("bytes", "string"):
        return b"" if kind == "bytes" else ""
    if kind.startswith("bytes"):
        return bytes(int(kind[5:]))
    if kind == "bool":
        return False
    return 0
