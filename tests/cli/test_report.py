"""`exposure report`: one self-contained HTML page, checked as text and as XML.

The browser rendering is checked in test_report_browser.py.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.support import INCIDENT, Cli, error_lines, fact, opening

SVG = "{http://www.w3.org/2000/svg}"

STORY = [
    opening(title="Scraping of the portal", source="FSPF <press> & co"),
    fact(
        "insurer-informed",
        id="mh-told",
        incident=INCIDENT,
        insurer="mh",
        known_on="2024-01-30",
        source="Le Monde Informatique",
    ),
    fact(
        "insurer-confirmed-affected",
        id="mh-affected",
        incident=INCIDENT,
        insurer="mh",
        known_on="2024-02-01",
        source="Malakoff Humanis e-mail",
    ),
    fact(
        "field-ruled-in",
        id="communique",
        incident=INCIDENT,
        categories=["civil_status", "nir"],
        known_on="2024-02-01",
        source="Viamedis communiqué",
    ),
    fact(
        "field-ruled-in",
        id="health-in",
        incident=INCIDENT,
        categories=["health"],
        known_on="2024-02-08",
        source="<script>alert(1)</script>",
    ),
    fact("authority-notified", id="mh-cnil", incident=INCIDENT, authority="CNIL", insurer="mh", known_on="2024-02-02"),
    fact("fact-retracted", id="health-wrong", fact="health-in", known_on="2024-02-12", reason="one invoice"),
]


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    roster = write_file("mh.csv", "ref,role\nm1,holder\nm2,dependant\n")
    assert cli("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01").exit_code == 0
    assert cli("import", str(write_file("story.jsonl", jsonl(*STORY)))).exit_code == 0
    return cli


def write_report(cli: Cli, target: Path, *args: str) -> str:
    result = cli("report", "--incident", INCIDENT, "--html", str(target), *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return target.read_text(encoding="utf-8")


def chart_of(page: str) -> ET.Element:
    """The inline SVG, parsed as XML (it must be well-formed)."""
    match = re.search(r"<svg .*?</svg>", page, re.DOTALL)
    assert match, "no inline SVG"
    return ET.fromstring(match.group(0))  # noqa: S314 - our own output, parsed to prove it is well-formed


class Tags(HTMLParser):
    """Every start tag and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_is_one_page_that_loads_nothing_from_anywhere(story, tmp_path):
    page = write_report(story, tmp_path / "report.html")

    parser = Tags()
    parser.feed(page)
    names = {tag for tag, _ in parser.tags}
    assert names.isdisjoint({"script", "link", "img", "iframe", "object", "embed"})
    assert not [attrs for _, attrs in parser.tags if "src" in attrs or "href" in attrs]
    assert "url(" not in page
    assert "@import" not in page
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"]  # a namespace, not a fetch


def test_report_chart_has_a_marker_per_fact_and_shows_the_retraction(story, tmp_path):
    svg = chart_of(write_report(story, tmp_path / "report.html"))

    titles = [t.text or "" for t in svg.iter(f"{SVG}title")]
    marked = {t.split(" ")[0] for t in titles if " known " in t}
    # Every fact known since the incident opened (the roster is older: it is in the sources only).
    assert marked == {
        f"open-{INCIDENT}",
        "mh-told",
        "mh-affected",
        "communique",
        "health-in",
        "mh-cnil",
        "health-wrong",
    }
    retractions = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "retraction"]
    assert len(retractions) == 1
    hollow = [c for c in svg.iter(f"{SVG}circle") if c.get("fill") == "#fff" and "health-in" in "".join(c.itertext())]
    assert len(hollow) == 1  # the retracted fact is drawn hollow


def test_report_chart_steps_follow_the_timeline(story, tmp_path):
    svg = chart_of(write_report(story, tmp_path / "report.html"))

    steps = [t.text for t in svg.iter(f"{SVG}title") if t.text and " members, " in t.text]
    assert steps == [
        "2024-01-28T23:00:00Z: 0 members, 0 fields",
        "2024-01-29T23:00:00Z: 0 members, 0 fields",
        "2024-01-31T23:00:00Z: 2 members, 2 fields",
        "2024-02-07T23:00:00Z: 2 members, 3 fields",
        "2024-02-11T23:00:00Z: 2 members, 2 fields",
    ]


def test_report_shows_summary_obligations_and_every_source_escaped(story, tmp_path):
    page = write_report(story, tmp_path / "report.html")

    assert "<h1>Scraping of the portal</h1>" in page
    assert "FSPF &lt;press&gt; &amp; co" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    for source in ("Le Monde Informatique", "Malakoff Humanis e-mail", "Viamedis communiqué"):
        assert source in page
    assert "roster of <code>mh</code> (1 fact)" in page
    assert "retracted by <code>health-wrong</code>" in page
    assert "<span class='badge ok'>on time</span>" in page
    assert "GDPR Art. 33(1)" in page


def test_report_as_known_on_an_earlier_date_leaves_later_facts_out(story, tmp_path):
    page = write_report(story, tmp_path / "report.html", "--as-known-on", "2024-02-05")

    svg = chart_of(page)
    marked = {(t.text or "").split(" ")[0] for t in svg.iter(f"{SVG}title") if " known " in (t.text or "")}
    assert "health-in" not in marked
    assert "health-wrong" not in marked
    assert "as known on 2024-02-05 23:59" in page


def test_report_with_json_describes_the_file_written(story, tmp_path):
    target = tmp_path / "r.html"

    result = story("report", "--incident", INCIDENT, "--html", str(target), "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["html"] == str(target)
    assert data["bytes"] == len(target.read_bytes())


def test_report_of_an_unknown_incident_writes_nothing(story, tmp_path):
    target = tmp_path / "report.html"

    result = story("report", "--incident", "nope", "--html", str(target))

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: unknown incident 'nope'"]
    assert not target.exists()
    assert list(tmp_path.glob(".report-*")) == []


def test_report_into_a_missing_folder_is_rejected(story, tmp_path):
    result = story("report", "--incident", INCIDENT, "--html", str(tmp_path / "no" / "such" / "report.html"))

    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.startswith("Error: --html: no such folder")
