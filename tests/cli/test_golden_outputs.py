"""What the commands print, byte for byte, on the demo store: the notify drafts (JSON, Markdown,
HTML, the letter), `member --nir -`, and the JSON of `summary`, `demo` and `init`.

The files in tests/cli/golden/ were written by the code from before the drafts, the batch
answers and these outputs became typed Structs (issue 11): typing an answer must not move one
byte of what it prints. A deliberate change of an output rewrites them: run
`python -m tests.cli.test_golden_outputs` and review the diff of tests/cli/golden/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import pytest

from cli.commands.demo import CONTRACTS, DEFAULT_CONTRACTS, insurers_in, shares, story_facts
from cli.commands.demo_roster import roster_rows
from tests.support import EXPOSURE

GOLDEN: Final = Path(__file__).with_name("golden")
MEMBERS: Final = 600
VIAMEDIS, ALMERYS, MH = "viamedis-2024-01", "almerys-2024-02", "malakoff-humanis"


def _authority(insurer: str, day: str, *args: str, incident: str = VIAMEDIS) -> list[str]:
    return ["notify", "authority", "--incident", incident, "--insurer", insurer, "--as-known-on", day, *args]


def _letter(insurer: str, day: str, *args: str, incident: str = VIAMEDIS) -> list[str]:
    return ["notify", "letter", "--incident", incident, "--insurer", insurer, "--as-known-on", day, *args]


CASES: Final = {
    "authority-mh-initial.json": _authority(MH, "2024-02-01", "--format", "json"),
    "authority-mh-complementary.json": _authority(MH, "2024-02-08", "--phase", "complementary", "--format", "json"),
    "authority-client-05-complementary.json": _authority(
        "mutuelle-viamedis-client-05", "2024-02-16", "--phase", "complementary", "--format", "json"
    ),
    "authority-client-03-late.json": _authority("mutuelle-viamedis-client-03", "2024-02-16", "--format", "json"),
    "authority-mutaero-overdue.json": _authority("mutaero", "2024-02-16", "--format", "json"),
    "authority-alan-complementary.json": _authority(
        "alan", "2024-03-01", "--phase", "complementary", "--format", "json", incident=ALMERYS
    ),
    "authority-mh-initial-fr.md": _authority(MH, "2024-02-01"),
    "authority-mh-complementary-en.md": _authority(MH, "2024-02-16", "--phase", "complementary", "--lang", "en"),
    "authority-msp-complementary-fr.html": _authority(
        "mutuelle-des-services-publics", "2024-03-01", "--phase", "complementary", "--format", "html"
    ),
    "letter-mh-fr.txt": _letter(MH, "2024-02-08"),
    "letter-alan-en.html": _letter("alan", "2024-03-01", "--lang", "en", "--format", "html", incident=ALMERYS),
    "member-nir-batch-0128.jsonl": ["member", "--nir", "-", "--as-known-on", "2024-01-28"],
    "member-nir-batch-0208.jsonl": ["member", "--nir", "-", "--as-known-on", "2024-02-08"],
    "summary-viamedis-0208.json": ["summary", "--incident", VIAMEDIS, "--as-known-on", "2024-02-08", "--json"],
    "summary-almerys-0201.json": ["summary", "--incident", ALMERYS, "--as-known-on", "2024-02-01", "--json"],
}
"""Each golden file and the command that prints it on the demo store."""


def demo_nirs() -> str:
    """Standard input of `member --nir -`: the first NIRs of every demo roster, an invalid line,
    a valid NIR enrolled nowhere and a NIR asked twice."""
    facts = story_facts()
    insurers = insurers_in(facts)
    nirs: list[str] = []
    for number, (insurer, count) in enumerate(zip(insurers, shares(MEMBERS, len(insurers)), strict=True)):
        rows = roster_rows(insurer, count, seed=number + 1, contracts=CONTRACTS.get(insurer, DEFAULT_CONTRACTS))
        nirs += [row["nir"] for row in rows if row["nir"]][:2]
    return "\n".join([*nirs[:3], "not a nir", "1 85 05 78 006 084 91", *nirs[3:], nirs[0]]) + "\n"


def run(exposure: Path | str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(exposure), *args],
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
    )


def make_demo(exposure: Path | str, folder: Path) -> tuple[Path, bytes]:
    """`exposure demo --json` in `folder`: the store and what it printed (the folder as DIR)."""
    done = run(exposure, "demo", "--dir", str(folder), "--members", str(MEMBERS), "--json")
    assert done.returncode == 0, done.stderr
    return folder / "demo.db", done.stdout.replace(str(folder).encode(), b"DIR")


def printed(exposure: Path | str, store: Path, name: str) -> bytes:
    """What the command of `name` prints on `store` (exit code 0, nothing on stderr)."""
    stdin = demo_nirs() if CASES[name][0] == "member" else None
    done = run(exposure, "--store", str(store), *CASES[name], stdin=stdin)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr
    return done.stdout


def initialised(exposure: Path | str, folder: Path) -> bytes:
    """`init --json` on a new store, then again (already initialised), the folder as DIR."""
    store = folder / "new.db"
    first, again = (run(exposure, "--store", str(store), "init", "--timezone", "Europe/Paris", "--json") for _ in "12")
    return (first.stdout + again.stdout).replace(str(folder).encode(), b"DIR")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    return make_demo(EXPOSURE, tmp_path_factory.mktemp("golden") / "demo")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_command_prints_the_same_bytes_as_before_its_answer_was_typed(demo, name):
    store, _ = demo

    assert printed(EXPOSURE, store, name) == (GOLDEN / name).read_bytes()


def test_demo_json_prints_the_same_bytes_as_before(demo):
    _, shown = demo

    assert shown == (GOLDEN / "demo.json").read_bytes()


def test_init_json_prints_the_same_bytes_as_before(tmp_path):
    assert initialised(EXPOSURE, tmp_path) == (GOLDEN / "init.json").read_bytes()


def write_golden(exposure: str) -> None:
    """Rewrite tests/cli/golden/ with the outputs of `exposure` (default: this environment's)."""
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        store, shown = make_demo(exposure, Path(work) / "demo")
        (GOLDEN / "demo.json").write_bytes(shown)
        for name in CASES:
            (GOLDEN / name).write_bytes(printed(exposure, store, name))
        (GOLDEN / "init.json").write_bytes(initialised(exposure, Path(work)))


if __name__ == "__main__":
    write_golden(sys.argv[1] if len(sys.argv) > 1 else str(EXPOSURE))
