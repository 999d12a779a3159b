"""Run a predictor over a VQA question file: each image encoded once, all its questions answered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from radfound.eval.baselines import BASELINES
from radfound.eval.vqa_file import VQAItem
from radfound.eval.vqa_metrics import score_one, summarize_by_language


def evaluate_model(items: list[VQAItem], predictor, load_study: Callable, progress=None) -> tuple[dict, list[dict]]:
    """(metrics, per-question predictions) of ``predictor`` on ``items``."""
    by_image: dict = defaultdict(list)
    for it in items:
        by_image[it.image].append(it)
    scored, rows = [], []
    for n, (image, questions) in enumerate(by_image.items(), 1):
        encoded = predictor.encode(load_study(image))
        for it in questions:
            answer = predictor.answer(encoded, it.question)
            s = score_one(answer.answer, it.answer, it.answer_type, it.lang)
            scored.append(s)
            row = {"image": image.name if it.dataset == "vqa-rad" else f"{image.parent.name}/{image.name}",
                   "question": it.question, "answer": it.answer, "prediction": answer.answer,
                   "answer_type": it.answer_type, "lang": it.lang, "correct": s.exact}
            if answer.options:  # closed question answered by probability: what each offered answer got
                row["options"] = answer.options
            rows.append(row)
        if progress:
            progress(n, len(by_image))
    return summarize_by_language(scored), rows


def evaluate_baselines(items: list[VQAItem], train: list[VQAItem]) -> dict:
    """Metrics of every image-blind baseline fitted on ``train`` minus any image that is being evaluated."""
    evaluated = {it.image.resolve() for it in items}
    fit = [it for it in train if it.image.resolve() not in evaluated]
    out = {}
    for name, cls in BASELINES.items():
        b = cls(fit)
        scored = [score_one(b.predict(it), it.answer, it.answer_type, it.lang) for it in items]
        out[name] = summarize_by_language(scored)
    out["fitted_on"] = len(fit)
    return out
