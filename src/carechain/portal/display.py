"""FHIR resources as a person reads them: what it is, the value with its unit exactly as
written (``0.40`` stays ``0.40``), when, and the details that matter; and chain values in
words (dates, amounts, statuses, short addresses). Pure functions: no chain, no IPFS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..fhir import Category
from ..fhir import dumps as fhir_dumps
from ..model import Scope, ScopeKind, utc_minutes


@dataclass(frozen=True)
class Summary:
    """One resource, readable: a title, its value, when it happened, and a few details."""

    kind: str  # the FHIR resource type, e.g. "Observation"
    title: str  # e.g. "Potassium"
    value: str = ""  # e.g. "0.40 mmol/L"
    when: str = ""  # ISO date or date-time as written, or a period "a to b"
    details: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Summary] = field(default_factory=list)  # a Bundle's entries

    @property
    def sort_key(self) -> str:
        """The date it is about, for a timeline (newest first)."""
        return self.when or ""

    @property
    def when_text(self) -> str:
        """:attr:`when` for people: ``2026-06-05 08:00 to 09:30 UTC``."""
        start, _, end = self.when.partition(" to ")
        if not end:
            return moment(start)
        first, last = moment(start), moment(end)
        if first[:10] == last[:10] and len(first) > 10 and len(last) > 10:
            return f"{first[:16]} to {last[11:]}"  # the same day: its date once
        return f"{first} to {last}"


def moment(text: str) -> str:
    """A FHIR date or date-time for people: ``2026-06-05T08:00:00Z`` is ``2026-06-05 08:00
    UTC``; other offsets are kept as written (``+02:00``); dates and partial dates as they
    are."""
    if "T" not in text:
        return text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    zone = ""
    if parsed.tzinfo is not None:
        offset = parsed.utcoffset()
        zone = (
            " UTC"
            if not offset
            else " " + parsed.strftime("%z")[:3] + ":" + parsed.strftime("%z")[3:]
        )
    return parsed.strftime("%Y-%m-%d %H:%M") + zone


def _concept(concept: Any) -> str:
    """A CodeableConcept in words: its text, else the first coding's display, else code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return ""


