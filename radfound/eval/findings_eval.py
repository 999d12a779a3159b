"""Do chest X-ray drafts name what is on the image? Measured on SLAKE's labelled chest radiographs.

For every chest X-ray of a SLAKE question file (``modality`` X-Ray):

- the labelled diseases are the answer to "What diseases are included in the picture?" (canonical names,
  radfound.eval.disease_terms); an image is labelled normal by "Are there abnormalities ...? No" or
  "Is this image normal? Yes" (radfound.training.data.slake_reports);
- the model drafts a report (``radfound report``'s own path) and answers the disease question itself.

Reported, each with a 95% interval resampling images:

- ``label_recall``: labelled diseases the draft names (a negated mention, "No pneumothorax", does not count),
  over all labelled diseases;
- ``disease_question_exact``: the disease question answered exactly (normalised match, as ``eval vqa``);
- ``normal_clear``: normal images whose draft names no disease;
- ``false_mentions``: diseases a draft names that the image is not labelled with, per abnormal image;
- ``distinct_drafts``: how many different drafts the images got (a model blind to the image writes one);
- the same for the training split's most common disease (the prior: "Cardiomegaly" for every image).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from radfound.eval.disease_terms import canonical, named_in
from radfound.eval.normalize import normalize_answer
from radfound.eval.uncertainty import ratio_ci
from radfound.eval.vqa_file import VQAItem

DISEASE_QUESTION = "what diseases are included in the picture"


def _is_disease_question(item: VQAItem) -> bool:
    return normalize_answer(item.question).startswith(normalize_answer(DISEASE_QUESTION))


def labelled_chest_xrays(items: list[VQAItem]) -> list[dict]:
    """One record per chest X-ray in ``items`` (English): image, diseases, normal, the disease question item."""
    from radfound.training.data.slake_reports import derive_reports

    by_image: dict = defaultdict(list)
    for it in items:
        if it.dataset == "slake" and it.lang == "en" and str(it.meta.get("modality", "")).lower() == "x-ray":
            by_image[it.image].append(it)
    reports = {r.image: r for r in derive_reports([it for qas in by_image.values() for it in qas])}
    out = []
    for image, qas in sorted(by_image.items()):
        question = next((q for q in qas if _is_disease_question(q)), None)
        diseases = sorted({c for d in (question.answer.split(",") if question else []) if (c := canonical(d.strip()))})
        rep = reports.get(image)
        normal = rep is not None and rep.abnormal is False
        if diseases or normal:
            out.append({"image": image, "diseases": diseases, "normal": normal, "question": question})
    return out


def prior_answer(train: list[VQAItem]) -> str:
    """The training split's most common answer to the disease question about a chest X-ray."""
    answers = Counter(it.answer for it in train if it.lang == "en" and _is_disease_question(it)
                      and str(it.meta.get("modality", "")).lower() == "x-ray")
    return answers.most_common(1)[0][0] if answers else ""


def score(records: list[dict], drafts: list[str], answers: list[str | None]) -> dict:
    """The metrics of the module docstring for drafts / disease answers aligned with ``records``."""
    found, labels, exact, asked, clear, normals, false, abnormal = ([] for _ in range(8))
    for rec, draft, answer in zip(records, drafts, answers):
        named = named_in(draft)
        want = set(rec["diseases"])
        found.append(len(named & want))
        labels.append(len(want))
        if rec["question"] is not None and answer is not None:
            exact.append(float(normalize_answer(answer) == normalize_answer(rec["question"].answer)))
            asked.append(1.0)
        if rec["normal"]:
            clear.append(float(not named))
            normals.append(1.0)
        if want:
            false.append(len(named - want))
            abnormal.append(1.0)

    def ratio(num, den):
        return {"value": round(sum(num) / sum(den), 4) if sum(den) else None, "n": int(sum(den)),
                "ci95": ratio_ci(num, den) if sum(den) else None}

    return {
        "images": len(records),
        "label_recall": ratio(found, labels),
        "disease_question_exact": {**ratio(exact, asked), "correct": int(sum(exact))},
        "normal_clear": ratio(clear, normals),
        "false_mentions_per_abnormal_image": ratio(false, abnormal),
        "distinct_drafts": len(set(drafts)),
    }


def evaluate_findings(items: list[VQAItem], train: list[VQAItem], predictor, load_study: Callable,
                      progress=None, examples: int = 5) -> dict:
    records = labelled_chest_xrays(items)
    drafts, answers = [], []
    for i, rec in enumerate(records, 1):
        enc = predictor.encode(load_study(rec["image"]))
        drafts.append(predictor.report(enc))
        answers.append(predictor.answer(enc, rec["question"].question).answer if rec["question"] else None)
        if progress:
            progress(i, len(records))
    prior = prior_answer(train)
    prior_draft = f"FINDINGS: {prior}.\nIMPRESSION: {prior}." if prior else ""
    return {
        "model": score(records, drafts, answers),
        "baseline_prior": {"answer": prior,
                           **score(records, [prior_draft] * len(records), [prior] * len(records))},
        "examples": [{"image": rec["image"].parent.name + "/" + rec["image"].name, "labels": rec["diseases"],
                      "normal": rec["normal"], "draft": d, "disease_answer": a}
                     for rec, d, a in list(zip(records, drafts, answers))[:examples]],
    }
