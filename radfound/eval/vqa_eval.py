"""Run a predictor over a VQA question file: each image encoded once, all its questions answered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from radfound.eval.baselines import BASELINES
from radfound.eval.vqa_file import VQAItem
from radfound.eval.uncertainty import paired_difference
from radfound.eval.vqa_metrics import score_one, summarize_by_language


def evaluate_model(items: list[VQAItem], predictor, load_study: Callable, progress=None) -> tuple[dict, list[dict]]:
    """(metrics, per-question predictions in ``items`` order) of ``predictor`` on ``items``."""
    by_image: dict = defaultdict(list)
    for index, it in enumerate(items):
        by_image[it.image].append((index, it))
    scored, rows = [], [None] * len(items)
    for n, (image, questions) in enumerate(by_image.items(), 1):
        encoded = predictor.encode(load_study(image))
        for index, it in questions:
            answer = predictor.answer(encoded, it.question)
            s = score_one(answer.answer, it.answer, it.answer_type, it.lang, group=str(image),
                          question_type=it.question_type)
            scored.append(s)
            row = {"image": image.name if it.dataset == "vqa-rad" else f"{image.parent.name}/{image.name}",
                   "question": it.question, "answer": it.answer, "prediction": answer.answer,
                   "answer_type": it.answer_type, "lang": it.lang, "correct": s.exact}
            if answer.options:  # closed question answered by probability: what each offered answer got
                row["options"] = answer.options
            rows[index] = row
        if progress:
            progress(n, len(by_image))
    return summarize_by_language(scored), rows


def _fit_rows(items: list[VQAItem], train: list[VQAItem]) -> list[VQAItem]:
    """``train`` minus any image that is being evaluated: a baseline never sees the answers it is scored on."""
    evaluated = {it.image.resolve() for it in items}
    return [it for it in train if it.image.resolve() not in evaluated]


def _score_baseline(name: str, items: list[VQAItem], fit: list[VQAItem]) -> list:
    b = BASELINES[name](fit)
    return [score_one(b.predict(it), it.answer, it.answer_type, it.lang, group=str(it.image),
                      question_type=it.question_type) for it in items]


def evaluate_baselines(items: list[VQAItem], train: list[VQAItem]) -> dict:
    """Metrics of every image-blind baseline fitted on ``train`` minus any image that is being evaluated."""
    fit = _fit_rows(items, train)
    out = {name: summarize_by_language(_score_baseline(name, items, fit)) for name in BASELINES}
    out["fitted_on"] = len(fit)
    return out


def closed_gain(items: list[VQAItem], rows: list[dict], train: list[VQAItem], baseline: str = "question_prior") -> dict:
    """The model's closed accuracy minus ``baseline``'s on the same questions, with a paired 95% interval.

    ``rows`` are ``evaluate_model``'s, in ``items`` order. This is the figure behind "N points above
    the question-only prior": ``{"baseline", "diff", "ci95", "n"}``, differences as fractions.
    """
    if len(rows) != len(items) or any(row["question"] != it.question for row, it in zip(rows, items)):
        raise ValueError("rows do not follow the question file's order")
    base = _score_baseline(baseline, items, _fit_rows(items, train))
    closed = [(row, b) for row, b in zip(rows, base) if b.answer_type == "CLOSED"]
    paired = paired_difference([float(r["correct"]) for r, _ in closed], [float(b.exact) for _, b in closed],
                               [b.group for _, b in closed])
    return {"baseline": baseline, **paired, "n": len(closed)}
