"""`exposure report` rendered by a real browser: Debian's headless chromium.

The page is screenshotted and the PNG decoded with the standard library (zlib): it must
not be blank, and the chart's two series colours must be painted. The DOM chromium
built must hold the chart's SVG. Without chromium the test is skipped, except in CI
(CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.render.report_chart import FIELDS_COLOUR, MEMBERS_COLOUR
from tests.support import INCIDENT, Cli, fact, opening

WINDOW = (1200, 1600)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The browser, or a skip (a failure in CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed, but CI must render the report (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def browse(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=180,
        check=False,
    )


# -- a PNG reader (RGB or RGBA, 8 bits, not interlaced) ---------------------------------


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels) of a PNG, decoded with zlib and the five scanline filters."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data = 8, bytearray()
    header: tuple[int, ...] = ()
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert (depth, interlace) == (8, 0), header
    assert colour_type in (2, 6), header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(data))
    stride = width * channels
    previous = bytearray(stride)
    out: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + previous[i]) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + previous[i]) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - channels] if i >= channels else 0
                line[i] = (line[i] + paeth(left, previous[i], corner)) & 0xFF
        out.extend(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return width, height, out


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


# -- the test ---------------------------------------------------------------------------


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


STORY = [
    opening(title="Scraping of the portal", source="FSPF"),
    fact("insurer-informed", id="mh-told", incident=INCIDENT, insurer="mh", known_on="2024-01-30"),
    fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact(
        "field-ruled-in",
        id="communique",
        incident=INCIDENT,
        categories=["civil_status", "birth_date", "nir"],
        known_on="2024-02-01",
        source="Viamedis communiqué",
    ),
    fact("insurer-confirmed-affected", id="lmg-affected", incident=INCIDENT, insurer="lmg", known_on="2024-02-08"),
    fact("field-ruled-in", id="health-in", incident=INCIDENT, categories=["health"], known_on="2024-02-08"),
    fact("fact-retracted", id="health-wrong", fact="health-in", known_on="2024-02-12"),
    fact("authority-notified", id="mh-cnil", incident=INCIDENT, authority="CNIL", insurer="mh", known_on="2024-02-02"),
]


def test_the_report_renders_in_a_browser_with_its_chart(cli: Cli, write_file, tmp_path):
    browser = chromium()
    for insurer, rows in (("mh", "m1\nm2\nm3\n"), ("lmg", "l1\nl2\n")):
        roster = write_file(f"{insurer}.csv", "ref\n" + rows)
        assert cli("members", "import", "--insurer", insurer, str(roster), "--known-on", "2024-01-01").exit_code == 0
    assert cli("import", str(write_file("story.jsonl", jsonl(*STORY)))).exit_code == 0
    page = tmp_path / "report.html"
    assert cli("report", "--incident", INCIDENT, "--html", str(page)).exit_code == 0
    screenshot = tmp_path / "report.png"

    shot = browse(
        browser,
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        page.as_uri(),
    )
    dom = browse(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())

    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    width, height, image = pixels(screenshot.read_bytes())
    assert (width, height) == WINDOW
    colours = Counter(image)
    white = colours[(255, 255, 255)]
    assert len(colours) > 200, f"only {len(colours)} colours: a blank page?"
    assert len(image) - white > len(image) // 5, "mostly white: nothing rendered?"
    assert colours[rgb(MEMBERS_COLOUR)] > 200, "the members line is not painted"
    assert colours[rgb(FIELDS_COLOUR)] > 50, "the fields line is not painted"
    text = dom.stdout.decode()
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in text
    assert 'id="timeline-chart"' in text
    assert text.count("<circle") >= len(STORY)