def _coded(concept: Any) -> str:
    """The first coding as ``system code`` (LOINC 2339-0), for the details line."""
    systems = {
        "http://loinc.org": "LOINC",
        "http://snomed.info/sct": "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    }
    for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and coding.get("code"):
            system = str(coding.get("system", ""))
            return f"{systems.get(system, system or 'code')} {coding['code']}".strip()
    return ""


def quantity(value: Any) -> str:
    """A Quantity as written: the decimal's own digits (never re-rounded) and its unit."""
    if not isinstance(value, dict) or "value" not in value:
        return ""
    number = value["value"]
    text = str(number) if isinstance(number, Decimal | int | str) else repr(number)
    unit = value.get("unit") or value.get("code") or ""
    comparator = value.get("comparator", "")
    return f"{comparator}{text} {unit}".strip()


def quantity_money(value: Any) -> str:
    """A FHIR Money (``{"value": 1100.00, "currency": "USD"}``) as written."""
    if not isinstance(value, dict) or "value" not in value:
        return ""
    return f"{value['value']} {value.get('currency', '')}".strip()


def _observation_value(resource: dict[str, Any]) -> str:
    if "valueQuantity" in resource:
        return quantity(resource["valueQuantity"])
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in resource:
            return str(resource[key])
    if "valueCodeableConcept" in resource:
        return _concept(resource["valueCodeableConcept"])
    components = [
        f"{_concept(c.get('code'))}: {quantity(c.get('valueQuantity'))}"
        for c in resource.get("component") or []
        if isinstance(c, dict) and c.get("valueQuantity")
    ]
    return "; ".join(components)


def _period(period: Any) -> str:
    if not isinstance(period, dict):
        return ""
    start, end = period.get("start", ""), period.get("end", "")
    return f"{start} to {end}" if start and end else str(start or end)


def _name(resource: dict[str, Any]) -> str:
    for name in resource.get("name") or []:
        if isinstance(name, dict):
            if name.get("text"):
                return str(name["text"])
            given = " ".join(str(g) for g in name.get("given") or [])
            return f"{given} {name.get('family', '')}".strip()
    return ""


def summarize(resource: dict[str, Any]) -> Summary:
    """What a person needs to read a resource at a glance."""
    kind = str(resource.get("resourceType", "Resource"))
    status = str(resource.get("status", ""))
    if kind == "Observation":
        details = [("code", _coded(resource.get("code")))]
        ranges = resource.get("referenceRange") or []
        if ranges and isinstance(ranges[0], dict):
            low, high = quantity(ranges[0].get("low")), quantity(ranges[0].get("high"))
            details.append(("reference range", f"{low} to {high}" if low and high else low or high))
        details.append(("status", status))
        return Summary(
            kind,
            _concept(resource.get("code")) or "Observation",
            _observation_value(resource),
            str(resource.get("effectiveDateTime") or _period(resource.get("effectivePeriod"))),
            [d for d in details if d[1]],
        )
    if kind == "Condition":
        clinical = _concept(resource.get("clinicalStatus"))
        details = [("code", _coded(resource.get("code"))), ("clinical status", clinical)]
        return Summary(
            kind,
            _concept(resource.get("code")) or "Condition",
            "",
            str(resource.get("onsetDateTime") or resource.get("recordedDate") or ""),
            [d for d in details if d[1]],
        )
    if kind == "Encounter":
        kinds = resource.get("type") or [{}]
        klass = resource.get("class") or {}
        title = _concept(kinds[0]) or str(klass.get("display") or "Encounter")
        period = resource.get("period") or {}
        details = [
            ("class", str(klass.get("display") or klass.get("code") or "")),
            ("from", str(period.get("start", ""))),
            ("until", str(period.get("end", ""))),
            ("status", status),
        ]
        return Summary(kind, title, "", _period(period), [d for d in details if d[1]])
    if kind == "Patient":
        details = [("gender", str(resource.get("gender", ""))), ("born", resource.get("birthDate"))]
        return Summary(
            kind, _name(resource) or "Patient", "", "", [(k, str(v)) for k, v in details if v]
        )
    if kind == "Bundle":
        parts = [
            summarize(e["resource"])
            for e in resource.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
        when = max((p.when for p in parts), default="")
        return Summary(kind, f"Bundle of {len(parts)}", "", when, [], parts)
    if kind == "Claim":
        items = [i for i in resource.get("item") or [] if isinstance(i, dict)]
        details = []
        for item in items:
            service = item.get("productOrService")
            label = f"{_coded(service) or 'item'} {_concept(service)}".strip()
            details.append((label, quantity_money(item.get("net") or item.get("unitPrice"))))
        served = next((str(i["servicedDate"]) for i in items if i.get("servicedDate")), "")
        total = quantity_money(resource.get("total"))
        title = f"Claim for {len(items)} item{'s' if len(items) != 1 else ''}"
        return Summary(kind, title, total, served, [*details, ("status", status)])
    # Anything else: its type and main code, and its status
    title = _concept(resource.get("code")) or _concept((resource.get("type") or [{}])[0]) or kind
    date = next(
        (
            str(resource[k])
            for k in ("effectiveDateTime", "date", "recordedDate", "authoredOn", "created")
            if resource.get(k)
        ),
        "",
    )
    return Summary(kind, title, "", date, [("status", status)] if status else [])


def raw_json(resource: dict[str, Any]) -> str:
    """The resource as indented FHIR JSON, decimals exactly as stored."""
    return fhir_dumps(resource, indent=2)


def when(timestamp: int) -> str:
    """A Unix time in words: ``2026-12-03 14:05 UTC``."""
    if not timestamp:
        return ""
    return utc_minutes(timestamp)


def day(days_since_epoch: int) -> str:
    """A day number (days since 1970-01-01, as claims store it) as ``2026-12-03``."""
    return datetime.fromtimestamp(int(days_since_epoch) * 86400, UTC).strftime("%Y-%m-%d")


def money(units: int, decimals: int) -> str:
    """``12.50`` for 12500000 units of a 6-decimal token."""
    return f"{Decimal(int(units)).scaleb(-decimals):,.2f}"


def short(address: str) -> str:
    """``0x1234…abcd``: enough to tell parties apart on a page (the whole in its title)."""
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def who(address: str, names: Any = None, full: bool = False) -> str:
    """The name this machine's address book gives ``address``, else the address (``full``)
    or :func:`short` of it."""
    name = names.name(address) if names is not None else None
    return name or (address if full else short(address))


def hexid(value: bytes) -> str:
    """``0x`` and the hex of an id."""
    return "0x" + bytes(value).hex()


def category(value: Category | int) -> str:
    """``mental health`` for Category.MENTAL_HEALTH."""
    return Category(int(value)).name.lower().replace("_", " ")


def scope(value: Scope) -> str:
    """What a consent covers, in words: ``every observation record``."""
    if value.kind is ScopeKind.ALL:
        return "all records"
    if value.kind is ScopeKind.CATEGORY:
        return f"every {category(int.from_bytes(value.value, 'big'))} record"
    return f"one record, 0x{value.value.hex()[:10]}…"
