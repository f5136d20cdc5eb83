"""The choices the portal's forms offer, and reading a submitted form back into SDK values.
A value that is not one of the choices offered is refused before anything is sent."""

from __future__ import annotations

from typing import Any

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from flask import request

from ..fhir import Category
from ..model import Purpose, Scope
from .app import Refused
from .display import category

#: Consent periods offered, in days.
PERIODS = {"1": "1 day", "7": "1 week", "30": "30 days", "90": "90 days", "365": "1 year"}

#: Why an insurer denies a claim: reason codes (their hash goes on-chain).
DENIAL_REASONS = {
    "not-covered": "not covered by the policy",
    "excluded-service": "excluded service",
    "not-medically-necessary": "not medically necessary",
    "missing-evidence": "evidence missing or insufficient",
    "duplicate": "duplicate of another claim",
}

#: Break-glass reason codes a patient's alert can name (the chain keeps only their hash).
BREAK_GLASS_REASONS = {
    "unconscious-in-ED": "you were unconscious in an emergency department",
    "cardiac-arrest": "cardiac arrest",
    "major-trauma": "major trauma",
    "unresponsive": "you could not respond",
    "emergency-surgery": "emergency surgery",
}


def purposes() -> dict[str, str]:
    """Purposes of use, as the forms offer them."""
    return {p.name.lower(): p.name.lower() for p in Purpose}


def scopes(records: list[tuple[bytes, str]]) -> dict[str, str]:
    """Scopes offered: all records, each category, each of ``records`` (id, title)."""
    choices = {"all": "all my records"}
    for kind in Category:
        choices[f"category:{kind.name.lower()}"] = f"every {category(kind)} record"
    for record_id, title in records:
        choices[f"record:0x{record_id.hex()}"] = f"only: {title}"
    return choices


def scope_of(value: str) -> Scope:
    """The Scope a form's choice names."""
    kind, _, rest = value.partition(":")
    if kind == "all" and not rest:
        return Scope.all()
    if kind == "category" and rest.upper() in Category.__members__:
        return Scope.category(Category[rest.upper()])
    if kind == "record":
        return Scope.record(record_id(rest))
    raise Refused(f"{value!r} is not a scope offered; nothing was sent")


def record_id(value: str) -> bytes:
    """A 32-byte id from its 0x-hex form."""
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise Refused(f"{value!r} is not an id (0x and 64 hex digits); nothing was sent")
    return raw


def address(value: str, what: str = "address") -> str:
    """A checksummed address; a mistyped mixed-case one is refused, as the CLI does."""
    text = value.strip()
    if not is_hex_address(text):
        raise Refused(f"{what}: {text!r} is not an address (0x followed by 40 hex digits)")
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(text):
        raise Refused(
            f"{what}: {text} fails its EIP-55 checksum: a character was mistyped; copy the "
            "address again (or write it all in lower case)"
        )
    return to_checksum_address(text)


def choice(name: str, offered: dict[str, Any] | tuple[str, ...]) -> str:
    """The form field ``name``, which must be one of ``offered``."""
    value = request.form.get(name, "")
    if value not in offered:
        raise Refused(f"{name}: {value!r} is not one of the choices offered; nothing was sent")
    return value
