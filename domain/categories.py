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
    label_fr: str = ""
    """The label in French, for human output in French (empty: the English label)."""
    risk: Risk = "normal"
    special: bool = False

    def label_in(self, lang: str) -> str:
        """The label in `lang` ('en' or 'fr')."""
        return self.label_fr if lang == "fr" and self.label_fr else self.label


BUILT_IN: Final[tuple[Category, ...]] = (
    Category(
        name="civil_status",
        label="Civil status (last name, first name, sex)",
        label_fr="état civil : nom, prénom, sexe",
    ),
    Category(name="birth_date", label="Date of birth", label_fr="date de naissance"),
    Category(name="birth_rank", label="Birth rank (twins)", label_fr="rang de naissance (jumeaux)"),
    Category(
        name="nir", label="Social security number (NIR)", label_fr="NIR (numéro de sécurité sociale)", risk="high"
    ),
    Category(name="member_number", label="Insurer member number", label_fr="numéro d'adhérent"),
    Category(name="insurer_name", label="Name of the complementary insurer", label_fr="nom de la complémentaire"),
    Category(
        name="contract_guarantees",
        label="Guarantees open to third-party payment",
        label_fr="garanties ouvertes au tiers payant",
    ),
    Category(
        name="operator_reference", label="Operator's internal reference", label_fr="référence interne de l'opérateur"
    ),
    Category(name="postal_address", label="Postal address", label_fr="adresse postale"),
    Category(name="phone", label="Phone number", label_fr="numéro de téléphone"),
    Category(name="email", label="E-mail address", label_fr="adresse e-mail"),
    Category(name="bank", label="Bank details", label_fr="coordonnées bancaires", risk="high"),
    Category(name="health", label="Health data", label_fr="données de santé", risk="high", special=True),
    Category(name="reimbursements", label="Reimbursements", label_fr="remboursements", risk="high", special=True),
)

BY_NAME: Final[dict[str, Category]] = {c.name: c for c in BUILT_IN}

BUILT_IN_NAMES: Final[frozenset[str]] = frozenset(c.name for c in BUILT_IN)

IMPLIED_BY_NIR: Final[tuple[str, ...]] = ("birth_month", "birth_year", "birthplace", "sex")


def implied(exposed: tuple[str, ...] | list[str]) -> list[str]:
    """What the exposed categories reveal beyond themselves (sorted)."""
    return list(IMPLIED_BY_NIR) if "nir" in exposed else []
