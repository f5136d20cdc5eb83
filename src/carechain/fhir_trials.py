"""FHIR R4 for clinical trials: the ``ResearchStudy`` a sponsor registers (its outcome
measures are R4's ``objective`` entries, typed primary / secondary / exploratory), the
``EvidenceReport`` that carries the results (one section per reported outcome), and the
checks anyone runs on them.

Both are public documents: they go on IPFS unencrypted, so :func:`check_public` refuses
anything personal before they are stored — a participant, a person or a group of people,
contact details, or any address other than the sponsor's. Results are aggregate by nature.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from eth_utils import keccak

from .errors import InvalidRecordError
from .fhir import parse_resource
from .fhir_consent import ADDRESS_SYSTEM

OBJECTIVE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-objective-type"
_OBJECTIVE_TYPES = ("primary", "secondary", "exploratory")
_XHTML = "http://www.w3.org/1999/xhtml"

#: Resource types and fields that name or point at people; never in a public trial document.
_PERSONAL_FIELDS = frozenset({"enrollment", "telecom", "birthDate", "address", "contained"})
#: Resource types a public trial document may reference (the sponsor, sites as
#: organisations, the protocol and evidence resources); any other target is refused.
_PUBLIC_TYPES = frozenset(
    {
        "Organization",
        "ResearchStudy",
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
        "Evidence",
        "EvidenceVariable",
        "EvidenceReport",
        "Citation",
        "Questionnaire",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_AT, _DOT = r"(?:@|\(at\)|\[at\]|\bat\b)", r"(?:\.|\(dot\)|\[dot\]|\bdot\b)"
#: An e-mail written around filters: "name at domain dot org", "name [at] domain.org".
_EMAIL_SPELT = re.compile(
    rf"[\w.+-]+\s*{_AT}\s*[\w-]+(?:\s*{_DOT}\s*[\w-]+)*\s*{_DOT}\s*[a-z]{{2,}}\b", re.IGNORECASE
)
#: An Ethereum address with or without its 0x (any case), not part of a longer hex string.
_ETH_ADDRESS = re.compile(r"(?<![0-9a-fA-FxX])(?:0[xX])?[0-9a-fA-F]{40}(?![0-9a-fA-F])")
#: A national phone number written as plain digits: a leading 0 and 9-14 digits, not part of
#: a decimal or a longer number.
_PLAIN_PHONE = re.compile(r"(?<![\d.,])0\d{8,13}(?![\d.,]?\d)")
#: A phone number: nine or more digits written with a leading + or grouped by spaces, dashes
#: or parentheses (so a date, a decimal or a plain count is not one).
_PHONE = re.compile(r"\+?\(?\d[\d ()-]{6,}\d")


def build_research_study(
    title: str,
    sponsor: str,
    primary: list[str],
    secondary: list[str] | None = None,
    description: str | None = None,
    status: str = "approved",
) -> dict[str, Any]:
    """A ResearchStudy with its outcome measures (R4 ``objective``: name and type), the
    sponsor referenced by address. Validated, and checked to hold nothing personal."""
    objectives = [_objective(name, "primary") for name in primary]
    objectives += [_objective(name, "secondary") for name in secondary or []]
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "status": status,
        "title": title,
        "primaryPurposeType": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type",
                    "code": "treatment",
                }
            ]
        },
        "sponsor": {"identifier": {"system": ADDRESS_SYSTEM, "value": sponsor}},
        "objective": objectives,
    }
    if description:
        study["description"] = description
    outcome_measures(study)  # validates
    check_public(study, sponsor)
    return study


def _objective(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "type": {"coding": [{"system": OBJECTIVE_SYSTEM, "code": kind}]}}


def outcome_measures(study: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The (primary, secondary) outcome measures of a ResearchStudy, validated: valid FHIR,
    at least one primary outcome, every outcome named and typed, no name twice."""
    if study.get("resourceType") != "ResearchStudy":
        raise InvalidRecordError(
            f"a trial's outcomes are a FHIR ResearchStudy, not {study.get('resourceType')!r}"
        )
    parse_resource(study)
    found: dict[str, list[str]] = {kind: [] for kind in _OBJECTIVE_TYPES}
    seen: set[str] = set()
    for index, objective in enumerate(study.get("objective") or []):
        name = (objective.get("name") or "").strip()
        codes = [
            c.get("code")
            for c in (objective.get("type") or {}).get("coding", [])
            if c.get("system") == OBJECTIVE_SYSTEM
        ]
        if not name or len(codes) != 1 or codes[0] not in found:
            raise InvalidRecordError(
                f"ResearchStudy objective {index} needs a name and one type from "
                f"{OBJECTIVE_SYSTEM} ({', '.join(_OBJECTIVE_TYPES)})"
            )
        if name.casefold() in seen:
            raise InvalidRecordError(f"ResearchStudy names the outcome {name!r} twice")
        seen.add(name.casefold())
        found[codes[0]].append(name)
    if not found["primary"]:
        raise InvalidRecordError(
            "a trial registers at least one primary outcome (a ResearchStudy objective of "
            "type primary)"
        )
    return found["primary"], found["secondary"] + found["exploratory"]


