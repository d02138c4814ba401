"""Hostile input on `import`, `record` and `members import`: wrong types, huge values, bad
encodings, NUL bytes, broken and deeply nested JSON, injection strings, enormous lines and
lists. Never a traceback: either the input is valid (and stored as plain data), or the
command exits 1 with only `Error: ...` lines on stderr and writes nothing.

The limits are documented in docs/SECURITY.md; each has its own clear error below.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.inputs import MAX_LINE
from domain.facts import KINDS
from domain.parse import MAX_ID, MAX_LIST, MAX_TEXT, input_keys, invisible
from ledger.roster import MAX_FIELD
from tests.support import INCIDENT, Cli, error_lines, ledger_size, opening

INJECTIONS = (
    "'); DROP TABLE facts;--",
    '"; DELETE FROM stored_events; --',
    "x' OR '1'='1",
    "$(rm -rf /)",
    "`id`",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "%s%s%s%n",
    "../../etc/passwd",
    "\u202eevil",
)
HOSTILE_TEXT = (
    *INJECTIONS,
    "",
    " ",
    "a\x00b",
    "\x1b[31mred",
    "line\nbreak",
    "\ud800",
    "\udcff",
    "é" * 3,
    "x" * (MAX_ID + 1),
    "x" * (MAX_TEXT + 1),
    "2024-02-30",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2024-02-01T10:00:00",
    "NaN",
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
EVERY_KEY = sorted({key for kind in KINDS for group in input_keys(kind) for key in group} | {"kind", "members"})


# -- what every rejection must look like ------------------------------------------------------


def assert_rejected_cleanly(result: Result, store: Path, size_before: int) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = error_lines(result)
    assert lines, "a rejection says why"
    assert all(line.startswith("Error: ") for line in lines), lines
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert ledger_size(store) == size_before


def assert_valid_or_rejected_cleanly(result: Result, store: Path, size_before: int) -> None:
    """Hostile but well-formed input may be valid: then it is stored as data, and the
    tables it names in jest are still there."""
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    if result.exit_code == 1:
        assert_rejected_cleanly(result, store, size_before)
    else:
        assert "Traceback" not in result.output
        assert ledger_size(store) >= size_before
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            assert db.execute("SELECT COUNT(*) FROM facts").fetchone()[0] == ledger_size(store)
        db.close()


@pytest.fixture
def opened_cli(cli: Cli, write_file) -> Cli:
    """The CLI on a store whose incident is open and one insurer named."""
    lines = [opening(), {"kind": "insurer-informed", "incident": INCIDENT, "insurer": "mh", "known_on": "2024-02-01"}]
    assert cli("import", str(write_file("open.jsonl", "".join(json.dumps(x) + "\n" for x in lines)))).exit_code == 0
    return cli


# -- hypothesis: JSON lines for `import` --------------------------------------------------------

scalars = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
VALID: dict[str, dict[str, Any]] = {
    "attack-discovered": {
        "incident": "fuzz-incident",
        "operator": "op",
        "occurred_on": "2024-01-22",
        "known_on": "2024-01-29",
    },
    "insurer-informed": {"incident": INCIDENT, "insurer": "mh", "known_on": "2024-02-01"},
    "insurer-confirmed-affected": {"incident": INCIDENT, "insurer": "mh", "estimate": 10},
    "scope-defined": {"incident": INCIDENT, "insurer": "mh", "roles": ["holder"], "enrolled_from": "2020-01-01"},
    "field-ruled-in": {"incident": INCIDENT, "categories": ["nir"], "insurer": "mh"},
    "members-enrolled": {"insurer": "mh", "members": [{"ref": "m1", "role": "holder", "from": "2020-01-01"}]},
    "members-notified": {"incident": INCIDENT, "insurer": "mh", "channel": "mail"},
    "category-defined": {"category": "fuzz-category", "label": "Fuzz", "risk": "high", "special": True},
    "authority-notified": {"incident": INCIDENT, "authority": "CNIL", "phase": "initial"},
    "measure-taken": {"incident": INCIDENT, "insurer": "mh", "measure": "Portal offline", "measure_kind": "other"},
    "insurer-described": {"insurer": "mh", "dpo_contact": "dpo@mh.example", "country": "FR"},
}
"""One valid fact per kind (on the `opened_cli` store); the fuzzers break one or two of its values."""


@st.composite
def facts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid fact with one or two values replaced by hostile ones (or a random object)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.dictionaries(st.sampled_from(EVERY_KEY), values, max_size=5))
    kind = draw(st.sampled_from(sorted(VALID)))
    item: dict[str, Any] = {"kind": kind, **VALID[kind]}
    required, optional = input_keys(kind)
    for key in draw(st.lists(st.sampled_from([*required, *optional, "kind", "members.ref"]), min_size=1, max_size=2)):
        if key == "members.ref":
            item["members"] = [{"ref": draw(values)}]
        else:
            item[key] = draw(values)
    return item


raw_tokens = st.sampled_from(
    [
        '{"kind":',
        "[",
        "]",
        "{",
        "}",
        '"',
        "\\u0000",
        "\\ud800",
        "1" * 5000,
        "[" * 3000,
        "NaN",
        "\x00",
        "\n",
        ",",
        ":",
        "null",
        '"members":[',
        "\ufeff",
    ]
)
lines = st.one_of(
    facts().map(lambda f: json.dumps(f, allow_nan=True)),
    st.sampled_from(["1" * 5000, '{"kind": "attack-discovered", "title": ' + "1" * 5000 + "}", "[" * 5000]),
    st.lists(raw_tokens, max_size=12).map("".join),
    st.text(max_size=60),
)


@FUZZ
@given(body=st.lists(lines, min_size=1, max_size=4))
def test_import_of_fuzzed_json_lines_never_fails_with_a_traceback(opened_cli, write_file, body):
    file = write_file("fuzz.jsonl", "\n".join(body) + "\n")
    before = ledger_size(opened_cli.path)

    result = opened_cli("import", str(file))

    assert_valid_or_rejected_cleanly(result, opened_cli.path, before)


@FUZZ
@given(data=st.binary(max_size=400))
def test_import_of_random_bytes_never_fails_with_a_traceback(opened_cli, tmp_path, data):
    file = tmp_path / "inputs" / "fuzz.bin"
    file.write_bytes(data)
    before = ledger_size(opened_cli.path)

    result = opened_cli("import", str(file))

    assert_valid_or_rejected_cleanly(result, opened_cli.path, before)
    if result.exit_code == 0:
        assert ledger_size(opened_cli.path) == before, "random bytes are never a fact"


# -- hypothesis: flags for `record` ---------------------------------------------------------------

flag_names = st.sampled_from(
    [f"--{key.replace('_', '-')}" for key in EVERY_KEY if key != "kind"] + ["--", "-x", "--=", "--json"]
)
flag_values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=20),
    st.sampled_from(
        [
            '{"ref": ' + "1" * 5000 + "}",
            '{"ref": ' + "[" * 3000,
            '{"ref": "m1", "nir": "2 84 01 75 123 456 00"}',
            "{",
            "99999999999999999999999999",
            "-1",
            "true",
            "maybe",
            ",,,",
            "holder,admin",
        ]
    ),
)


def as_flags(item: dict[str, Any]) -> dict[str, str]:
    """A fact object as `record` flags."""
    flags = {}
    for key, value in item.items():
        if key != "kind":
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            flags[f"--{key.replace('_', '-')}"] = json.dumps(value[0]) if key == "members" else text
    return flags


@FUZZ
@given(
    kind=st.sampled_from(sorted(VALID)),
    broken=st.lists(st.tuples(flag_names, flag_values), max_size=3),
    drop=st.sampled_from([None, "--incident", "--insurer", "--members", "--categories"]),
)
def test_record_with_fuzzed_flags_never_fails_with_a_traceback(opened_cli, kind, broken, drop):
    flags = {**as_flags(VALID[kind]), **dict(broken)}  # hostile values replace valid ones
    flags.pop(drop or "", None)
    before = ledger_size(opened_cli.path)

    result = opened_cli("record", kind, *[part for pair in flags.items() for part in pair])

    assert result.exit_code in (0, 1, 2)
    if result.exit_code == 2:  # usage errors are click's, and write nothing
        assert ledger_size(opened_cli.path) == before
    else:
        assert_valid_or_rejected_cleanly(result, opened_cli.path, before)
    assert ledger_size(opened_cli.path) in (before, before + 1)


# -- hypothesis: roster CSV for `members import` ---------------------------------------------------

cells = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=15),
    st.sampled_from(
        ["holder", "dependant", "2024-01-01", "2 84 01 75 123 456 78", '"', '""', ",", "\r", "x" * (MAX_FIELD + 1)]
    ),
)
headers = st.one_of(
    st.lists(st.sampled_from(["ref", "role", "contract", "from", "until", "nir"]), min_size=1, max_size=6, unique=True),
    st.lists(st.text(max_size=8), min_size=0, max_size=3),
)


@FUZZ
@given(
    header=headers,
    rows=st.lists(st.lists(cells, max_size=7), max_size=5),
    insurer=st.one_of(st.just("mh"), st.sampled_from(HOSTILE_TEXT)),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
)
def test_members_import_of_fuzzed_csv_never_fails_with_a_traceback(
    opened_cli, tmp_path, header, rows, insurer, encoding
):
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    file = tmp_path / "inputs" / "fuzz.csv"
    file.write_bytes(text.encode("utf-8", "surrogatepass") if encoding == "utf-8" else text.encode(encoding, "replace"))
    before = ledger_size(opened_cli.path)

    result = opened_cli("members", "import", "--insurer", insurer, str(file))

    assert_valid_or_rejected_cleanly(result, opened_cli.path, before)


# -- each documented limit has its own clear error ---------------------------------------------------


def attack(**keys: Any) -> dict[str, Any]:
    return {**opening(), "id": "attack-2", "incident": "other-incident", **keys}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (json.dumps(attack(note="x" * (MAX_TEXT + 1))), f"line 1: note: text longer than {MAX_TEXT} characters"),
        (json.dumps(attack(incident="x" * (MAX_ID + 1))), f"line 1: incident: text longer than {MAX_ID} characters"),
        (json.dumps(attack(operator="Via\x00medis")), "line 1: operator: control characters are not allowed"),
        (json.dumps(attack(operator="Via\ud800")), "line 1: operator: not valid Unicode text"),
        (json.dumps(attack(title=1)), "line 1: title: expected str | null, got int"),
        (
            '{"kind": "attack-discovered", "title": ' + "1" * 5000 + "}",
            "line 1: invalid JSON (a number with too many digits)",
        ),
        ("[" * 100_000 + "]" * 100_000, "line 1: JSON nested too deeply"),
        ('{"kind": "attack-discovered", "incident": ', "line 1: invalid JSON (Expecting value at column "),
        ('{"kind": "attack-discovered"} trailing', "line 1: invalid JSON (Extra data at column "),
        ("[1, 2]", "line 1: expected a JSON object, got a list"),
        (
            json.dumps(attack(occurred_on="0001-01-01T00:00:00+14:00")),
            "line 1: occurred_on: '0001-01-01T00:00:00+14:00' is out of range",
        ),
        (
            json.dumps(attack(known_on="9999-12-31T23:59:59-14:00")),
            "line 1: known_on: '9999-12-31T23:59:59-14:00' is out of range",
        ),
    ],
)
def test_each_limit_of_an_import_line_has_a_clear_error(opened_cli, write_file, line, message):
    before = ledger_size(opened_cli.path)

    result = opened_cli("import", str(write_file("bad.jsonl", line + "\n")))

    assert_rejected_cleanly(result, opened_cli.path, before)
    assert error_lines(result)[0].startswith(f"Error: {message}"), error_lines(result)


def test_a_list_longer_than_the_limit_is_refused(opened_cli, write_file):
    refs = [f"r{n}" for n in range(MAX_LIST + 1)]
    roster = {"kind": "members-enrolled", "insurer": "mh", "members": [{"ref": ref} for ref in refs]}
    findings = {"kind": "members-confirmed-affected", "incident": INCIDENT, "insurer": "mh", "refs": refs}
    before = ledger_size(opened_cli.path)

    too_many_members = opened_cli("import", str(write_file("members.jsonl", json.dumps(roster) + "\n")))
    too_many_refs = opened_cli("import", str(write_file("refs.jsonl", json.dumps(findings) + "\n")))

    assert_rejected_cleanly(too_many_members, opened_cli.path, before)
    assert_rejected_cleanly(too_many_refs, opened_cli.path, before)
    assert error_lines(too_many_members) == [f"Error: line 1: members: at most {MAX_LIST} entries, got {MAX_LIST + 1}"]
    assert error_lines(too_many_refs) == [f"Error: line 1: refs: at most {MAX_LIST} entries, got {MAX_LIST + 1}"]


def test_a_line_longer_than_the_limit_is_refused_without_parsing_it(opened_cli, tmp_path):
    file = tmp_path / "inputs" / "huge.jsonl"
    with file.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(attack()) + "\n")
        handle.write('{"kind": "attack-discovered", "note": "' + "x" * MAX_LINE + '"}\n')
    before = ledger_size(opened_cli.path)

    result = opened_cli("import", str(file))

    assert_rejected_cleanly(result, opened_cli.path, before)
    assert error_lines(result) == [f"Error: line 2: longer than {MAX_LINE // (1024 * 1024)} MiB"]


def test_a_file_that_is_not_utf8_is_refused(opened_cli, tmp_path):
    file = tmp_path / "inputs" / "latin1.jsonl"
    file.write_bytes(json.dumps(attack(operator="Mutuelle Générale"), ensure_ascii=False).encode("latin-1") + b"\n")
    before = ledger_size(opened_cli.path)

    result = opened_cli("import", str(file))

    assert_rejected_cleanly(result, opened_cli.path, before)
    assert error_lines(result)[0].startswith(f"Error: {file}: not UTF-8 text (byte ")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (f"ref,contract\nm1,{'c' * (MAX_FIELD + 1)}\n", f"line 2: field larger than field limit ({MAX_FIELD})"),
        (f"ref\n{'r' * (MAX_ID + 1)}\n", f"line 2: ref and contract must be at most {MAX_ID} characters"),
        ("ref,role\nm\x001,holder\n", "line 2: ref and contract must be at most"),
        ("ref,role\nm1,holder,extra\n", "line 2: expected 2 values, got 3"),
        ("ref,role\nm1,admin\n", "line 2: role: 'admin' is not one of holder, dependant"),
        ("ref,from\nm1,2024-02-30\n", "line 2: from: expected a date YYYY-MM-DD, got '2024-02-30'"),
        ("ref,nir\nm1,'); DROP TABLE facts;--\n", "line 2: invalid NIR"),
        ("name,email\nx,y\n", "the header has no ref column (roster columns: ref, role, contract, from, until, nir"),
        ("", "empty file"),
    ],
)
def test_each_limit_of_a_roster_row_has_a_clear_error(opened_cli, tmp_path, rows, message):
    file = tmp_path / "inputs" / "roster.csv"
    file.write_text(rows, encoding="utf-8")
    before = ledger_size(opened_cli.path)

    result = opened_cli("members", "import", "--insurer", "mh", str(file))

    assert_rejected_cleanly(result, opened_cli.path, before)
    assert message in error_lines(result)[0], error_lines(result)


def test_record_refuses_undecodable_bytes_and_out_of_range_times(opened_cli):
    before = ledger_size(opened_cli.path)

    surrogate = opened_cli("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "m\udcffh")
    far_past = opened_cli(
        "record",
        "insurer-informed",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--known-on",
        "0001-01-01T00:00:00+05:00",
    )
    deep = opened_cli("record", "members-enrolled", "--insurer", "mh", "--members", '{"ref": ' + "[" * 5000)
    query = opened_cli("member", "--insurer", "m\udcffh", "--ref", "x")

    for result in (surrogate, far_past, deep, query):
        assert_rejected_cleanly(result, opened_cli.path, before)
    assert error_lines(surrogate) == [
        "Error: insurer: not valid Unicode text (a lone surrogate, e.g. from undecodable bytes)"
    ]
    assert error_lines(far_past)[0].startswith("Error: known_on: '0001-01-01T00:00:00+05:00' is out of range")
    assert error_lines(deep)[0].startswith("Error: --members: invalid JSON object")
    assert error_lines(query) == ["Error: an argument is not valid UTF-8 text"]


def test_injection_strings_are_stored_as_plain_data(opened_cli, write_file, store_path):
    # An id with a bidi override is refused (ids that look alike must be alike:
    # test_hardening_input_attacks.py); in a note it is plain data like the others.
    ids = {text: text if invisible(text) is None else f"insurer-{n}" for n, text in enumerate(INJECTIONS)}
    facts = [
        {"kind": "insurer-informed", "incident": INCIDENT, "insurer": ids[text], "known_on": "2024-02-01", "note": text}
        for text in INJECTIONS
    ]

    imported = opened_cli("import", str(write_file("injections.jsonl", "".join(json.dumps(f) + "\n" for f in facts))))
    summary = json.loads(opened_cli("summary", "--incident", INCIDENT, "--json").stdout)

    assert imported.exit_code == 0, imported.output
    assert sorted(summary["insurers"]["informed"]) == sorted(["mh", *(t.strip() for t in ids.values())])
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert {"facts", "stored_events"} <= tables
    assert ledger_size(store_path) == 2 + len(INJECTIONS)


def test_an_error_quoting_user_text_stays_one_line_without_terminal_escapes(opened_cli, tmp_path):
    file = tmp_path / "inputs" / "roster.csv"
    file.write_text('id,"\x1b]0;pwned\x07\nrole\x0c"\nm1,x\n', encoding="utf-8")  # no ref column: an error

    result = opened_cli("members", "import", "--insurer", "mh", str(file))

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    assert "\\x1b]0;pwned\\x07\\nrole" in result.stderr
