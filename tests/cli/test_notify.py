"""`exposure notify` on the Viamedis/Almerys story, through the installed command in real processes.

The demo store (the public record of docs/DEMO.md with synthetic members) is built once by
`exposure demo`; tests that add facts work on a copy of it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.commands.demo import insurers_in, story_facts
from tests.support import EXPOSURE

VIAMEDIS = "viamedis-2024-01"
ALMERYS = "almerys-2024-02"
MH = "malakoff-humanis"
MEMBERS = 40
"""Members of each insurer: `exposure demo --members` is the total, split evenly over the story's insurers."""
INSURERS = len(insurers_in(story_facts()))
VIAMEDIS_EXPOSED = ["birth_date", "civil_status", "contract_guarantees", "insurer_name", "nir"]
COMMUNIQUE_IN, COMMUNIQUE_OUT = "vm-fields-ruled-in-communique", "vm-fields-ruled-out-communique"


def exposure(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    """`exposure --store STORE ARGS...` in a real process."""
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "EXPOSURE_ACTOR": "tester"},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store of the story (read-only for the tests that use it)."""
    folder = tmp_path_factory.mktemp("notify") / "demo"
    done = subprocess.run(
        [str(EXPOSURE), "demo", "--dir", str(folder), "--members", str(MEMBERS * INSURERS), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder / "demo.db"


@pytest.fixture
def story(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo store that a test may add facts to."""
    folder = tmp_path / "story"
    folder.mkdir()
    for source in demo.parent.iterdir():
        shutil.copy2(source, folder / source.name)
    return folder / demo.name


def authority(store: Path, *args: str) -> str:
    """The Markdown draft of Malakoff Humanis in the Viamedis incident."""
    return ok(exposure("notify", "authority", "--incident", VIAMEDIS, "--insurer", MH, *args, store=store))


def letter(store: Path, *args: str) -> str:
    """Malakoff Humanis' letter template (Viamedis)."""
    return ok(exposure("notify", "letter", "--incident", VIAMEDIS, "--insurer", MH, *args, store=store))


def draft(store: Path, *args: str, insurer: str = MH, incident: str = VIAMEDIS) -> dict[str, Any]:
    found = ok(
        exposure(
            "notify", "authority", "--incident", incident, "--insurer", insurer, "--format", "json", *args, store=store
        )
    )
    return json.loads(found)


