"""The patient's pages: records (decrypted here, verified against the chain), consents,
the audit trail, break-glass alerts and claims. Everything goes through :class:`Patient`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from ..errors import CarechainError
from ..fhir_consent import to_fhir_consent
from ..model import ClaimStatus, Purpose, RecordHead, RecordVersion
from ..onchain import current
from ..unixfs import cid_from_digest
from . import forms
from .app import portal, with_sdk
from .display import Summary, raw_json, summarize

pages = Blueprint("patient", __name__)


@dataclass(frozen=True)
class TimelineEntry:
    """One record on the timeline: readable, or why it could not be read."""

    head: RecordHead
    version: RecordVersion
    cid: str
    author_admitted: bool
    summary: Summary | None = None
    raw: str = ""
    problem: str = ""


def _timeline() -> list[TimelineEntry]:
    patient = portal().client
    entries = []
    for head, version in patient.list_records():
        admitted = patient.contracts.registry.has_role("provider", head.author)
        cid = cid_from_digest(version.cid_digest)
        try:
            opened = patient.read_record(head.record_id)
        except CarechainError as exc:  # shown on the record, in the SDK's words
            entries.append(TimelineEntry(head, version, cid, admitted, problem=str(exc)))
            continue
        entries.append(
            TimelineEntry(
                head,
                version,
                cid,
                admitted,
                summarize(opened.resource),
                raw_json(opened.resource),
            )
        )
    # unreadable ones first (they need a look), then newest first by the date they are about
    problems = [e for e in entries if e.summary is None]
    readable = [e for e in entries if e.summary is not None]
    readable.sort(key=lambda e: e.summary.sort_key if e.summary else "", reverse=True)
    return problems + readable


def _alerts() -> list[Any]:
    """Break-glass accesses still open, or not yet reviewed as justified."""
    return [a for a in portal().client.break_glass_accesses() if a.open]


def _reason(justification: bytes) -> str:
    for code, words in forms.BREAK_GLASS_REASONS.items():
        if keccak(text=code) == justification:
            return words
    return f"a reason this page does not know (code 0x{justification.hex()[:12]}…)"


@pages.context_processor
def alerts() -> dict[str, Any]:
    """Every patient page shows open break-glass accesses at the top."""
    if request.endpoint == "patient.alerts_page" or not getattr(g, "authenticated", False):
        return {}
    with portal().lock:
        return {"alerts": _alerts(), "reason": _reason}


@pages.route("/records")
@with_sdk
def records() -> Any:
    """The timeline."""
    return render_template("patient_records.html", entries=_timeline())


@pages.route("/consents")
@with_sdk
def consents() -> Any:
    """Consents given and denied, and the form to give or deny one."""
    patient = portal().client
    titles = []
    for entry in _timeline():
        if entry.summary is not None:
            titles.append((entry.head.record_id, f"{entry.summary.title} {entry.summary.when}"))
    return render_template(
        "patient_consents.html",
        consents=list(reversed(patient.consents())),
        guardians=patient.guardians(),
        scopes=forms.scopes(titles),
        purposes=forms.purposes(),
        periods=forms.PERIODS,
    )


@pages.route("/consents", methods=["POST"])
@with_sdk
def consent_decide() -> Any:
    """Grant or deny: every field is checked before anything is sent."""
    patient = portal().client
    grantee = forms.address(request.form.get("grantee", ""), "grantee")
    action = forms.choice("action", ("grant", "deny"))
    titles = [(head.record_id, "") for head, _ in patient.list_records()]
    scope = forms.scope_of(forms.choice("scope", forms.scopes(titles)))
    purpose = Purpose[forms.choice("purpose", forms.purposes()).upper()]
    days = int(forms.choice("period", forms.PERIODS))
    until = current().next_block_time() + days * 86400
    if action == "grant":
        grant_id, _ = patient.grant_access(grantee, scope, purpose, until)
    else:
        grant_id = patient.deny_access(grantee, scope, purpose, until)
    done = "granted" if action == "grant" else "denied"
    return redirect(url_for("patient.consents", done=f"{done} 0x{grant_id.hex()[:10]}…"), 303)


@pages.route("/consents/revoke", methods=["POST"])
@with_sdk
def consent_revoke() -> Any:
    """Withdraw a consent."""
    grant_id = forms.record_id(request.form.get("grant_id", ""))
    portal().client.revoke_access(grant_id)
    return redirect(url_for("patient.consents", done=f"revoked 0x{grant_id.hex()[:10]}…"), 303)


@pages.route("/consents/<grant_id>.json")
@with_sdk
def consent_export(grant_id: str) -> Any:
    """A consent as a FHIR R4 Consent resource (a download)."""
    wanted = forms.record_id(grant_id)
    for consent in portal().client.consents():
        if consent.grant_id == wanted:
            body = json.dumps(to_fhir_consent(consent), indent=2)
            return Response(
                body,
                mimetype="application/fhir+json",
                headers={"Content-Disposition": f"attachment; filename=consent-{grant_id}.json"},
            )
    raise CarechainError(f"no consent {grant_id} of {portal().client.address}")


@pages.route("/guardians", methods=["POST"])
@with_sdk
def guardian() -> Any:
    """Appoint or remove a guardian, who can grant and revoke for me."""
    patient = portal().client
    who = forms.address(request.form.get("guardian", ""), "guardian")
    if forms.choice("action", ("appoint", "remove")) == "appoint":
        patient.appoint_guardian(who)
        done = f"appointed guardian {who}"
    else:
        patient.remove_guardian(who)
        done = f"removed guardian {who}"
    return redirect(url_for("patient.consents", done=done), 303)


@pages.route("/audit")
@with_sdk
def audit() -> Any:
    """Who read what, when, why; each receipt's signature and Merkle proof checked."""
    trail = portal().client.audit_trail()
    reader = request.args.get("reader", "").strip().lower()
    purpose = request.args.get("purpose", "")
    check = request.args.get("check", "")
    shown = [
        e
        for e in reversed(trail)
        if (not reader or reader in (e.receipt.reader if e.receipt else e.reader).lower())
        and (not purpose or (e.receipt is not None and e.receipt.purpose.name.lower() == purpose))
        and (not check or (check == "verified") == e.verified)
    ]
    return render_template(
        "patient_audit.html",
        trail=shown,
        total=len(trail),
        purposes=forms.purposes(),
        filters={"reader": reader, "purpose": purpose, "check": check},
    )


@pages.route("/alerts")
@with_sdk
def alerts_page() -> Any:
    """Every break-glass access, open or ended."""
    return render_template(
        "patient_alerts.html",
        accesses=list(reversed(portal().client.break_glass_accesses())),
        reason=_reason,
    )


@pages.route("/alerts/close", methods=["POST"])
@with_sdk
def alert_close() -> Any:
    """End an emergency access now."""
    access_id = forms.record_id(request.form.get("access_id", ""))
    portal().client.close_break_glass(access_id)
    return redirect(url_for("patient.alerts_page", done="emergency access ended"), 303)


@pages.route("/claims")
@with_sdk
def claims() -> Any:
    """Claims made against my policies, their outcomes, and what I owe."""
    patient = portal().client
    views = list(reversed(patient.claims()))
    return render_template(
        "patient_claims.html",
        claims=views,
        owed=patient.amount_owed(),
        decimals=patient.contracts.claims.decimals,
        statuses=ClaimStatus,
    )
