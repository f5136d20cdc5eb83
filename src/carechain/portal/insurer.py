"""The insurer's pages: escrow, the claims queue (with what the settlement worker left for a
human and why), a claim's FHIR Claim and evidence opened under consent, approve or deny,
and settlement. Everything goes through :class:`Insurer`, and — for claims the worker
follows — through its journal, exactly as ``carechain insurer decide`` does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from ..errors import CarechainError
from ..model import ClaimStatus, ClaimView
from ..worker import Journal, to_units
from . import forms
from .app import Job, Refused, portal, start_job, with_sdk
from .display import raw_json, summarize

pages = Blueprint("insurer", __name__)


def _journal() -> Journal | None:
    path = portal().journal_path
    return Journal(path) if path is not None and path.exists() else None


def _worker_rows() -> dict[str, Any]:
    """The worker's journal rows by claim id (0x-hex), if there is a journal."""
    journal = _journal()
    if journal is None:
        return {}
    try:
        return {row["claim_id"]: dict(row) for row in journal.claims()}
    finally:
        journal.close()


def _claim(claim_id: bytes) -> ClaimView:
    view = portal().client.contracts.claims.claim(claim_id)
    if view.claim_id not in {v.claim_id for v in portal().client.claims()}:
        raise CarechainError(f"claim 0x{claim_id.hex()} is not against one of your policies")
    return view


@pages.route("/claims")
@with_sdk
def claims() -> Any:
    """The queue: manual first (with the worker's reason), then submitted, then the rest."""
    insurer = portal().client
    views = insurer.claims()
    rows = _worker_rows()
    order = {ClaimStatus.SUBMITTED: 1, ClaimStatus.APPROVED: 2, ClaimStatus.DISPUTED: 3}

    def rank(view: ClaimView) -> tuple[int, int]:
        row = rows.get("0x" + view.claim_id.hex())
        manual = row is not None and row["state"] == "manual"
        return (0 if manual else order.get(view.status, 4), -view.block)

    balance, reserved = insurer.escrow()
    return render_template(
        "insurer_claims.html",
        claims=sorted(views, key=rank),
        rows=rows,
        has_journal=portal().journal_path is not None and portal().journal_path.exists(),
        balance=balance,
        reserved=reserved,
        decimals=insurer.contracts.claims.decimals,
        reasons=forms.DENIAL_REASONS,
    )


@pages.route("/claims/<claim_id>")
@with_sdk
def claim(claim_id: str) -> Any:
    """One claim: its terms on-chain, and the buttons to open it (a logged read)."""
    view = _claim(forms.record_id(claim_id))
    return _claim_page(view)


def _claim_page(view: ClaimView, **opened: Any) -> Any:
    insurer = portal().client
    _, patient = insurer.contracts.claims.parties_of_policy(view.policy_id)
    return render_template(
        "insurer_claim.html",
        claim=view,
        patient=patient,
        row=_worker_rows().get("0x" + view.claim_id.hex()),
        decimals=insurer.contracts.claims.decimals,
        reasons=forms.DENIAL_REASONS,
        **opened,
    )


@pages.route("/claims/<claim_id>/open", methods=["POST"])
@with_sdk
def open_claim(claim_id: str) -> Any:
    """Decrypt the FHIR Claim and read its evidence under the patient's payment consent (each
    read logged on the patient's audit trail)."""
    insurer = portal().client
    view = _claim(forms.record_id(claim_id))
    _, patient = insurer.contracts.claims.parties_of_policy(view.policy_id)
    fhir_claim = insurer.open_claim(view, patient)
    try:
        evidence = insurer.open_evidence(view)
    except CarechainError as exc:
        return _claim_page(
            view,
            fhir_claim=raw_json(fhir_claim),
            claim_summary=summarize(fhir_claim),
            refusal=str(exc),
        ), 403
    finally:
        if insurer.receipts.pending:
            insurer.receipts.flush()
    return _claim_page(
        view,
        fhir_claim=raw_json(fhir_claim),
        claim_summary=summarize(fhir_claim),
        evidence=[(summarize(r.resource), raw_json(r.resource)) for r in evidence],
    )


@pages.route("/claims/<claim_id>/decide", methods=["POST"])
@with_sdk
def decide(claim_id: str) -> Any:
    """Approve an amount or deny with a reason. A claim the worker holds in its manual queue
    is decided in its journal (the worker sends it); any other submitted claim is decided
    on-chain now."""
    insurer = portal().client
    view = _claim(forms.record_id(claim_id))
    decimals = insurer.contracts.claims.decimals
    action = forms.choice("action", ("approve", "deny"))
    units = reason = None
    if action == "approve":
        units = to_units(request.form.get("amount", "").strip(), decimals)
        if not 0 < units <= view.amount:
            raise Refused(
                f"{request.form.get('amount')} is not between 0 and the amount claimed; "
                "nothing was sent"
            )
    else:
        reason = forms.choice("reason", forms.DENIAL_REASONS)
    key = "0x" + view.claim_id.hex()
    row = _worker_rows().get(key)
    if row is not None and row["state"] == "manual":
        journal = _journal()
        assert journal is not None
        try:
            journal.decide_manually(key, units, reason)
        finally:
            journal.close()
        done = "decision recorded; the settlement worker sends it on its next step"
    elif view.status is not ClaimStatus.SUBMITTED:
        raise Refused(f"claim {key} is {view.status.name.lower()}, not waiting for a decision")
    elif row is not None:
        raise Refused(
            f"the settlement worker is deciding claim {key} (state '{row['state']}'); only "
            "claims in its manual queue are decided here"
        )
    elif units is not None:
        insurer.approve(view.claim_id, units)
        done = "approved on-chain"
    else:
        insurer.deny(view.claim_id, str(reason))
        done = "denied on-chain"
    return redirect(url_for("insurer.claims", done=f"claim {key[:10]}…: {done}"), 303)


@pages.route("/settle", methods=["POST"])
def settle() -> Any:
    """Pay every approved claim now (when no worker settles them), in batches, with
    progress on its own page."""
    insurer = portal().client

    def work(job: Job) -> str:
        receipts = insurer.settle(progress=job.progress)
        claims, sent = job.done, len(receipts)
        return (
            f"settled {claims} claim{'s' * (claims != 1)} in {sent} transaction{'s' * (sent != 1)}"
        )

    job_id = start_job("Settling approved claims", url_for("insurer.claims"), work)
    return redirect(url_for("job", job_id=job_id), 303)