def record(store: Path, *facts: dict[str, Any]) -> None:
    """`exposure import -` of these facts."""
    done = subprocess.run(
        [str(EXPOSURE), "--store", str(store), "import", "-"],
        input="".join(json.dumps(f) + "\n" for f in facts),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- notify authority -------------------------------------------------------------------


def test_malakoff_humanis_initial_draft_states_categories_people_awareness_and_a_met_deadline(demo):
    people = json.loads(
        ok(
            exposure(
                "insurer", "--incident", VIAMEDIS, "--insurer", MH, "--as-known-on", "2024-02-01", "--json", store=demo
            )
        )
    )["members"]["people"]

    found = draft(demo, "--as-known-on", "2024-02-01")

    assert found["phase"] == "initial"
    assert found["changes"] is None
    assert found["categories"]["exposed"] == VIAMEDIS_EXPOSED
    assert found["categories"]["implied"] == ["birth_month", "birth_year", "birthplace", "sex"]
    assert {"bank", "health"} <= set(found["categories"]["ruled_out"])
    assert found["categories"]["suspected"] == []
    assert found["categories"]["rulings"]["nir"] == COMMUNIQUE_IN
    assert found["categories"]["rulings"]["health"] == COMMUNIQUE_OUT
    assert found["data_subjects"]["people"] == people == MEMBERS
    assert found["data_subjects"]["holders"] + found["data_subjects"]["dependants"] == MEMBERS
    assert found["aware_at"] == "2024-01-30T09:00:00Z"
    assert found["deadline"] == "2024-02-02T09:00:00Z"
    assert found["status"] == "on-time"
    assert found["timing"]["notified_at"] == "2024-02-01T16:00:00Z"
    assert found["nature"] == {
        "operator": "viamedis",
        "title": found["nature"]["title"],
        "attack_began": "2024-01-21T23:00:00Z",
        "discovered": "2024-01-29T14:00:00Z",
        "because": ["vm-01-attack-discovered"],
    }
    assert [m["id"] for m in found["measures"]] == [
        "vm-measure-portal-disconnected",
        "vm-measure-malakoff-humanis-clients-emailed",
    ]
    assert found["contact"] is None
    assert found["gaps"] == ["contact"]
    assert {
        "vm-inf-malakoff-humanis",
        "vm-cnil-malakoff-humanis",
        COMMUNIQUE_IN,
        COMMUNIQUE_OUT,
        "vm-aff-malakoff-humanis",
        "desc-malakoff-humanis",
    } <= set(found["because"])
    assert found["because"] == sorted(found["because"])


def test_the_likely_consequences_come_from_the_exposed_categories(demo):
    found = draft(demo, "--as-known-on", "2024-02-01")

    consequences = {c["id"]: c for c in found["consequences"]}
    assert set(consequences) == {"identity-theft", "targeted-phishing", "nir-permanent", "cover-revealed"}
    assert consequences["identity-theft"]["categories"] == ["birth_date", "civil_status", "nir"]
    assert consequences["identity-theft"]["because"] == [COMMUNIQUE_IN]
    assert all(c["status"] == "exposed" for c in consequences.values())


def test_the_french_markdown_draft_cites_the_facts_behind_every_statement(demo):
    text = authority(demo, "--as-known-on", "2024-02-01")
    ids = draft(demo, "--as-known-on", "2024-02-01")["because"]

    assert text.startswith("# Notification d'une violation de données à caractère personnel à la CNIL — Malakoff")
    assert "numéro de sécurité sociale (NIR)" in text
    assert "Le NIR exposé révèle aussi le sexe" in text
    assert "Notification faite le 01/02/2024 17:00 : délai respecté." in text
    assert "[À COMPLÉTER : nom et coordonnées du délégué" in text
    statements = [line for line in text.splitlines() if line.startswith("- ") and "À COMPLÉTER" not in line]
    assert statements
    assert all(re.search(r"\[\^\d+\]$", line) for line in statements), "a statement without its facts"
    cited = set(re.findall(r"\[\^(\d+)\](?!:)", text))
    notes = dict(re.findall(r"^\[\^(\d+)\]: `([^`]+)`$", text, flags=re.MULTILINE))
    assert cited == set(notes)
    assert set(notes.values()) <= set(ids)
    assert "vm-fields-ruled-in-communique" in notes.values()


def test_the_english_draft_and_the_json_that_does_not_depend_on_the_language(demo):
    text = authority(demo, "--as-known-on", "2024-02-01", "--lang", "en")

    assert text.startswith("# Notification of a personal data breach to the CNIL — Malakoff Humanis")
    assert "Notified on 2024-02-01 17:00: deadline met." in text
    assert "social security number (NIR)" in text
    assert draft(demo, "--as-known-on", "2024-02-01", "--lang", "en") == draft(demo, "--as-known-on", "2024-02-01")


def test_the_complementary_draft_after_the_8_february_health_suspicion_says_only_what_changed(demo):
    found = draft(demo, "--phase", "complementary", "--as-known-on", "2024-02-08")
    text = authority(demo, "--phase", "complementary", "--as-known-on", "2024-02-08")

    changes = found["changes"]
    assert found["previous"]["id"] == "vm-cnil-malakoff-humanis"
    assert changes["from"] == "2024-02-01T16:00:00Z"
    assert changes["categories"] == [
        {"category": "health", "before": "ruled-out", "after": "suspected", "because": ["vm-health-suspected-silicon"]}
    ]
    assert changes["members"] == {"newly_affected": 0, "no_longer_affected": 0, "fields_changed": 0}
    assert changes["data_subjects"] is None
    assert changes["measures"] == []
    assert changes["consequences"] == ["health-disclosure"]
    assert "previous_reference" in found["gaps"]
    assert "Données de santé : écartée → suspectée." in text
    assert "si l'exposition est confirmée" in text
    assert "numéro de sécurité sociale" not in text
    assert "Nature de la violation" not in text
    assert "Complète la notification du 01/02/2024 17:00" in text


def test_a_complementary_draft_without_an_earlier_notification_is_refused_and_writes_nothing(demo, tmp_path):
    target = tmp_path / "draft.md"

    result = exposure(
        *f"notify authority --incident {VIAMEDIS} --insurer mutaero --phase complementary".split(),
        "--out",
        str(target),
        store=demo,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: no authority-notified fact of insurer 'mutaero'")
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--insurer", "nobody"), "Error: unknown insurer 'nobody'"),
        (("--insurer", MH, "--incident", "nowhere"), "Error: unknown incident 'nowhere'"),
        (("--insurer", MH, "--as-known-on", "2024-02-31"), "Error: --as-known-on"),
    ],
)
def test_bad_input_is_one_error_line(demo, args, message):
    arguments = ["notify", "authority", "--incident", VIAMEDIS, *args]

    result = exposure(*arguments, store=demo)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(message)


