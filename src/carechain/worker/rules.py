"""The insurer's adjudication rules (TOML): what to approve, deny, or leave for a human."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..fhir import Category

#: An amount as people write one: digits, optionally a point and more digits (no sign,
#: exponent, "nan" or "inf"; a thousands separator is refused rather than guessed at).
_AMOUNT = re.compile(r"\d+(\.\d+)?")
#: The largest amount the contracts hold (uint64 token units).
MAX_UNITS = 2**64 - 1


def to_units(text: str | int | float, decimals: int) -> int:
    """``"12.50"`` in token units (12500000 for a 6-decimal stablecoin)."""
    if isinstance(text, float) and math.isfinite(text):
        text = format(Decimal(repr(text)), "f")
    written = str(text).strip()
    if not _AMOUNT.fullmatch(written):
        raise ConfigurationError(f"not an amount: {text!r} (write it like 12.50)")
    value = Decimal(written) * 10**decimals
    if value != value.to_integral_value():
        raise ConfigurationError(
            f"{text} has more than {decimals} decimals: not in whole token units"
        )
    if value > MAX_UNITS:
        raise ConfigurationError(f"{text} is too large (at most {MAX_UNITS / 10**decimals:,.0f})")
    return int(value)


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Decision:
    """What the rules say about one claim."""

    action: str  # "approve" | "deny" | "manual"
    amount: int = 0  # for approve: what to approve (the chain computes the shares)
    reason: str = ""  # for deny: the reason code; for manual: why a human must look


@dataclass(frozen=True)
class Rules:
    """The insurer's adjudication rules and the worker's settings (a TOML file).

    ``approve_below`` is in tokens (``"500.00"``), converted with the token's decimals."""

    approve_below: str = "0"
    require_covered: bool = True
    deny_codes: frozenset[str] = frozenset()
    deny_reason: str = "excluded-service"
    batch_size: int = 50
    settle_interval: float = 10.0
    confirmations: int = 2
    replace_after: float = 30.0
    fee_bump: float = 1.125
    poll_interval: float = 2.0

    @classmethod
    def load(cls, path: Path) -> Rules:
        """Read a rules file; unknown keys and bad values are refused by name."""
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"no rules file at {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "rules") -> Rules:
        """Rules from the TOML layout: ``[approve] [deny] [settle] [chain]``."""
        known = {
            "approve": {"below": "approve_below", "require_covered": "require_covered"},
            "deny": {"codes": "deny_codes", "reason": "deny_reason"},
            "settle": {"batch_size": "batch_size", "interval": "settle_interval"},
            "chain": {
                "confirmations": "confirmations",
                "replace_after": "replace_after",
                "fee_bump": "fee_bump",
                "poll_interval": "poll_interval",
            },
        }
        values: dict[str, Any] = {}
        for section, body in data.items():
            if section not in known or not isinstance(body, dict):
                raise ConfigurationError(
                    f"{source}: unknown section [{section}]; expected one of {sorted(known)}"
                )
            for key, value in body.items():
                if key not in known[section]:
                    raise ConfigurationError(
                        f"{source}: unknown key {key!r} in [{section}]; "
                        f"expected one of {sorted(known[section])}"
                    )
                values[known[section][key]] = value
        if "deny_codes" in values:
            values["deny_codes"] = frozenset(str(c) for c in values["deny_codes"])
        if "approve_below" in values:
            values["approve_below"] = str(values["approve_below"])
        rules = cls(**values)
        if not 1 <= rules.batch_size <= 100:
            raise ConfigurationError(
                f"{source}: settle.batch_size must be 1..100 (the contract's cap)"
            )
        if rules.confirmations < 1:
            raise ConfigurationError(f"{source}: chain.confirmations must be at least 1")
        if rules.fee_bump < 1.125:
            raise ConfigurationError(
                f"{source}: chain.fee_bump must be at least 1.125 (nodes refuse smaller bumps)"
            )
        return rules

    def decide(
        self,
        amount: int,
        decimals: int,
        codes: list[str],
        categories: list[Category],
        covered_mask: int,
        retracted: bool,
    ) -> Decision:
        """Deny excluded codes; approve small claims whose evidence is covered; else manual."""
        excluded = sorted(set(codes) & self.deny_codes)
        if excluded:
            return Decision("deny", reason=self.deny_reason)
        limit = to_units(self.approve_below, decimals)
        if amount >= limit:
            return Decision(
                "manual", reason=f"amount at or above the automatic limit {self.approve_below}"
            )
        if retracted:
            return Decision("manual", reason="cites a record its author retracted")
        uncovered = [c.name.lower() for c in categories if not covered_mask >> int(c) & 1]
        if self.require_covered and uncovered:
            return Decision("manual", reason=f"evidence not covered: {', '.join(uncovered)}")
        return Decision("approve", amount=amount)
