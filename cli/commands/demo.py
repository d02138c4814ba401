"""`exposure demo`: the Viamedis/Almerys story, synthetic members, answers at several dates.

The facts (`cli/demo_story.jsonl`) follow the public record in `docs/DEMO.md`;
every member is synthetic (`cli/commands/demo_roster.py`), no real person's data is used.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cli.commands.demo_roster import SHARED_EVERY, roster_rows, shared_nir, write_roster_csv
from cli.i18n import _
from cli.render import tables
from cli.shell import emit_json, err, json_option, out, run, settings
from domain.answers import NotKnown, Summary
from domain.facts import KINDS
from usecases import When, questions, session, writes
from usecases.session import Store

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


def shares(total: int, insurers: int) -> list[int]:
    """`total` members split over `insurers` rosters as evenly as possible (the first get one more)."""
    base, extra = divmod(total, insurers)
    return [base + (1 if number < extra else 0) for number in range(insurers)]


async def load(
    store: Store, workdir: Path, members: int, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Append the story, synthetic rosters of `members` members in all, and member-level findings."""
    facts = story_facts()
    insurers = insurers_in(facts)
    counts = dict(zip(insurers, shares(members, len(insurers)), strict=True))
    # Rosters first: the insurers' own records, known on 2024-01-01; written, then imported
    # in a pipeline (the next ones checked while one is appended and the earlier ones projected).
    rosters: list[tuple[str, str]] = []
    for number, insurer in enumerate(insurers):
        if not counts[insurer]:
            continue
        path = workdir / f"roster-{insurer}.csv"
        rows = roster_rows(
            insurer, counts[insurer], seed=number + 1, contracts=CONTRACTS.get(insurer, DEFAULT_CONTRACTS)
        )
        write_roster_csv(path, rows)
        rosters.append((insurer, str(path)))
    before = [0]
    for insurer, _path in rosters:
        before.append(before[-1] + counts[insurer])

    def step(number: int, phase: str, rows_done: int, _total: int) -> None:
        if phase == "append" and progress is not None:
            progress(before[number] + rows_done)

    await writes.import_rosters(store, rosters, known_on=ROSTER_KNOWN_ON, progress=step)
    await writes.record(store, [(f"story line {n}", f) for n, f in enumerate(facts, start=1)], by="demo")
    findings = _findings(insurers, counts.get("alan", 0))
    if findings:
        await writes.record(store, [(f"finding {n}", f) for n, f in enumerate(findings, start=1)], by="demo")
    return {
        "insurers": len(insurers),
        "members": sum(counts.values()),
        "facts": await session.catch_up(store),  # the ledger's own count: rosters, story and findings
    }


def shown_nir(members: int, insurers: int) -> str | None:
    """A NIR that is in the demo's rosters: the shared person of row `SHARED_EVERY` (in every
    roster that long), else the first NIR of the first roster."""
    if members // insurers >= SHARED_EVERY:
        return shared_nir(SHARED_EVERY)
    facts = story_facts()
    first = insurers_in(facts)[0]
    rows = roster_rows(first, shares(members, insurers)[0], seed=1, contracts=CONTRACTS.get(first, DEFAULT_CONTRACTS))
    return next((row["nir"] for row in rows if row["nir"]), None)


def _findings(insurers: list[str], per_insurer: int) -> list[dict[str, Any]]:
    """On 2024-02-16 Alan received the detailed lists: member-level findings (synthetic refs)."""
    if "alan" not in insurers or not per_insurer:
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
    members: int,
    as_json: bool,
    *,
    store_location: str | None = None,
    key_file: Path | None = None,
) -> None:
    """Build the demo store (`store_location`, else `demo.db` in `directory` or a new
    temporary folder) and print the summaries as known on each date."""
    if store_location is not None:
        location = store_location
        if session.exists(location):
            raise click.UsageError(f"{location} already exists: name a new --store for the demo")
    else:
        folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="exposure-demo-"))
        folder.mkdir(parents=True, exist_ok=True)
        location = str(folder / "demo.db")
        if Path(location).exists():
            raise click.UsageError(f"{location} already exists: give an empty --dir")
    store = await session.create(location, key_file, timezone="Europe/Paris")
    try:
        # The synthetic roster CSVs hold raw NIRs: written apart from the store folder, then deleted.
        with tempfile.TemporaryDirectory(prefix="exposure-demo-rosters-") as rosters, _bar(members) as progress:
            loaded = await load(store, Path(rosters), members, progress)
        incidents = await _in_story_order(store)
        answers: list[Summary | NotKnown] = []
        for day in DATES:
            h = await session.horizon(store, When(day))
            for incident in incidents:
                answers.append(await questions.summary(store, incident, h))
        nir = shown_nir(members, loaded["insurers"])
        if as_json:
            emit_json({"store": location, "loaded": loaded, "nir": nir, "summaries": answers})
            return
        tz = store.tz
        out.print(
            "[bold]exposure demo[/bold]: "
            + _("{facts} facts, {insurers} insurers, {members} synthetic members in {location}").format(
                facts=f"{loaded['facts']:,}",
                insurers=loaded["insurers"],
                members=f"{loaded['members']:,}",
                location=location,
            )
            + "\n"
        )
        for incident in incidents:
            tables.evolution(incident, [a for a in answers if a.incident == incident], tz)
            out.print()
        tables.evolution_legend()
        out.print()
        command = f"exposure --store {shlex.quote(location)}" + (
            f" --key-file {shlex.quote(str(key_file))}" if key_file else ""
        )
        out.print(_("Explore it:"))
        out.print(f"  {command} summary --incident viamedis-2024-01 --as-known-on 2024-02-07")
        out.print(f"  {command} insurer --incident almerys-2024-02 --insurer mutame-et-plus")
        if nir is not None:
            out.print(f'  {command} member --nir "{spaced(nir)}"   # ' + _("a synthetic person"))
        out.print(f"  {command} audit log")
    finally:
        await store.close()


async def _in_story_order(store: Store) -> list[str]:
    """The incidents by when their attack began (then by id)."""
    return await questions.incidents_by_start(store, await session.horizon(store, When()))


def spaced(nir: str) -> str:
    """The printed form of a NIR: `2 84 01 75 123 456 78`."""
    return " ".join((nir[:1], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]))


PROGRESS_ABOVE: Final = 50_000
"""Show a progress bar (on a terminal) when loading more members than this."""


@contextlib.contextmanager
def _bar(members: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr over every member loaded, on long runs."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=members <= PROGRESS_ABOVE or not err.is_terminal,
    )
    task = bar.add_task(_("members"), total=members)
    with bar:
        yield lambda done: bar.update(task, completed=done)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Folder for the demo store (default: a new temporary folder).",
)
@click.option(
    "--members",
    default=5_000,
    show_default=True,
    type=click.IntRange(1, 100_000_000),
    help="Synthetic members in all, spread over the story's insurers (progress bar on long runs).",
)
@json_option
def demo(directory: str | None, members: int, as_json: bool) -> None:
    """Load the Viamedis/Almerys story with synthetic members and print its answers at several dates.

    The demo store is `demo.db` in --dir; without --dir, the store named by --store (or
    $EXPOSURE_STORE), which must not exist yet; without either, a new temporary folder.

    \b
    Examples:
      exposure demo --members 1000
      exposure --store demo.db demo
    """
    cfg = settings()
    named = None if directory else cfg.named
    key_file = cfg.key_file if named else None
    run(run_demo(directory, members, as_json, store_location=named, key_file=key_file))