def test_a_late_notification_gives_its_note_as_the_reason_and_an_overdue_one_a_gap(demo):
    late = draft(demo, "--as-known-on", "2024-02-16", insurer="mutuelle-viamedis-client-03")
    overdue = draft(demo, "--as-known-on", "2024-02-16", insurer="mutaero")

    assert late["status"] == "late"
    assert late["timing"]["delay_reason"]
    assert "delay_reason" not in late["gaps"]
    assert overdue["status"] == "overdue"
    assert overdue["timing"]["notified_at"] is None
    assert "delay_reason" in overdue["gaps"]


def test_a_recorded_contact_and_the_latest_description_fill_the_contact_point(story):
    record(
        story,
        {
            "kind": "insurer-described",
            "id": "mh-dpo-1",
            "insurer": MH,
            "dpo_contact": "DPO, old@mh.example",
            "known_on": "2024-02-02",
        },
        {
            "kind": "insurer-described",
            "id": "mh-dpo-2",
            "insurer": MH,
            "dpo_contact": "DPO, dpo@mh.example",
            "known_on": "2024-02-03",
        },
    )

    found = draft(story, "--as-known-on", "2024-02-05")
    before = draft(story, "--as-known-on", "2024-02-02")

    assert found["contact"] == "DPO, dpo@mh.example"
    assert found["contact_because"] == ["mh-dpo-2"]
    assert "contact" not in found["gaps"]
    assert before["contact"] == "DPO, old@mh.example"


def test_a_retracted_measure_leaves_the_draft(story):
    record(
        story,
        {
            "kind": "fact-retracted",
            "id": "undo",
            "fact": "vm-measure-malakoff-humanis-clients-emailed",
            "known_on": "2024-02-03",
        },
    )

    assert [m["id"] for m in draft(story, "--as-known-on", "2024-02-05")["measures"]] == [
        "vm-measure-portal-disconnected"
    ]
    assert len(draft(story, "--as-known-on", "2024-02-02")["measures"]) == 2


# -- notify members ---------------------------------------------------------------------


def mailing(store: Path, incident: str, insurer: str, *args: str) -> list[dict[str, Any]]:
    text = ok(
        exposure(
            "notify", "members", "--incident", incident, "--insurer", insurer, "--format", "jsonl", *args, store=store
        )
    )
    return [json.loads(line) for line in text.splitlines()]


def told_again(store: Path, incident: str, insurer: str, since: str, until: str) -> list[str]:
    text = ok(
        exposure(
            *f"diff --incident {incident} --from {since} --to {until} --members --format jsonl".split(), store=store
        )
    )
    return [row["ref"] for row in map(json.loads, text.splitlines()) if row["insurer"] == insurer]


