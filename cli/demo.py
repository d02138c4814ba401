"""`exposure demo`: the Viamedis/Almerys story, synthetic members, answers at several dates.

The facts (`cli/demo_story.jsonl`) follow the public record in `docs/DEMO.md`;
every member is synthetic (`cli/demo_roster.py`), no real person's data is used.
"""

from __future__ import annotations

import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Final

import click

import service
from cli.demo_roster import roster_rows, write_roster_csv
from cli.render import tables as render
from cli.shell import emit_json, out
from domain.facts import KINDS
from service import Store

DATES: Final = ("2024-01-29", "2024-02-01", "2024-02-05", "2024-02-07", "2024-02-08", "2024-02-16")
ROSTER_KNOWN_ON: Final = "2024-01-01"
"""An insurer knows its own members long before any breach."""

CONTRACTS: Final[dict[str, tuple[str, ...]]] = {
    "mutame-et-plus": ("MP-SANTE-PRO", "MP-TNS", "MP-ESSENTIEL", "MP-FAMILLE", "MP-SENIOR", "MP-JEUNE"),
}
DEFAULT_CONTRACTS: Final = ("SANTE-ESSENTIEL", "SANTE-CONFORT", "SANTE-INTEGRAL")


def story_facts() -> list[dict[str, Any]]:
    """The demo's facts, in file order."""
    text = resources.files("cli").joinpath("demo_story.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def insurers_in(facts: list[dict[str, Any]]) -> list[str]:
    """Every insurer the story names, in order of first mention."""
    seen: dict[str, None] = {}
    for fact in facts:
        if fact.get("insurer") and fact["kind"] in KINDS:
            seen.setdefault(str(fact["insurer"]), None)
    return list(seen)


async def load(store: Store, workdir: Path, per_insurer: int) -> dict[str, int]:
    """Append the story, a synthetic roster per insurer, and member-level findings."""
    facts = story_facts()
    insurers = insurers_in(facts)
    # Rosters first: the insurers' own records, known on 2024-01-01.
    for number, insurer in enumerate(insurers):
        path = workdir / f"roster-{insurer}.csv"
        rows = roster_rows(insurer, per_insurer, seed=number + 1, contracts=CONTRACTS.get(insurer, DEFAULT_CONTRACTS))
        write_roster_csv(path, rows)
        await service.import_roster(store, insurer, str(path), known_on=ROSTER_KNOWN_ON)
    result = await service.record(store, [(f"story line {n}", f) for n, f in enumerate(facts, start=1)], by="demo")
    findings = _findings(insurers, per_insurer)
    if findings:
        await service.record(store, [(f"finding {n}", f) for n, f in enumerate(findings, start=1)], by="demo")
    return {
        "insurers": len(insurers),
        "members": per_insurer * len(insurers),
        "facts": len(result.appended) + len(findings),
    }


def _findings(insurers: list[str], per_insurer: int) -> list[dict[str, Any]]:
    """On 2024-02-16 Alan received the detailed lists: member-level findings (synthetic refs)."""
    if "alan" not in insurers:
        return []
    rows = list(roster_rows("alan", per_insurer, seed=insurers.index("alan") + 1, contracts=DEFAULT_CONTRACTS))
    refs = [r["ref"] for r in rows]
    confirmed, ruled_out = (
        refs[: max(1, len(refs) // 3)],
        refs[len(refs) // 3 : len(refs) // 3 + max(1, len(refs) // 10)],
    )
    facts: list[dict[str, Any]] = [
        {
            "kind": "members-confirmed-affected",
            "id": "demo-alan-list-confirmed",
            "incident": "almerys-2024-02",
            "insurer": "alan",
            "refs": confirmed,
            "known_on": "2024-02-16",
            "source": "Alan's incident page: detailed lists received from the operators (synthetic refs)",
            "confidence": "high",
        }
    ]
    if ruled_out and ruled_out[0] not in confirmed:
        facts.append(
            {
                "kind": "members-ruled-out",
                "id": "demo-alan-list-ruled-out",
                "incident": "almerys-2024-02",
                "insurer": "alan",
                "refs": ruled_out,
                "known_on": "2024-02-16",
                "source": "Alan's incident page: members absent from the operator's list (synthetic refs)",
                "confidence": "medium",
            }
        )
    return facts


async def run_demo(directory: str | None, per_insurer: int, as_json: bool) -> None:
    """Build the demo store and print the summaries as known on each date."""
    folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="exposure-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    location = str(folder / "demo.db")
    if Path(location).exists():
        raise click.UsageError(f"{location} already exists: give an empty --dir")
    store = await service.create(location, timezone="Europe/Paris")
    try:
        # The synthetic roster CSVs hold raw NIRs: written apart from the store folder, then deleted.
        with tempfile.TemporaryDirectory(prefix="exposure-demo-rosters-") as rosters:
            loaded = await load(store, Path(rosters), per_insurer)
        incidents = await service.incidents(store)
        answers: list[dict[str, Any]] = []
        for day in DATES:
            for incident in incidents:
                answers.append(await service.summary(store, incident, service.When(day)))
        if as_json:
            emit_json({"store": location, "loaded": loaded, "summaries": answers})
            return
        out.print(
            f"[bold]exposure demo[/bold]: {loaded['facts']} facts, {loaded['insurers']} insurers, "
            f"{loaded['members']:,} synthetic members in {location}\n"
        )
        for incident in incidents:
            render.evolution(incident, [a for a in answers if a["incident"] == incident])
            out.print()
        out.print("Explore it:")
        out.print(f"  exposure --store {location} summary --incident viamedis-2024-01 --as-known-on 2024-02-07")
        out.print(f"  exposure --store {location} insurer --incident almerys-2024-02 --insurer mutame-et-plus")
        out.print(f"  exposure --store {location} audit log")
    finally:
        await store.close()
