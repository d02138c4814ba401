"""The words of the notifications, in French (the CNIL's language, the default) and English.

Templates use `str.format` fields; `{gap}` texts mark what a person must fill in.
Category labels of the built-in vocabulary (SPEC §4) are here; categories defined in a
ledger (`category-defined`) keep their own label.
"""

from __future__ import annotations

from typing import Final

LANGS: Final = ("fr", "en")

CATEGORY_LABELS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "civil_status": "état civil (nom, prénom, sexe)",
        "birth_date": "date de naissance",
        "birth_rank": "rang de naissance",
        "nir": "numéro de sécurité sociale (NIR)",
        "member_number": "numéro d'adhérent",
        "insurer_name": "nom de la complémentaire santé",
        "contract_guarantees": "garanties ouvertes au tiers payant",
        "operator_reference": "référence interne de l'opérateur",
        "postal_address": "adresse postale",
        "phone": "numéro de téléphone",
        "email": "adresse électronique",
        "bank": "coordonnées bancaires",
        "health": "données de santé",
        "reimbursements": "remboursements",
    },
    "en": {
        "civil_status": "civil status (last name, first name, sex)",
        "birth_date": "date of birth",
        "birth_rank": "birth rank",
        "nir": "social security number (NIR)",
        "member_number": "member number",
        "insurer_name": "name of the complementary health insurer",
        "contract_guarantees": "guarantees open to third-party payment",
        "operator_reference": "operator's internal reference",
        "postal_address": "postal address",
        "phone": "phone number",
        "email": "e-mail address",
        "bank": "bank details",
        "health": "health data",
        "reimbursements": "reimbursements",
    },
}

