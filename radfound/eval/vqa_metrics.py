"""VQA metrics: closed / open exact-match accuracy, open token recall, overall, per language.

Every metric compares normalised strings (radfound.eval.normalize). ``closed`` and
``open`` follow each question's ``answer_type`` from the dataset file, never the
prediction. ``overall`` is exact-match accuracy over all questions. ``closed_acc_ci95`` and
``overall_ci95`` are 95% intervals from resampling images (radfound.eval.uncertainty).
``by_type`` repeats the figures per question type as the dataset labels it (VQA-RAD's
``question_type``, SLAKE's ``content_type``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from radfound.eval.normalize import answer_tokens, normalize_answer
from radfound.eval.uncertainty import bootstrap_ci


@dataclass(frozen=True)
class Scored:
    answer_type: str  # "CLOSED" or "OPEN"
    lang: str
    exact: bool
    recall: float
    group: str | None = None  # the image asked about: questions on one image are resampled together
    question_type: str = ""  # the dataset's label (PRES, SIZE, Organ, ...), for the per-type breakdown


def token_recall(prediction: str, reference: str) -> float:
    """Share of the reference's tokens that appear in the prediction (multiset, order-free)."""
    ref = answer_tokens(reference)
    if not ref:
        return 1.0 if not answer_tokens(prediction) else 0.0
    pred = list(answer_tokens(prediction))
    hits = 0
    for tok in ref:
        if tok in pred:
            pred.remove(tok)
            hits += 1
    return hits / len(ref)


def score_one(prediction: str, reference: str, answer_type: str, lang: str = "en",
              group: str | None = None, question_type: str = "") -> Scored:
    return Scored(
        answer_type=answer_type.upper(),
        lang=lang,
        exact=normalize_answer(prediction) == normalize_answer(reference),
        recall=token_recall(prediction, reference),
        group=group,
        question_type=question_type,
    )


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(scored: list[Scored]) -> dict:
    """closed_acc, open_acc, open_recall, overall, n (and n_closed / n_open) for a list of scored answers."""
    closed = [s for s in scored if s.answer_type == "CLOSED"]
    open_ = [s for s in scored if s.answer_type != "CLOSED"]
    return {
        "closed_acc": _mean([float(s.exact) for s in closed]),
        "open_acc": _mean([float(s.exact) for s in open_]),
        "open_recall": _mean([s.recall for s in open_]),
        "overall": _mean([float(s.exact) for s in scored]),
        "n": len(scored),
        "n_closed": len(closed),
        "n_open": len(open_),
        "closed_acc_ci95": _interval(closed),
        "overall_ci95": _interval(scored),
    }


def _interval(scored: list[Scored]) -> list[float] | None:
    grouped = all(s.group is not None for s in scored)
    return bootstrap_ci([float(s.exact) for s in scored], [s.group for s in scored] if grouped else None)


def summarize_by_language(scored: list[Scored]) -> dict:
    """The summary for all questions plus one per language present (``by_lang: {"en": ..., "zh": ...}``)."""
    groups: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        groups[s.lang].append(s)
    out = summarize(scored)
    if len(groups) > 1 or (groups and next(iter(groups)) != "en"):
        out["by_lang"] = {lang: summarize(items) for lang, items in sorted(groups.items())}
    types: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        types[s.question_type or "unlabelled"].append(s)
    if len(types) > 1:  # where a model beats the prior and where it does not, by what is asked
        out["by_type"] = {name: summarize(items) for name, items in sorted(types.items())}
    return out