def primary_outcomes_hash(study: dict[str, Any]) -> bytes:
    """What the chain keeps of a ResearchStudy's primary outcomes: keccak256 of its primary
    ``objective`` entries whole (name, type and whatever defines them, e.g. an extension), as
    a compact JSON array with sorted keys, sorted by name (so the order they are listed in does
    not matter; a word of the name or of a definition does). Call after
    :func:`outcome_measures` has validated the study."""
    entries = [
        {**objective, "name": (objective.get("name") or "").strip()}
        for objective in study.get("objective") or []
        if any(
            c.get("system") == OBJECTIVE_SYSTEM and c.get("code") == "primary"
            for c in (objective.get("type") or {}).get("coding", [])
        )
    ]
    entries.sort(key=lambda e: e["name"])
    text = json.dumps(entries, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return bytes(keccak(text.encode()))


def build_results(
    trial_id: int, sponsor: str, outcomes: dict[str, str], status: str = "active"
) -> dict[str, Any]:
    """An EvidenceReport of a trial's results: one section per outcome (its registered name
    as the title, the aggregate result as the text). Validated and checked to hold nothing
    personal."""
    report = {
        "resourceType": "EvidenceReport",
        "status": status,
        "subject": {"note": [{"text": f"Results of carechain trial {trial_id}"}]},
        "publisher": sponsor,
        "section": [
            {
                "title": name,
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="{_XHTML}">{_escape(result)}</div>',
                },
            }
            for name, result in outcomes.items()
        ],
    }
    reported_outcomes(report)
    check_public(report, sponsor)
    return report


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def reported_outcomes(results: dict[str, Any]) -> list[str]:
    """The outcomes a results EvidenceReport reports (its sections' titles), validated."""
    if results.get("resourceType") != "EvidenceReport":
        raise InvalidRecordError(
            f"trial results are a FHIR EvidenceReport, not {results.get('resourceType')!r}"
        )
    parse_resource(results)
    names = [(s.get("title") or "").strip() for s in results.get("section") or []]
    if not names or not all(names):
        raise InvalidRecordError(
            "trial results need one section per outcome, each titled with the outcome's name"
        )
    return names


def results_findings(
    primary: list[str],
    secondary: list[str],
    reported: list[str],
    later: list[str] | None = None,
) -> list[str]:
    """What is wrong with results against the registered outcomes (those in force when
    enrolment began): an outcome reported that was never registered, or registered only later
    (``later``: the outcomes amended in since), a primary outcome omitted. Empty when they
    match."""
    registered = {n.casefold() for n in primary + secondary}
    added = {n.casefold() for n in later or []}
    said = {n.casefold() for n in reported}
    findings = [
        f"reports {n!r}, which was "
        + ("registered only after enrolment began" if n.casefold() in added else "never registered")
        for n in reported
        if n.casefold() not in registered
    ]
    findings += [f"omits the primary outcome {n!r}" for n in primary if n.casefold() not in said]
    return findings