T: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "gap": "[À COMPLÉTER : {what}]",
        "title.initial": "Notification d'une violation de données à caractère personnel à la CNIL — {name}",
        "title.complementary": "Notification complémentaire à la CNIL (art. 33(4) RGPD) — {name}",
        "intro": "Brouillon établi à partir du registre des faits, état des connaissances au {as_known_on}"
        " (heures de {tz}). Chaque énoncé renvoie aux faits qui le fondent (annexe).",
        "intro.previous": "Complète la notification du {notified_at} (référence : {reference}). Seuls les éléments"
        " nouveaux depuis le {known_on} sont indiqués.",
        "s.nature": "1. Nature de la violation",
        "s.subjects": "2. Personnes concernées",
        "s.categories": "3. Catégories de données concernées",
        "s.consequences": "4. Conséquences probables",
        "s.measures": "5. Mesures prises ou envisagées",
        "s.contact": "6. Point de contact",
        "s.changes": "Ce qui a changé",
        "s.appendix": "Annexe — faits à l'appui",
        "nature.operator": "Accès non autorisé aux données des assurés chez le sous-traitant {operator}"
        " (opérateur de tiers payant){title}.",
        "nature.times": "Début de l'attaque : {attack_began} ; découverte par le sous-traitant : {discovered}.",
        "nature.aware": "{name} a eu connaissance de la violation le {aware_at}.",
        "deadline": "Délai de notification (72 heures, art. 33(1) RGPD) : {deadline}.",
        "status.on-time": "Notification faite le {notified_at} : délai respecté.",
        "status.late": "Notification faite le {notified_at}, après le délai. Motifs du retard : {reason}",
        "status.pending": "Délai en cours : notifier au plus tard le {deadline}.",
        "status.overdue": "Délai dépassé : notifier sans délai, avec les motifs du retard : {reason}",
        "gap.delay_reason": "motifs du retard (art. 33(1))",
        "subjects": "Environ {people} personnes ({memberships} adhésions : {holders} assurés principaux,"
        " {dependants} ayants droit), dont {confirmed} confirmées et {presumed} présumées.",
        "subjects.estimate": "Estimation de l'organisme : {estimate} personnes.",
        "gap.data_subjects": "nombre approximatif de personnes et d'enregistrements (aucune liste d'adhérents"
        " dans le registre)",
        "categories.exposed": "Données exposées : {list}.",
        "categories.implied": "Le NIR exposé révèle aussi le sexe, l'année et le mois de naissance et le lieu de"
        " naissance.",
        "categories.suspected": "Données dont l'exposition est suspectée, en cours de vérification : {list}.",
        "categories.ruled_out": "Données non concernées selon les informations disponibles : {list}.",
        "consequence.suspected": "Si l'exposition est confirmée : {text}",
        "measure": "{occurred_on} — {text}{kind}.",
        "gap.measures": "mesures prises ou envisagées pour remédier à la violation et en atténuer les effets",
        "contact": "Délégué à la protection des données : {contact}.",
        "gap.contact": "nom et coordonnées du délégué à la protection des données ou d'un autre point de contact",
        "gap.previous_reference": "référence de la notification initiale",
        "change.category": "{label} : {before} → {after}.",
        "change.subjects": "Personnes concernées : {before} → {after} ; adhésions : {mbefore} → {mafter}.",
        "change.members": "Adhésions nouvellement concernées : {newly_affected} ; qui ne le sont plus :"
        " {no_longer_affected} ; dont les données exposées ont changé : {fields_changed}.",
        "change.consequence": "Conséquence nouvelle : {text}",
        "change.consequence.suspected": "Conséquence possible nouvelle, si l'exposition est confirmée : {text}",
        "change.measure": "Mesure nouvelle : {occurred_on} — {text}{kind}.",
        "change.contact": "Nouveau point de contact : {contact}.",
        "change.none": "Aucun changement depuis la notification précédente.",
        "appendix.head": "| n° | fait | nature | connu le | source |",
        "none": "aucune",
        "kind.containment": "confinement",
        "kind.mitigation": "atténuation",
        "kind.communication": "communication",
        "kind.other": "autre",
        "status-word.exposed": "exposée",
        "status-word.suspected": "suspectée",
        "status-word.ruled-out": "écartée",
        "status-word.unknown": "inconnue",
        "refs": "faits",
    },
    "en": {
        "gap": "[TO FILL IN: {what}]",
        "title.initial": "Notification of a personal data breach to the CNIL — {name}",
        "title.complementary": "Complementary notification to the CNIL (GDPR Art. 33(4)) — {name}",
        "intro": "Draft written from the ledger's facts, as known on {as_known_on} ({tz} times). Every statement"
        " refers to the facts behind it (appendix).",
        "intro.previous": "Completes the notification of {notified_at} (reference: {reference}). Only what is new"
        " since {known_on} is stated.",
        "s.nature": "1. Nature of the breach",
        "s.subjects": "2. Data subjects",
        "s.categories": "3. Categories of personal data",
        "s.consequences": "4. Likely consequences",
        "s.measures": "5. Measures taken or proposed",
        "s.contact": "6. Contact point",
        "s.changes": "What changed",
        "s.appendix": "Appendix — the facts behind each statement",
        "nature.operator": "Unauthorised access to insured people's data at the processor {operator}"
        " (third-party-payment operator){title}.",
        "nature.times": "The attack began on {attack_began}; the processor discovered it on {discovered}.",
        "nature.aware": "{name} became aware of the breach on {aware_at}.",
        "deadline": "Notification deadline (72 hours, GDPR Art. 33(1)): {deadline}.",
        "status.on-time": "Notified on {notified_at}: deadline met.",
        "status.late": "Notified on {notified_at}, after the deadline. Reasons for the delay: {reason}",
        "status.pending": "The deadline is running: notify by {deadline}.",
        "status.overdue": "Deadline passed: notify without delay, with the reasons for the delay: {reason}",
        "gap.delay_reason": "reasons for the delay (Art. 33(1))",
        "subjects": "About {people} people ({memberships} memberships: {holders} holders, {dependants} dependants),"
        " {confirmed} confirmed and {presumed} presumed.",
        "subjects.estimate": "The insurer's estimate: {estimate} people.",
        "gap.data_subjects": "approximate number of people and records (no member list in the ledger)",
        "categories.exposed": "Exposed: {list}.",
        "categories.implied": "The exposed NIR also reveals sex, year and month of birth and place of birth.",
        "categories.suspected": "Suspected, being verified: {list}.",
        "categories.ruled_out": "Not concerned according to the information available: {list}.",
        "consequence.suspected": "If the exposure is confirmed: {text}",
        "measure": "{occurred_on} — {text}{kind}.",
        "gap.measures": "measures taken or proposed to address the breach and mitigate its effects",
        "contact": "Data protection officer: {contact}.",
        "gap.contact": "name and contact details of the data protection officer or another contact point",
        "gap.previous_reference": "reference of the initial notification",
        "change.category": "{label}: {before} → {after}.",
        "change.subjects": "People concerned: {before} → {after}; memberships: {mbefore} → {mafter}.",
        "change.members": "Memberships newly affected: {newly_affected}; no longer affected: {no_longer_affected};"
        " with changed exposed data: {fields_changed}.",
        "change.consequence": "New consequence: {text}",
        "change.consequence.suspected": "New possible consequence, if the exposure is confirmed: {text}",
        "change.measure": "New measure: {occurred_on} — {text}{kind}.",
        "change.contact": "New contact point: {contact}.",
        "change.none": "Nothing changed since the previous notification.",
        "appendix.head": "| no. | fact | kind | known on | source |",
        "none": "none",
        "kind.containment": "containment",
        "kind.mitigation": "mitigation",
        "kind.communication": "communication",
        "kind.other": "other",
        "status-word.exposed": "exposed",
        "status-word.suspected": "suspected",
        "status-word.ruled-out": "ruled out",
        "status-word.unknown": "unknown",
        "refs": "facts",
    },
}

