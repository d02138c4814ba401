"""From user input (a JSON object or command-line flags) to a validated `Fact`.

Parsing checks everything a single fact can be checked for on its own: kind and
keys, types, times (never in the future, never before `occurred_on`), NIRs (then
replaced by their pseudonym). What needs the ledger's knowledge (does the
incident exist, is the ref enrolled) is checked by `domain.rules`.

fact (one fact's keys, times and types), members (roster members and their NIRs),
text (text values cleaned: lengths, control and invisible characters, identifiers).
"""

from domain.parse.fact import DEFAULTED, Context, Parsed, enrolment, input_keys, parse_fact
from domain.parse.members import member_from_mapping, members_of, roster_member
from domain.parse.text import MAX_ID, MAX_LIST, MAX_TEXT, check_identifier, clean_value, invisible, json_type, key_names

__all__ = [
    "DEFAULTED",
    "MAX_ID",
    "MAX_LIST",
    "MAX_TEXT",
    "Context",
    "Parsed",
    "check_identifier",
    "clean_value",
    "enrolment",
    "input_keys",
    "invisible",
    "json_type",
    "key_names",
    "member_from_mapping",
    "members_of",
    "parse_fact",
    "roster_member",
]
