"""`exposure store rebuild`: the way back from a damaged projection (issue 10 §5).

A projection position moved back (facts projected twice), moved past the last fact (new
facts never projected) or naming another fact used to end in a traceback or in silently
stale answers. Now every command says what is wrong and to run `exposure store rebuild`,
which drops every projection and projects the facts again, with a progress bar.
"""

from __future__ import annotations

import json

import pytest

from tests.support import EXPOSURE, INCIDENT, Cli, error_lines, is_postgres, on_a_terminal
from tests.support.audit_story import SIZE, build, tamper

pytestmark = pytest.mark.two_backends  # tests/support: on SQLite and on PostgreSQL

QUESTIONS = (
    ("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-10", "--json"),
    ("member", "--insurer", "mh", "--ref", "m1", "--as-known-on", "2024-02-10", "--json"),
    ("obligations", "--incident", INCIDENT, "--as-known-on", "2024-02-10", "--json"),
)


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    return build(cli, write_file)


def answers(cli: Cli) -> list[str]:
    results = [cli(*question) for question in QUESTIONS]
    assert all(r.exit_code == 0 for r in results), [r.stderr for r in results]
    return [r.stdout for r in results]


def set_position(cli: Cli, name: str, notification_id: int, position: int) -> None:
    tamper(
        cli.path,
        (
            "UPDATE projection_state SET notification_id = ?, position = ? WHERE name = ?",
            (notification_id, position, name),
        ),
    )


DAMAGE = {
    "facts-behind": ("facts", 3, 3),
    "facts-ahead": ("facts", 9999, 9999),
    "facts-other-fact": ("facts", 5, 4),
    "members-ahead": ("members", 9999, 9999),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_bad_projection_position_says_to_rebuild_and_rebuild_restores_every_answer(story, damage):
    before = answers(story)
    set_position(story, *DAMAGE[damage])

    for question in QUESTIONS:
        refused = story(*question)
        assert refused.exit_code == 1, (refused.stdout, refused.stderr)
        (line,) = error_lines(refused)
        assert line.startswith("Error: the ")
        assert line.endswith("rebuild them from the facts with: exposure store rebuild")
        assert "Traceback" not in refused.stderr
    rebuilt = story("store", "rebuild", "--json")

    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["position"] == SIZE  # the roster and the story's facts
    assert answers(story) == before
    assert story("audit", "replay").exit_code == 0


def test_a_record_on_a_damaged_projection_says_to_rebuild_and_appends_nothing(story):
    set_position(story, "facts", 2, 2)

    result = story("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "lmg")

    assert result.exit_code == 1
    assert "exposure store rebuild" in result.stderr
    assert story("store", "rebuild").exit_code == 0
    assert story("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "lmg").exit_code == 0


def test_rebuild_brings_back_projection_rows_deleted_by_hand(story):
    before = answers(story)
    tamper(
        story.path, ("DELETE FROM member_versions WHERE ref = ?", ("m1",)), ("DELETE FROM facts WHERE pos > ?", (5,))
    )
    assert answers(story) != before

    rebuilt = story("store", "rebuild")

    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("Rebuilt the projections of ")
    assert answers(story) == before


@pytest.mark.sqlite_only  # the progress bar is the CLI's, whatever the backend
def test_rebuild_shows_a_progress_bar_on_a_terminal(story):
    assert not is_postgres(story.path)
    code, text = on_a_terminal([str(EXPOSURE), "--store", str(story.path), "store", "rebuild"])

    assert code == 0
    assert "members" in text
    assert "facts/s" in text