def test_the_members_file_lists_exactly_the_members_diff_would_tell_again(demo):
    # Alan e-mailed every affected member on 9 February; on 16 February the operators' lists rule some out.
    rows = mailing(demo, ALMERYS, "alan", "--since-last", "--as-known-on", "2024-02-16")
    everyone = mailing(demo, ALMERYS, "alan", "--as-known-on", "2024-02-16")
    duties = json.loads(
        ok(exposure("obligations", "--incident", ALMERYS, "--as-known-on", "2024-02-16", "--json", store=demo))
    )

    again = told_again(demo, ALMERYS, "alan", "2024-02-09T00:00:00+01:00", "2024-02-16")
    assert again
    assert [row["ref"] for row in rows] == again
    assert {row["notice"] for row in rows} == {"complementary"}
    assert all(row["notified_at"] == "2024-02-08T23:00:00Z" for row in rows)
    assert all(row["status"] == "ruled-out" and row["fields"] == [] for row in rows)
    (alan,) = [entry for entry in duties["insurers"] if entry["insurer"] == "alan"]
    notices = Counter(row["notice"] for row in everyone)
    assert notices["initial"] == alan["members_never_notified"]
    assert notices["complementary"] == alan["members_notified_before_change"]
    assert notices["none"] > 0


def test_after_a_blanket_notice_a_new_exposed_field_sends_every_told_member_a_complementary_notice(story):
    told = "2024-02-02T12:00:00+01:00"
    record(
        story,
        {
            "kind": "members-notified",
            "id": "mh-told",
            "incident": VIAMEDIS,
            "insurer": MH,
            "known_on": told,
            "occurred_on": told,
        },
        {
            "kind": "field-ruled-in",
            "id": "mh-health",
            "incident": VIAMEDIS,
            "insurer": MH,
            "categories": ["health"],
            "known_on": "2024-02-10",
        },
    )

    quiet = mailing(story, VIAMEDIS, MH, "--since-last", "--as-known-on", "2024-02-09")
    rows = mailing(story, VIAMEDIS, MH, "--since-last", "--as-known-on", "2024-02-10")

    assert quiet == []
    assert len(rows) == MEMBERS
    assert [row["ref"] for row in rows] == told_again(story, VIAMEDIS, MH, told, "2024-02-10")
    assert all(row["notice"] == "complementary" and "health" in row["fields"] for row in rows)
    assert all(row["notified_at"] == "2024-02-02T11:00:00Z" for row in rows)


def test_members_never_told_get_an_initial_notice_in_a_csv_like_members_export(demo, tmp_path):
    target = tmp_path / "mailing.csv"
    exported = ok(
        exposure(
            "members", "export", "--incident", VIAMEDIS, "--insurer", MH, "--as-known-on", "2024-02-16", store=demo
        )
    )

    ok(
        exposure(
            *f"notify members --incident {VIAMEDIS} --insurer {MH} --as-known-on 2024-02-16".split(),
            "--out",
            str(target),
            store=demo,
        )
    )

    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["ref", "role", "contract", "status", "fields", "implied", "notified_at", "notice"]
    assert [r["ref"] for r in rows] == [r["ref"] for r in csv.DictReader(io.StringIO(exported))]
    assert {r["notice"] for r in rows} == {"initial"}
    assert {r["notified_at"] for r in rows} == {""}
    assert rows[0]["fields"] == "birth_date;civil_status;contract_guarantees;insurer_name;nir"
    assert rows[0]["implied"] == "birth_month;birth_year;birthplace;sex"


# -- notify letter ----------------------------------------------------------------------


def test_the_letter_is_a_mail_merge_template_in_clear_words(demo):
    french = letter(demo, "--as-known-on", "2024-02-08")
    english = letter(demo, "--as-known-on", "2024-02-08", "--lang", "en")

    assert "Adhésion n° {{ref}} ({{role}}, contrat {{contract}})." in french
    assert "numéro de sécurité sociale (NIR)" in french
    assert "Viamedis disconnected its viamedis.net portal" in french
    assert "www.cnil.fr" in french
    assert "[À COMPLÉTER : nom et coordonnées du délégué" in french
    assert "Membership no. {{ref}} ({{role}}, contract {{contract}})." in english
    assert "What could happen:" in english
    assert "nir" not in re.sub(r"\(NIR\)", "", english).lower().split()


