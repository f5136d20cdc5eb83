"""The clinician's pages: the patients who consented (or once did), their records, and a
read that is either the readable record or the refusal in the SDK's words. Every read goes
through :meth:`Party.read_record`: consent checked on-chain, and logged with a signed
access receipt anchored right after (the patient's audit trail shows it)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from ..devices import UntrustedReadingError
from ..errors import CarechainError
from ..model import ConsentRecord, Purpose
from . import forms
from .app import portal, with_sdk
from .display import raw_json, summarize

pages = Blueprint("clinician", __name__)


def _by_patient() -> dict[str, list[ConsentRecord]]:
    consents = portal().client.contracts.consent.consents(grantee=portal().client.address)
    grouped: dict[str, list[ConsentRecord]] = defaultdict(list)
    for consent in consents:
        grouped[consent.patient].append(consent)
    return dict(grouped)


def _state(consent: ConsentRecord) -> str:
    if consent.revoked:
        return "revoked"
    if consent.active:
        return "denied" if consent.deny else "active"
    return "expired" if not consent.deny else "denial ended"


@pages.route("/patients")
@with_sdk
def patients() -> Any:
    """Patients whose consents name me, active or not (or one opened by its address)."""
    if request.args.get("patient"):
        who = forms.address(request.args["patient"], "patient")
        return redirect(url_for("clinician.patient_records", patient=who), 303)
    return render_template("clinician_patients.html", patients=_by_patient(), state=_state)


@pages.route("/patients/<patient>")
@with_sdk
def patient_records(patient: str) -> Any:
    """One patient's records (ids and categories are public; contents need consent)."""
    who = forms.address(patient, "patient")
    registry = portal().client.contracts.registry
    versions = registry.records_of(who)
    heads = registry.heads([v.record_id for v in versions])
    return render_template(
        "clinician_records.html",
        patient=who,
        records=list(zip(heads, versions, strict=True)),
        consents=_by_patient().get(who, []),
        state=_state,
        purposes=forms.purposes(),
    )


@pages.route("/patients/<patient>/read", methods=["POST"])
@with_sdk
def read(patient: str) -> Any:
    """Read one record under consent; a refusal is shown in the SDK's words and nothing is
    logged or sent for it."""
    who = forms.address(patient, "patient")
    record_id = forms.record_id(request.form.get("record_id", ""))
    purpose = Purpose[forms.choice("purpose", forms.purposes()).upper()]
    client = portal().client
    try:
        opened = client.read_record(record_id, purpose=purpose)
    except CarechainError as exc:
        untrusted = isinstance(exc, UntrustedReadingError)
        if untrusted and client.receipts.pending:
            client.receipts.flush()  # it was decrypted (then refused): on the audit trail
        return render_template(
            "clinician_read.html",
            patient=who,
            record_id=record_id,
            refusal=str(exc),
            untrusted=untrusted,
            consents=_by_patient().get(who, []),
            state=_state,
        ), 403
    if client.receipts.pending:
        client.receipts.flush()  # the read is on the patient's audit trail now
    return render_template(
        "clinician_read.html",
        patient=who,
        record_id=record_id,
        record=opened,
        summary=summarize(opened.resource),
        raw=raw_json(opened.resource),
        purpose=purpose.name.lower(),
    )
