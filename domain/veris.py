"""An incident as a VERIS 1.4 record (Vocabulary for Event Recording and Incident Sharing).

Pure: `record` turns what the ledger knows about one incident (`Incident`, plain data
gathered by the read side) into a VERIS JSON object. The choices are data, documented
in docs/VERIS.md:

- `VARIETY`: field category -> `attribute.confidentiality.data.variety`. The NIR is a
  national ID, which VERIS calls `Sensitive Personal`; a category added by
  `category-defined` is `Sensitive Personal` when special (GDPR Art. 9) or high risk,
  else `Personal`. `Medical`, `Sensitive Personal`, `Bank` and `Payment` are children of
  `Personal` in VERIS 1.4.1, so `Personal` is always listed with them;
- `actions`: the `action` and `vector` keys recorded on the `attack-discovered` fact
  (validated against the VERIS 1.4 enumerations when the fact was parsed), never words of
  its title; nothing recorded: `action.unknown`. VERIS's own consistency rules follow
  (social engineering alters behaviour; phishing implies e-mail in the value chain);
- the operator is the victim, the affected insurers its secondary victims (a supply-chain
  breach: the operator was their processor).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from domain.times import iso_utc

SCHEMA_VERSION: Final = "1.4.0"
SOURCE_ID: Final = "exposure-ledger"
OPERATOR_NAICS: Final = "524292"
"""Third Party Administration of Insurance and Pension Funds: a third-party payment operator."""
INSURER_NAICS: Final = "524114"
"""Direct Health and Medical Insurance Carriers: the complementary health insurers."""
RECORD_NAMESPACE: Final = uuid.UUID("6b0b4c52-64f1-4c8e-9d86-5a9b1c2f0e11")
"""Namespace of `plus.master_id`: the same incident always gets the same id."""

VARIETY: Final[dict[str, str]] = {
    "civil_status": "Personal",
    "birth_date": "Personal",
    "birth_rank": "Personal",
    "nir": "Sensitive Personal",
    "member_number": "Personal",
    "insurer_name": "Personal",
    "contract_guarantees": "Personal",
    "operator_reference": "Personal",
    "postal_address": "Personal",
    "phone": "Personal",
    "email": "Personal",
    "bank": "Bank",
    "health": "Medical",
    "reimbursements": "Medical",
}

PERSONAL_CHILDREN: Final = frozenset({"Medical", "Sensitive Personal", "Bank", "Payment"})

CONFIDENCE: Final = {"low": "Low", "medium": "Medium", "high": "High"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Insurer:
    """An affected insurer (a secondary victim) and its answer."""

    id: str
    name: str | None
    memberships: int
    """Members affected (confirmed or presumed)."""
    exposed: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """What the ledger knows about one incident, as known on a date."""

    incident: str
    operator: str
    title: str | None
    note: str | None
    confidence: str | None
    attack_began: datetime
    discovered: datetime
    as_known_on: datetime
    tz: ZoneInfo
    insurers: tuple[Insurer, ...]
    """The affected insurers."""
    exposed: tuple[str, ...]
    suspected: tuple[str, ...]
    ruled_out: tuple[str, ...]
    insurers_ruled_out: int
    insurers_pending: int
    """Insurers informed but neither affected nor ruled out."""
    people: int
    sources: tuple[str, ...]
    action: tuple[str, ...] = ()
    """VERIS action varieties recorded on the attack-discovered fact (`CATEGORY.VARIETY`)."""
    vector: tuple[str, ...] = ()
    """VERIS action vectors recorded on the attack-discovered fact (`CATEGORY.VECTOR`)."""
    sensitive: frozenset[str] = field(default_factory=frozenset)
    """Categories added by `category-defined` as special (GDPR Art. 9) or high risk."""
    country: str = "Unknown"
    industry: str = OPERATOR_NAICS


def variety(category: str, sensitive: frozenset[str] = frozenset()) -> str:
    """The VERIS data variety of a field category."""
    if category in VARIETY:
        return VARIETY[category]
    return "Sensitive Personal" if category in sensitive else "Personal"


def varieties(categories: tuple[str, ...] | list[str], sensitive: frozenset[str] = frozenset()) -> set[str]:
    """The varieties of some categories, with `Personal` as the parent of its children."""
    names = {variety(c, sensitive) for c in categories}
    return names | {"Personal"} if names & PERSONAL_CHILDREN else names


def disclosure(incident: Incident) -> str:
    """`Yes` (exposed fields of an affected insurer), `Potentially`, `No` or `Unknown`."""
    if incident.insurers and incident.exposed:
        return "Yes"
    if incident.insurers or incident.exposed or incident.suspected:
        return "Potentially"
    if incident.insurers_ruled_out and not incident.insurers_pending:
        return "No"
    return "Unknown"


def actions(action: tuple[str, ...], vector: tuple[str, ...]) -> dict[str, Any]:
    """VERIS `action` from the attack's recorded `action` and `vector` keys (`CATEGORY.VALUE`),
    never from its words: a category with no variety recorded has variety `Unknown`, one with
    no vector `vector: Unknown`, a social action `target: Unknown`; nothing recorded:
    `action.unknown`."""
    found: dict[str, dict[str, list[str]]] = {}
    for key, values in (("variety", action), ("vector", vector)):
        for item in values:
            category, _, value = item.partition(".")
            entry = found.setdefault(category, {"variety": [], "vector": []})
            if value not in entry[key]:
                entry[key].append(value)
    result: dict[str, Any] = {}
    for category, entry in sorted(found.items()):
        out: dict[str, Any] = {"variety": entry["variety"] or ["Unknown"]}
        if category != "environmental":  # VERIS gives environmental actions no vector
            out["vector"] = entry["vector"] or ["Unknown"]
        if category == "social":
            out["target"] = ["Unknown"]
        result[category] = out
    return result or {"unknown": {"notes": "No action was recorded on the incident's attack-discovered fact."}}


def _discovery(began: datetime, discovered: datetime) -> dict[str, Any]:
    hours = (discovered - began).total_seconds() / 3600
    if hours < 0:
        return {"unit": "Unknown"}
    if hours < 48:
        return {"unit": "Hours", "value": int(hours)}
    return {"unit": "Days", "value": int(hours // 24)}


def _data(incident: Incident) -> list[dict[str, Any]]:
    """Varieties exposed, each with the members whose exposed fields include it."""
    amounts: dict[str, int] = {}
    for insurer in incident.insurers:
        for name in varieties(insurer.exposed, incident.sensitive):
            amounts[name] = amounts.get(name, 0) + insurer.memberships
    names = varieties(incident.exposed, incident.sensitive) | set(amounts)
    return [{"variety": n, **({"amount": amounts[n]} if n in amounts else {})} for n in sorted(names)]


def _value_chain(action: dict[str, Any]) -> dict[str, Any]:
    """The value chain VERIS's consistency rules (bin/checkValidity.py) expect with these actions."""
    development: list[str] = []
    targeting: list[str] = []
    if "Phishing" in action.get("social", {}).get("variety", []):
        development.append("Email")
        targeting.append("Email addresses")
    if "Use of stolen creds" in action.get("hacking", {}).get("variety", []):
        targeting.append("Lost or stolen credentials")
    chain: dict[str, Any] = {}
    if development:
        chain["development"] = {"variety": development}
    if targeting:
        chain["targeting"] = {"variety": targeting}
    return chain