def check_public(document: dict[str, Any] | bytes, sponsor: str) -> None:
    """Refuse a public trial document (a FHIR resource, or the protocol's bytes) that holds
    something personal: a person, participant or group of people (a reference, a contained
    resource, an ``enrollment``), contact details, an e-mail address or a phone number, or an
    Ethereum address other than the sponsor's (which could name a participant)."""
    if isinstance(document, bytes):
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecordError(
                "the protocol document is not UTF-8 text (a PDF or other binary file cannot be "
                "checked for personal data); publish it as text, e.g. Markdown"
            ) from exc
        _check_text(text, sponsor, "the protocol document")
        return
    _walk(document, sponsor, document.get("resourceType", "the document"))


def _reference_target(reference: str, where: str) -> str:
    """The resource type a literal reference points at (relative or absolute URL)."""
    path = reference.split("#", 1)[0].split("?", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1].split("/", 1)[1] if "/" in path.split("://", 1)[1] else ""
    parts = [p for p in path.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or reference.startswith(("urn:", "#")):
        raise InvalidRecordError(
            f"{where}.reference {reference!r} cannot be checked (a urn, a fragment or no "
            "resource type); a public trial document references "
            + ", ".join(sorted(_PUBLIC_TYPES))
            + " by Type/id"
        )
    return parts[-2]


def _check_reference(value: dict[str, Any], where: str) -> None:
    """A Reference (literal, logical by identifier, or typed) may only point at a public
    resource type."""
    targets = []
    if isinstance(value.get("reference"), str):
        targets.append(_reference_target(value["reference"], where))
    if isinstance(value.get("type"), str):
        targets.append(value["type"].rsplit("/", 1)[-1])
    elif "identifier" in value and "display" in value and "reference" not in value:
        raise InvalidRecordError(
            f"{where} references something by identifier, which cannot be checked; a public "
            "trial document references public resources by Type/id"
        )
    for target in targets:
        if target not in _PUBLIC_TYPES:
            raise InvalidRecordError(
                f"{where} references a {target}; a public trial document names no person and "
                "references only " + ", ".join(sorted(_PUBLIC_TYPES))
            )


def _walk(value: Any, sponsor: str, where: str) -> None:
    if isinstance(value, dict):
        _check_reference(value, where)
        for key, item in value.items():
            if key in _PERSONAL_FIELDS:
                raise InvalidRecordError(
                    f"{where}.{key} could name or reach a person; a public trial document "
                    "holds no personal data (it goes on IPFS unencrypted)"
                )
            _walk(item, sponsor, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, sponsor, f"{where}.{index}")
    elif isinstance(value, str):
        _check_text(value, sponsor, where)
        if value.lstrip().startswith(("{", "[")):
            # JSON inside a string (an extension's valueString) is checked as a document too.
            with contextlib.suppress(json.JSONDecodeError):
                _walk(json.loads(value), sponsor, where)


def _looks_like_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    groups = len(re.findall(r"\d+", candidate))
    return digits >= 9 and (candidate.startswith("+") or groups >= 3)


def _check_text(text: str, sponsor: str, where: str) -> None:
    for address in _ETH_ADDRESS.findall(text):
        if address.lower().removeprefix("0x")[-40:] != sponsor.lower().removeprefix("0x"):
            raise InvalidRecordError(
                f"{where} holds the address {address}, not the sponsor's: a public trial "
                "document names no participant"
            )
    rest = _ETH_ADDRESS.sub(" ", text)
    if (
        _EMAIL.search(rest)
        or _EMAIL_SPELT.search(rest)
        or _PLAIN_PHONE.search(rest)
        or any(_looks_like_phone(m.group()) for m in _PHONE.finditer(rest))
    ):
        raise InvalidRecordError(
            f"{where} holds an e-mail address or a phone number; a public trial document "
            "holds no contact details (it goes on IPFS unencrypted)"
        )


__all__ = [
    "build_research_study",
    "build_results",
    "check_public",
    "outcome_measures",
    "primary_outcomes_hash",
    "reported_outcomes",
    "results_findings",
]
