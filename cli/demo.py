"""`exposure demo`: the Viamedis/Almerys story, synthetic members, answers at several dates.

The facts (`cli/demo_story.jsonl`) follow the public record in `docs/DEMO.md`;
every member is synthetic (`cli/demo_roster.py`), no real person's data is used.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Final

import click

from cli import render
from cli.demo_roster import roster_rows, write_roster_csv
from cli.shell import emit_json, json_option, out, run, settings
from domain.facts import KINDS
from ledger import roster
from ledger import store as stores
from ledger.store import Store
from projections import queries

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
        await roster.import_roster(store, insurer, str(path), known_on=ROSTER_KNOWN_ON)
    result = await store.append([(f"story line {n}", f) for n, f in enumerate(facts, start=1)], by="demo")
    findings = _findings(insurers, per_insurer)
    if findings:
        await store.append([(f"finding {n}", f) for n, f in enumerate(findings, start=1)], by="demo")
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


async def run_demo(
    directory: str | None,
    per_insurer: int,
    as_json: bool,
    *,
    store: str | None = None,
    key_file: Path | None = None,
) -> None:
    """Build the demo store (`store`, else `demo.db` in `directory` or a new temporary
    folder) and print the summaries as known on each date."""
    if store is not None:
        location = store
        if stores.exists(location):
            raise click.UsageError(f"{location} already exists: name a new --store for the demo")
    else:
        folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="exposure-demo-"))
        folder.mkdir(parents=True, exist_ok=True)
        location = str(folder / "demo.db")
        if Path(location).exists():
            raise click.UsageError(f"{location} already exists: give an empty --dir")
    await _demo(location, key_file, per_insurer, as_json)


async def _demo(location: str, key_file: Path | None, per_insurer: int, as_json: bool) -> None:
    store, _ = await Store.init(location, key_file, timezone="Europe/Paris")
    try:
        # The synthetic roster CSVs hold raw NIRs: written apart from the store folder, then deleted.
        with tempfile.TemporaryDirectory(prefix="exposure-demo-rosters-") as rosters:
            loaded = await load(store, Path(rosters), per_insurer)
        incidents = await queries.incidents(store.db)
        answers: list[dict[str, Any]] = []
        for day in DATES:
            h = await store.horizon(day)
            for incident in incidents:
                answers.append(await queries.summary(store.db, incident, h))
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
        command = f"exposure --store {shlex.quote(location)}" + (
            f" --key-file {shlex.quote(str(key_file))}" if key_file else ""
        )
        out.print("Explore it:")
        out.print(f"  {command} summary --incident viamedis-2024-01 --as-known-on 2024-02-07")
        out.print(f"  {command} insurer --incident almerys-2024-02 --insurer mutame-et-plus")
        out.print(f"  {command} audit log")
    finally:
        await store.close()


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Folder for the demo store (default: a new temporary folder).",
)
@click.option(
    "--members",
    "per_insurer",
    default=200,
    show_default=True,
    type=click.IntRange(1, 5_000_000),
    help="Synthetic members per insurer.",
)
@json_option
def demo(directory: str | None, per_insurer: int, as_json: bool) -> None:
    """Load the Viamedis/Almerys story with synthetic members and print its answers at several dates.

    The demo store is `demo.db` in --dir; without --dir, the store named by --store (or
    $EXPOSURE_STORE), which must not exist yet; without either, a new temporary folder.

    \b
    Examples:
      exposure demo --members 1000
      exposure --store demo.db demo
    """
    cfg = settings()
    store = None if directory else cfg.named
    run(run_demo(directory, per_insurer, as_json, store=store, key_file=cfg.key_file if store else None))
