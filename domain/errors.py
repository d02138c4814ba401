"""Every rejection a user can see is a `LedgerError`, with a one-line message."""

from __future__ import annotations


class LedgerError(Exception):
    """Input rejected or a domain rule broken; nothing was written.

    `problems` holds one line per problem (with its line or row number where
    there is one); `str()` is the first of them, for one-line reporting.
    """

    def __init__(self, *problems: str) -> None:
        self.problems: tuple[str, ...] = problems or ("rejected",)
        super().__init__(self.problems[0])

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        more = len(self.problems) - 1
        return f"{self.problems[0]} (and {more} more problem{'s' if more > 1 else ''})"


class InvalidFact(LedgerError):
    """A fact is malformed: unknown kind or key, missing key, wrong type or value."""


class InvalidTime(InvalidFact):
    """A time could not be read, lies in the future, or precedes `occurred_on`."""


class InvalidNIR(InvalidFact):
    """A social security number (NIR) is not 15 characters with a valid key."""


class UnknownReference(LedgerError):
    """A fact names an incident, insurer, member, category or fact the ledger does not know."""


class ConflictingFact(LedgerError):
    """A fact id was reused with different content, or a retraction is not allowed."""


class StoreError(LedgerError):
    """The store or its key file is missing, unreadable or unsafe."""


class AuditFailure(Exception):
    """The ledger failed verification or replay (exit 3); `position` is the first bad one, if known.

    Not a `LedgerError`: nothing the user typed was wrong, the store itself is.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ConcurrentAppend(Exception):
    """Another writer appended first; the caller re-reads the ledger and retries.

    Never shown to a user: the append loop retries it.
    """
