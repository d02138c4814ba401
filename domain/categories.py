"""Field categories: the built-in vocabulary of SPEC §4.

`civil_status` is « état civil »: last name, first name and sex, not marital
status. An exposed `nir` also reveals sex, birth year and month and birthplace;
answers list those as `implied`.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

Risk = Literal["normal", "high"]


class Category(msgspec.Struct, frozen=True, kw_only=True):
    """One class of personal data."""

    name: str
    label: str
    risk: Risk = "normal"
    special: bool = False


BUILT_IN: Final[tuple[Category, ...]] = (
    Category(name="civil_status", label="Civil status (last name, first name, sex)"),
    Category(name="birth_date", label="Date of birth"),
    Category(name="birth_rank", label="Birth rank (twins)"),
    Category(name="nir", label="Social security number (NIR)", risk="high"),
    Category(name="member_number", label="Insurer member number"),
    Category(name="insurer_name", label="Name of the complementary insurer"),
    Category(name="contract_guarantees", label="Guarantees open to third-party payment"),
    Category(name="operator_reference", label="Operator's internal reference"),
    Category(name="postal_address", label="Postal address"),
    Category(name="phone", label="Phone number"),
    Category(name="email", label="E-mail address"),
    Category(name="bank", label="Bank details", risk="high"),
    Category(name="health", label="Health data", risk="high", special=True),
    Category(name="reimbursements", label="Reimbursements", risk="high", special=True),
)

BUILT_IN_NAMES: Final[frozenset[str]] = frozenset(c.name for c in BUILT_IN)

IMPLIED_BY_NIR: Final[tuple[str, ...]] = ("birth_month", "birth_year", "birthplace", "sex")


def implied(exposed: tuple[str, ...] | list[str]) -> list[str]:
    """What the exposed categories reveal beyond themselves (sorted)."""
    return list(IMPLIED_BY_NIR) if "nir" in exposed else []