# -- in a real browser ------------------------------------------------------------------


def test_the_html_draft_and_letter_render_in_headless_chromium(demo, tmp_path):
    from tests.cli.test_report_browser import browse, chromium, pixels  # noqa: PLC0415 - the browser helpers

    browser = chromium()
    about = ("--incident", VIAMEDIS, "--insurer", MH, "--as-known-on", "2024-02-08", "--format", "html")
    pages = {
        "draft": ("notify", "authority", *about),
        "complement": ("notify", "authority", *about, "--phase", "complementary"),
        "letter": ("notify", "letter", *about),
    }
    screenshots = Path(os.environ.get("NOTIFY_SCREENSHOTS", str(tmp_path)))
    screenshots.mkdir(parents=True, exist_ok=True)
    for name, args in pages.items():
        page = tmp_path / f"{name}.html"
        ok(exposure(*args, "--out", str(page), store=demo))
        shot = screenshots / f"notify-{name}.png"

        taken = browse(
            browser,
            tmp_path / f"profile-{name}",
            f"--screenshot={shot}",
            "--window-size=1000,2400",
            "--virtual-time-budget=10000",
            page.as_uri(),
        )
        dom = browse(browser, tmp_path / f"profile-dom-{name}", "--dump-dom", page.as_uri())

        assert taken.returncode == 0, taken.stderr.decode(errors="replace")[-2000:]
        width, height, image = pixels(shot.read_bytes())
        assert (width, height) == (1000, 2400)
        colours = Counter(image)
        assert len(colours) > 50, f"{name}: only {len(colours)} colours, a blank page?"
        assert colours[(0xFF, 0xE0, 0x8A)] > 100, f"{name}: the marked gaps are not painted"
        text = dom.stdout.decode()
        assert dom.returncode == 0
        assert '<mark class="gap">' in text
        if name == "letter":
            assert '<span class="placeholder">{{ref}}</span>' in text
        else:
            assert text.count('<tr id="fact-') >= 1


def test_text_from_the_facts_cannot_inject_markup_into_the_html_draft_or_letter(story, tmp_path):
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>\nsecond line"
    record(
        story,
        {
            "kind": "measure-taken",
            "id": "hostile",
            "incident": VIAMEDIS,
            "insurer": MH,
            "measure": hostile,
            "known_on": "2024-02-03",
        },
    )
    page, letter_page = tmp_path / "draft.html", tmp_path / "letter.html"

    authority(story, "--format", "html", "--as-known-on", "2024-02-05", "--out", str(page))
    letter(story, "--format", "html", "--as-known-on", "2024-02-05", "--out", str(letter_page))
    markdown = authority(story, "--as-known-on", "2024-02-05")

    for html_text in (page.read_text(encoding="utf-8"), letter_page.read_text(encoding="utf-8")):
        assert "<script>" not in html_text
        assert "<img" not in html_text
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html_text
    (line,) = [line for line in markdown.splitlines() if "alert" in line]
    assert line.startswith("- ")
    assert "second line" in line


def test_the_drafts_are_french_by_default_and_follow_the_root_language_option(demo):
    english = ok(exposure("--lang", "en", "notify", "letter", "--incident", VIAMEDIS, "--insurer", MH, store=demo))
    french = ok(
        subprocess.run(
            [str(EXPOSURE), "--store", str(demo), "notify", "letter", "--incident", VIAMEDIS, "--insurer", MH],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "LANG": "en_GB.UTF-8", "LC_ALL": "en_GB.UTF-8", "LANGUAGE": "en"},
        )
    )

    assert english.startswith("INFORMATION ABOUT A PERSONAL DATA BREACH")
    assert french.startswith("INFORMATION SUR UNE VIOLATION DE DONNÉES PERSONNELLES")
