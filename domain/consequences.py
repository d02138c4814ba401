"""Likely consequences of a breach for the people concerned, as data (GDPR Art. 33(3)(c), 34(2)).

Kept beside the obligation rules (`domain.obligations`): like the deadlines, this table is
what a DPO would revise, not code. An entry applies when every one of its categories is
exposed for the insurer; a suspected category brings its entries as possible consequences
("if confirmed"). The texts are written for the notification to the authority and for the
letter to members alike, in French (the CNIL's language) and English.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True, kw_only=True)
class Consequence:
    """One likely consequence and the exposed categories that make it likely (all of them)."""

    id: str
    categories: frozenset[str]
    en: str
    fr: str

    def text(self, lang: str) -> str:
        """The text in `lang` (`fr` or `en`)."""
        return self.fr if lang == "fr" else self.en


CONSEQUENCES: Final[tuple[Consequence, ...]] = (
    Consequence(
        id="identity-theft",
        categories=frozenset({"nir", "civil_status", "birth_date"}),
        en="Identity theft: name, date of birth and social security number together are enough to open accounts,"
        " take out contracts or claim benefits in the person's name.",
        fr="Usurpation d'identité : nom, date de naissance et numéro de sécurité sociale réunis suffisent à ouvrir"
        " des comptes, souscrire des contrats ou demander des prestations au nom de la personne.",
    ),
    Consequence(
        id="targeted-phishing",
        categories=frozenset({"civil_status", "insurer_name"}),
        en="Targeted phishing: messages, calls or letters that pose as the insurer, the Assurance Maladie or a health"
        " professional and quote true details to obtain bank details, passwords or payments.",
        fr="Hameçonnage ciblé : messages, appels ou courriers se faisant passer pour la complémentaire santé,"
        " l'Assurance Maladie ou un professionnel de santé, citant des informations exactes pour obtenir des"
        " coordonnées bancaires, des mots de passe ou des paiements.",
    ),
    Consequence(
        id="nir-permanent",
        categories=frozenset({"nir"}),
        en="The social security number is a lifelong identifier that cannot be changed; it also reveals sex, year and"
        " month of birth and place of birth, and links the person's records across files.",
        fr="Le numéro de sécurité sociale est un identifiant à vie qui ne peut pas être changé ; il révèle aussi le"
        " sexe, l'année et le mois de naissance et le lieu de naissance, et permet de rapprocher des fichiers.",
    ),
    Consequence(
        id="cover-revealed",
        categories=frozenset({"contract_guarantees"}),
        en="The level of health cover becomes known, which can make scams about reimbursements more convincing.",
        fr="Le niveau de couverture santé est connu, ce qui peut rendre plus crédibles des escroqueries aux"
        " remboursements.",
    ),
    Consequence(
        id="member-impersonation",
        categories=frozenset({"member_number", "insurer_name"}),
        en="Impersonation of the member towards the insurer (requests made with the member number).",
        fr="Usurpation de l'adhérent auprès de sa complémentaire (demandes faites avec le numéro d'adhérent).",
    ),
    Consequence(
        id="financial-fraud",
        categories=frozenset({"bank"}),
        en="Financial fraud: fraudulent debits or direct-debit mandates on the person's account.",
        fr="Fraude financière : prélèvements ou mandats de prélèvement frauduleux sur le compte de la personne.",
    ),
    Consequence(
        id="health-disclosure",
        categories=frozenset({"health"}),
        en="Disclosure of health information: discrimination (employment, insurance, credit), distress and loss of"
        " confidentiality about the person's care.",
        fr="Divulgation d'informations de santé : discrimination (emploi, assurance, crédit), détresse et perte de"
        " confidentialité sur les soins de la personne.",
    ),
    Consequence(
        id="care-revealed",
        categories=frozenset({"reimbursements"}),
        en="Reimbursements reveal the care received, hence health conditions: discrimination and distress.",
        fr="Les remboursements révèlent les soins reçus, donc l'état de santé : discrimination et détresse.",
    ),
    Consequence(
        id="unsolicited-contact",
        categories=frozenset({"postal_address"}),
        en="Unsolicited mail and scams sent to the person's home.",
        fr="Courriers non sollicités et escroqueries envoyés au domicile de la personne.",
    ),
    Consequence(
        id="phone-scams",
        categories=frozenset({"phone"}),
        en="Scam calls and text messages (vishing, smishing).",
        fr="Appels et SMS frauduleux (vishing, smishing).",
    ),
    Consequence(
        id="email-phishing",
        categories=frozenset({"email"}),
        en="Phishing e-mails and spam.",
        fr="Courriels d'hameçonnage et pourriels.",
    ),
)


@dataclass(frozen=True, slots=True)
class Likely:
    """A consequence that applies, and whether it is likely (exposed) or possible (suspected)."""

    consequence: Consequence
    status: str
    """`exposed`: every category exposed; `suspected`: some suspected, the others exposed."""


def likely(exposed: Collection[str], suspected: Collection[str] = ()) -> list[Likely]:
    """The consequences the exposed (and suspected) categories make likely, in table order."""
    found: list[Likely] = []
    for entry in CONSEQUENCES:
        if entry.categories <= set(exposed):
            found.append(Likely(entry, "exposed"))
        elif entry.categories <= set(exposed) | set(suspected):
            found.append(Likely(entry, "suspected"))
    return found
