"""The pharmacy's and the regulator's pages: verify a scanned GS1 code (is the unit genuine,
who holds it, where has it been, is it recalled, expired or dispensed) and, for a regulator
(or the batch's manufacturer), recall its batch. Everything goes through
:class:`SupplyChainParty`: the contract decides who may recall."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from ..errors import CarechainError
from ..trace import parse_gs1
from . import forms
from .app import Refused, portal, with_sdk

pages = Blueprint("supply", __name__)

#: Why a batch is recalled: reason codes (their hash goes on-chain).
RECALL_REASONS = {
    "contamination": "contamination",
    "potency-out-of-spec": "potency out of specification",
    "mislabeling": "mislabelled",
    "packaging-defect": "packaging defect",
    "counterfeits-found": "counterfeits found in the chain",
}


@pages.route("/verify")
@with_sdk
def verify() -> Any:
    """Paste the scanned code (a DataMatrix string or the human-readable form)."""
    scanned = request.args.get("code", "").strip()
    if not scanned:
        return render_template("supply_verify.html", reasons=RECALL_REASONS)
    try:
        result = portal().client.verify(scanned)
    except CarechainError as exc:  # a code that does not parse, in the SDK's words
        return render_template(
            "supply_verify.html", scanned=scanned, refusal=str(exc), reasons=RECALL_REASONS
        ), 400
    return render_template(
        "supply_verify.html", scanned=scanned, result=result, reasons=RECALL_REASONS
    )


@pages.route("/recall", methods=["POST"])
@with_sdk
def recall() -> Any:
    """Recall the batch of the scanned code; lists every party to contact."""
    party = portal().client
    scanned = request.form.get("code", "").strip()
    reason = forms.choice("reason", RECALL_REASONS)
    try:
        code = parse_gs1(scanned)
    except CarechainError as exc:
        raise Refused(f"{exc}; nothing was sent") from None
    holders = party.recall(party.trace.batch_id(code.gtin_number, code.lot_bytes), reason)
    return render_template(
        "supply_verify.html",
        scanned=scanned,
        result=party.verify(code),
        recalled_holders=holders,
        reasons=RECALL_REASONS,
    )
