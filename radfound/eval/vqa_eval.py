"""Run a predictor over a VQA question file: each image encoded once, all its questions answered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from radfound.errors import ConfigError, RadFoundError
from radfound.eval.baselines import BASELINES
from radfound.eval.vqa_file import VQAItem
from radfound.eval.uncertainty import paired_difference
from radfound.eval.vqa_metrics import Scored, score_one, summarize_by_language


def evaluate_model(items: list[VQAItem], predictor, load_study: Callable, progress=None) -> tuple[dict, list[dict]]:
    """(metrics, per-question predictions in ``items`` order) of ``predictor`` on ``items``."""
    by_image: dict = defaultdict(list)
    for index, it in enumerate(items):
        by_image[it.image].append((index, it))
    scored, rows = [], [None] * len(items)
    for n, (image, questions) in enumerate(by_image.items(), 1):
        encoded = predictor.encode(load_study(image))
        for index, it in questions:
            try:
                answer = predictor.answer(encoded, it.question)
            except RadFoundError as exc:  # e.g. a question too long for the model's context: say which one
                raise type(exc)(f"question {it.qid} ({it.question[:40]!r}): {exc.problem}", image) from None
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
    """``train`` minus any image that is being evaluated: a baseline never sees the answers it is scored on.

    An image is the same file, or the same name as the question files write it (``synpic54610.jpg``,
    ``xmlab1/source.jpg``): a copy of the images in another folder is still the evaluated image.
    """
    paths = {it.image.resolve() for it in items}
    names = {it.name for it in items if it.name}
    return [it for it in train if it.image.resolve() not in paths and not (it.name and it.name in names)]


def score_baselines(items: list[VQAItem], train: list[VQAItem]) -> tuple[dict[str, list[Scored]], int]:
    """Every image-blind baseline's per-question scores on ``items``, fitted on ``train`` minus the
    evaluated images, and how many training questions that left (ConfigError if none)."""
    fit = _fit_rows(items, train)
    if not fit:
        raise ConfigError(f"no question to fit the baselines on: all {len(train)} training questions are about "
                          "images being evaluated (pass --baseline-train with questions on other images)")
    scored = {}
    for name, cls in BASELINES.items():
        b = cls(fit)
        scored[name] = [score_one(b.predict(it), it.answer, it.answer_type, it.lang, group=str(it.image),
                                  question_type=it.question_type) for it in items]
    return scored, len(fit)


def summarize_baselines(scored: dict[str, list[Scored]], fitted_on: int) -> dict:
    """``score_baselines``'s result as metrics per baseline, plus ``fitted_on``."""
    return {**{name: summarize_by_language(values) for name, values in scored.items()}, "fitted_on": fitted_on}


def evaluate_baselines(items: list[VQAItem], train: list[VQAItem]) -> dict:
    """Metrics of every image-blind baseline fitted on ``train`` minus any image that is being evaluated."""
    return summarize_baselines(*score_baselines(items, train))


def closed_gain(items: list[VQAItem], rows: list[dict], baseline: list[Scored], name: str = "question_prior") -> dict:
    """The model's closed accuracy minus a baseline's on the same questions, with a paired 95% interval.

    ``rows`` are ``evaluate_model``'s and ``baseline`` that baseline's ``score_baselines`` scores, both in
    ``items`` order. This is the figure behind "N points above the question-only prior":
    ``{"baseline", "diff", "ci95", "n"}``, differences as fractions.
    """
    if (len(rows) != len(items) or len(baseline) != len(items)
            or any(row["question"] != it.question for row, it in zip(rows, items))):
        raise ValueError("rows do not follow the question file's order")
    closed = [(row, b) for row, b in zip(rows, baseline) if b.answer_type == "CLOSED"]
    paired = paired_difference([float(r["correct"]) for r, _ in closed], [float(b.exact) for _, b in closed],
                               [b.group for _, b in closed])
    return {"baseline": name, **paired, "n": len(closed)}