def _confidentiality(incident: Incident) -> dict[str, Any]:
    out: dict[str, Any] = {"data_disclosure": disclosure(incident)}
    if incident.insurers:
        out["data_total"] = sum(i.memberships for i in incident.insurers)
    data = _data(incident)
    if data:
        out["data"] = data
    out["data_victim"] = ["Customer"]
    out["state"] = ["Stored"]
    notes = [f"Categories exposed: {', '.join(incident.exposed) or 'none'}."]
    if "nir" in incident.exposed:
        notes.append("The NIR (French social security number) also reveals sex, birth year, month and place.")
    if incident.suspected:
        notes.append(f"Suspected: {', '.join(incident.suspected)}.")
    if incident.ruled_out:
        notes.append(f"Ruled out: {', '.join(incident.ruled_out)}.")
    out["notes"] = " ".join(notes)
    return out


def _victim(incident: Incident) -> dict[str, Any]:
    victim: dict[str, Any] = {
        "victim_id": incident.operator,
        "country": [incident.country],
        "employee_count": "Unknown",
        "industry": incident.industry,
        "government": ["NA"],
    }
    if incident.insurers:
        victim["secondary"] = {
            "amount": len(incident.insurers),
            "victim_id": [f"{i.name or i.id};{INSURER_NAICS}" for i in incident.insurers],
            "notes": "Insurers (controllers) whose members' data the operator (processor) held.",
        }
    return victim


def record(incident: Incident) -> dict[str, Any]:
    """The VERIS 1.4 record of an incident."""
    began = incident.attack_began.astimezone(incident.tz)
    action = actions(incident.action, incident.vector)
    web = "Web application" in action.get("hacking", {}).get("vector", [])
    attribute: dict[str, Any] = {"confidentiality": _confidentiality(incident)}
    if "social" in action:  # VERIS: social engineering alters the target's behaviour
        attribute["integrity"] = {"variety": ["Alter behavior"]}
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "incident_id": incident.incident,
        "source_id": SOURCE_ID,
        "security_incident": "Confirmed",
        "summary": f"{incident.title or 'Attack'} ({incident.operator})",
        "timeline": {
            "incident": {"year": began.year, "month": began.month, "day": began.day},
            "discovery": _discovery(incident.attack_began, incident.discovered),
        },
        "victim": _victim(incident),
        "action": action,
        "actor": {"unknown": {"notes": "The ledger does not record who attacked."}}
        if "unknown" in action
        else {"external": {"variety": ["Unknown"], "motive": ["Unknown"]}},
        "asset": {"assets": [{"variety": "S - Web application" if web else "Unknown"}], "cloud": ["Unknown"]},
        "attribute": attribute,
        "discovery_method": {"unknown": True},
        "plus": {
            "master_id": str(uuid.uuid5(RECORD_NAMESPACE, incident.incident)),
            "exposure": {
                "as_known_on": iso_utc(incident.as_known_on),
                "people": incident.people,
                "insurers_affected": [i.id for i in incident.insurers],
            },
        },
    }
    chain = _value_chain(action)
    if chain:
        out["value_chain"] = chain
    if incident.confidence in CONFIDENCE:
        out["confidence"] = CONFIDENCE[incident.confidence]
    if incident.sources:
        out["reference"] = "; ".join(incident.sources)
    return out
