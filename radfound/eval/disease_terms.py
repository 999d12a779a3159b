"""Disease names: SLAKE's labels (misspellings included) mapped to one canonical term, and found in free text.

The same table serves training (the derived reports say the canonical term) and evaluation (a draft
"names" a labelled disease when any of its terms occurs in it, as a whole word), so a draft is
never scored on a spelling the model was not taught. Matching is case-insensitive on word
boundaries; a term preceded by a negation in the same sentence ("No pleural effusion") does not
count as naming the disease.
"""

from __future__ import annotations

import re

#: canonical -> the terms that name it in a label or a draft (first: how a derived report writes it).
TERMS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("cardiomegaly", "cardiomegal", "cardiomega", "enlarged heart", "heart is enlarged",
                     "enlarged cardiac silhouette"),
    "pleural effusion": ("pleural effusion", "effusion", "effusions"),
    "pneumothorax": ("pneumothorax",),
    "nodule": ("nodule", "noudle", "pulmonary nodule", "nodules"),
    "mass": ("mass", "pulmonary mass", "masses"),
    "atelectasis": ("atelectasis", "atelectatic"),
    "pneumonia": ("pneumonia", "consolidation"),
    "infiltration": ("infiltration", "infiltrate", "infiltrates", "pulmonary infiltration"),
    "lung cancer": ("lung cancer", "lung carcinoma"),
    "liver cancer": ("liver cancer", "liver tumor", "liver tumour", "hepatic tumour", "hepatocellular carcinoma"),
    "brain tumor": ("brain tumor", "brain tumour", "brain enhancing tumor", "brain non-enhancing tumor",
                    "enhancing tumor", "non-enhancing tumor"),
    "brain edema": ("brain edema", "brain oedema", "brian edema", "cerebral edema", "edema", "oedema"),
    "kidney cancer": ("kidney cancer", "renal tumour", "renal tumor", "renal cell carcinoma"),
}

_NEGATION = re.compile(r"\b(no|without|not|negative for|free of)\b[^.;:\n]*$", re.IGNORECASE)
_BY_TERM = {term: canon for canon, terms in TERMS.items() for term in terms}


def canonical(label: str) -> str | None:
    """The canonical disease of a label (``"Noudle"`` -> ``"nodule"``), or None for a label not in the table."""
    key = " ".join(label.lower().replace("_", " ").split())
    return _BY_TERM.get(key)


def _term_pattern(term: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)


_PATTERNS = {canon: [_term_pattern(t) for t in sorted(terms, key=len, reverse=True)] for canon, terms in TERMS.items()}


def named_in(text: str) -> set[str]:
    """The canonical diseases a text names positively (a negated mention, "No pneumothorax.", is not naming)."""
    found = set()
    for canon, patterns in _PATTERNS.items():
        for pattern in patterns:
            if any(not _NEGATION.search(text[: m.start()].rsplit(".", 1)[-1]) for m in pattern.finditer(text)):
                found.add(canon)
                break
    return found
