"""Finding-level precision, recall and F1 of drafted reports against phantom ground truth.

A report is reduced to a set of findings by reading its FINDINGS section sentence by
sentence with the phantom report vocabulary (docs/evaluation.md):

- mammography: ``mass`` / ``calcifications`` with the breast side (from a
  ``Left breast:`` / ``Right breast:`` lead-in or the sentence) and the quadrant
  (``upper outer`` ... ``lower inner``);
- neck CT: ``nodule`` with the thyroid lobe side and the pole (upper, mid, lower).

A sentence that negates (``no mass``, ``unremarkable``, ``without``) asserts nothing.
Two scores are kept: ``side`` level (finding type + side) and ``location`` level
(type + side + quadrant/pole). Scores are micro-averaged over the set; a normal
study with an empty draft and empty truth counts as agreement. ``f1_ci95`` is F1's 95%
interval from resampling whole studies (radfound.eval.uncertainty).
"""

from __future__ import annotations

import re

from radfound.eval.uncertainty import ratio_ci
from radfound.tasks.prompts import parse_report

_QUADRANT = re.compile(r"\b(upper|lower)\s+(outer|inner)\b")
_POLE = re.compile(r"\b(upper pole|lower pole|mid(?:dle)?(?: portion)?)\b")
_SIDE = re.compile(r"\b(left|right)\b")
_NEGATION = re.compile(r"\b(no|without|unremarkable|normal|negative)\b")
_SENTENCE = re.compile(r"(?<=[.;])\s+|\n+")


def extract_findings(report: str, kind: str) -> set[tuple[str, str, str]]:
    """{(finding, side, where)} asserted in the Findings section (whole text if it has no headers)."""
    findings, _ = parse_report(report)
    text = (findings or report).lower()
    out: set[tuple[str, str, str]] = set()
    for sentence in _SENTENCE.split(text):
        if _NEGATION.search(sentence):
            continue
        side_m = _SIDE.search(sentence)
        if not side_m:
            continue
        side = side_m.group(1)
        if kind == "mammo":
            q = _QUADRANT.search(sentence)
            where = f"{q.group(1)} {q.group(2)}" if q else ""
            if re.search(r"\bmass", sentence):
                out.add(("mass", side, where))
            if re.search(r"\bcalcification", sentence):
                out.add(("calcifications", side, where))
        elif kind == "ct":
            p = _POLE.search(sentence)
            where = ""
            if p:
                where = "mid" if p.group(1).startswith("mid") else p.group(1)
            if re.search(r"\bnodul", sentence):
                out.add(("thyroid nodule", side, where))
        else:
            raise ValueError(f"finding extraction knows mammo and ct, not {kind!r}")
    return out


def truth_set(findings) -> set[tuple[str, str, str]]:
    """The ground truth of a phantom (its PhantomFinding list) in the same tuple form."""
    return {(f.finding, f.side, f.where) for f in findings}


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def finding_scores(predicted: list[set], truth: list[set]) -> dict:
    """Micro precision/recall/F1 at side level and location level over aligned studies."""
    if len(predicted) != len(truth):
        raise ValueError("predicted and truth must be aligned lists")
    out = {}
    for level, key in (("side", lambda f: f[:2]), ("location", lambda f: f)):
        counts = []  # (tp, fp, fn) per study: F1's interval resamples whole studies
        for pred, gold in zip(predicted, truth):
            p, g = {key(f) for f in pred}, {key(f) for f in gold}
            counts.append((len(p & g), len(p - g), len(g - p)))
        tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
        out[level] = {**_prf(tp, fp, fn),
                      "f1_ci95": ratio_ci([2 * t for t, _, _ in counts], [2 * t + p + n for t, p, n in counts])}
    out["n"] = len(truth)
    out["exact_study"] = round(sum(p == g for p, g in zip(predicted, truth)) / max(len(truth), 1), 4)
    return out
