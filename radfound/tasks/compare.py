"""Compare with prior: what changed between the patient's prior study and this one, finding by finding.

Both studies are drafted by the same model (each encoded once). Each draft is reduced to its asserted
findings (a negated sentence asserts nothing):

- mammography and neck CT: (finding, side, quadrant / pole) with the phantom vocabulary of radfound.eval.findings;
- chest X-ray and other images: every disease the sentence names (radfound.eval.disease_terms) with the side
  the sentence gives, if any.

A finding in both studies is ``unchanged``, unless the boxes the model drew for it in both differ in area by more
than ``SIZE_CHANGE`` (then ``larger`` / ``smaller``); only in the current study ``new``; only in the prior
``resolved``. The result is a Comparison section for the draft ("Prior: ...", one line per finding), or "No
prior available." Everything stays a preliminary AI draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from radfound.eval.disease_terms import named_in
from radfound.eval.findings import extract_findings

SIZE_CHANGE = 1.25  # area ratio beyond which a boxed finding is called larger / smaller
NO_PRIOR = "No prior available."
_SENTENCE = re.compile(r"(?<=[.;])\s+|\n+")
_NEGATION = re.compile(r"\b(no|without|unremarkable|normal|negative|resolved)\b")
_SIDE = re.compile(r"\b(left|right|bilateral)\b")


@dataclass(frozen=True)
class Change:
    finding: str
    location: str
    status: str  # new, unchanged, resolved, larger, smaller

    def line(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.finding[0].upper()}{self.finding[1:]}{where}: {self.status}."

    def to_json(self) -> dict:
        return {"finding": self.finding, "location": self.location, "status": self.status}


def asserted_findings(draft, kind: str) -> set[tuple[str, str]]:
    """{(finding, location)} the draft's Findings assert."""
    if kind in ("mammo", "ct"):
        return {(f, " ".join(p for p in (side, where) if p)) for f, side, where in
                extract_findings(f"FINDINGS: {draft.findings}", kind)}
    out = set()
    for sentence in _SENTENCE.split(draft.findings.lower()):
        if _NEGATION.search(sentence):
            continue
        side = _SIDE.search(sentence)
        for disease in named_in(sentence):
            out.add((disease, side.group(1) if side else ""))
    return out


def _area(draft, finding: str) -> float | None:
    boxes = [b for b in draft.boxes if finding.split()[-1] in b.label.lower()]
    return sum(abs(b.x1 - b.x0) * abs(b.y1 - b.y0) for b in boxes) if boxes else None


def compare_drafts(current, prior, kind: str) -> list[Change]:
    """The per-finding changes from ``prior`` to ``current`` (module docstring), sorted by finding."""
    now, before = asserted_findings(current, kind), asserted_findings(prior, kind)
    changes = []
    for finding, location in sorted(now | before):
        if (finding, location) not in before:
            status = "new"
        elif (finding, location) not in now:
            status = "resolved"
        else:
            status = "unchanged"
            a, b = _area(current, finding), _area(prior, finding)
            if a and b and a / b > SIZE_CHANGE:
                status = "larger"
            elif a and b and b / a > SIZE_CHANGE:
                status = "smaller"
        changes.append(Change(finding, location, status))
    return changes


def comparison_text(prior_name: str | None, changes: list[Change]) -> str:
    """The Comparison section: the prior named, then one line per finding (or that neither study has any)."""
    if prior_name is None:
        return NO_PRIOR
    lines = [f"Prior: {prior_name}."]
    lines += [c.line() for c in changes] or ["No finding in either study."]
    return "\n".join(lines)


_COMPARISON = re.compile(r"^\s*COMPARISON:\s*\n(.*?)(?=^\s*(?:FINDINGS|IMPRESSION):)", re.S | re.M)


def split_comparison(text: str) -> tuple[str, str]:
    """(the Comparison section, the rest) of a report as a radiologist left it ("" when it has none)."""
    m = _COMPARISON.search(text)
    if m is None:
        return "", text
    return m.group(1).strip(), text[:m.start()] + text[m.end():]
