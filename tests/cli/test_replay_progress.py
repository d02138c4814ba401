"""`audit replay` shows its progress on stderr: a bar when stderr is a terminal, plain lines
with --progress when it is not (a log), nothing otherwise; the output (`--json`) never
holds any of it. At 20 M members a replay takes a quarter of an hour: its user must see it
move."""

from __future__ import annotations

import json

from tests.support import EXPOSURE, Cli, on_a_terminal
from tests.support.audit_story import SIZE, build


def test_replay_shows_a_progress_bar_when_stderr_is_a_terminal(cli: Cli, write_file, tmp_path):
    story = build(cli, write_file)
    output = tmp_path / "replay.json"
    with output.open("wb") as sink:
        code, text = on_a_terminal([str(EXPOSURE), "--store", str(story.path), "audit", "replay", "--json"], sink)

    assert code == 0
    assert "member_versions" in text
    assert "rows/s" in text
    assert json.loads(output.read_text())["facts"] == SIZE  # the bar went to the terminal, not into the JSON


def test_replay_with_progress_writes_lines_on_stderr_and_only_json_on_stdout(cli: Cli, write_file):
    story = build(cli, write_file)

    result = story("audit", "replay", "--json", "--progress")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["facts"] == SIZE
    lines = result.stderr.splitlines()
    assert any(line.startswith("rebuild: ") and " facts" in line for line in lines), lines
    ended = [line for line in lines if line.startswith("member_versions: ")]
    assert ended, lines
    assert "(100%)" in ended[-1]
    assert all(": " in line and line.endswith(" s") for line in lines), lines


def test_replay_says_nothing_on_stderr_when_it_is_not_a_terminal_and_progress_was_not_asked(cli: Cli, write_file):
    story = build(cli, write_file)

    result = story("audit", "replay")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"Replayed {SIZE} facts")