LETTER: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "subject": "Objet : violation de données personnelles vous concernant",
        "salutation": "Madame, Monsieur,",
        "what": "Nous vous informons qu'une violation de données personnelles a touché {operator}, le prestataire"
        " qui gère pour {name} le tiers payant de votre complémentaire santé. Une personne non autorisée a pu"
        " consulter des informations vous concernant entre le {attack_began} et le {discovered}.",
        "member": "Adhésion n° {{{{ref}}}} ({{{{role}}}}, contrat {{{{contract}}}}).",
        "data": "Les informations concernées sont : {fields}.",
        "implied": "Votre numéro de sécurité sociale permet aussi de connaître votre sexe, votre année et votre mois"
        " de naissance et votre lieu de naissance.",
        "not": "Ne sont pas concernées, selon les informations dont nous disposons : {list}.",
        "consequences": "Ce qui pourrait arriver :",
        "measures": "Ce que nous avons fait :",
        "advice": "Ce que nous vous conseillons :",
        "advice.1": "Méfiez-vous des messages, appels ou courriers qui citent ces informations pour paraître"
        " crédibles, même s'ils semblent venir de votre complémentaire ou de l'Assurance Maladie.",
        "advice.2": "Ne communiquez jamais vos coordonnées bancaires, codes ou mots de passe en réponse à un"
        " message ou un appel.",
        "advice.3": "Vérifiez vos relevés de remboursements et de compte ; signalez toute anomalie.",
        "advice.4": "En cas de doute, rendez-vous sur cybermalveillance.gouv.fr.",
        "contact": "Pour toute question, vous pouvez contacter notre délégué à la protection des données : {contact}.",
        "cnil": "Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr).",
        "closing": "Nous vous prions d'accepter nos excuses pour cet incident.",
        "title": "Information sur une violation de données personnelles",
    },
    "en": {
        "subject": "Subject: a personal data breach concerning you",
        "salutation": "Dear member,",
        "what": "We are writing to tell you that {operator}, the company that handles third-party payment of your"
        " complementary health insurance for {name}, suffered a personal data breach. An unauthorised person may"
        " have seen information about you between {attack_began} and {discovered}.",
        "member": "Membership no. {{{{ref}}}} ({{{{role}}}}, contract {{{{contract}}}}).",
        "data": "The information concerned is: {fields}.",
        "implied": "Your social security number also reveals your sex, your year and month of birth and your place"
        " of birth.",
        "not": "Not concerned, according to the information we have: {list}.",
        "consequences": "What could happen:",
        "measures": "What we have done:",
        "advice": "What we advise you to do:",
        "advice.1": "Be wary of messages, calls or letters that quote this information to seem genuine, even if"
        " they appear to come from your insurer or the Assurance Maladie.",
        "advice.2": "Never give your bank details, codes or passwords in reply to a message or a call.",
        "advice.3": "Check your reimbursement and bank statements; report anything unusual.",
        "advice.4": "If in doubt, visit cybermalveillance.gouv.fr.",
        "contact": "If you have any question, you can contact our data protection officer: {contact}.",
        "cnil": "You may also lodge a complaint with the CNIL (www.cnil.fr).",
        "closing": "We apologise for this incident.",
        "title": "Information about a personal data breach",
    },
}
