"""radfound-base's training pool: radfound-small's pool (radfound.training.samples) with its report rows
replaced by the fluent, finding-naming reports of radfound.training.data.fluent_reports, chest X-ray reports
also as a task of their own (``chest_report``, so a mixture can weight them), and more facts for the concept
head: each chest image's diseases (SLAKE's disease answer, taken as complete, and VQA-RAD's yes/no presence
answers) and the patches SLAKE's lesion boxes cover."""

from __future__ import annotations

from radfound.eval.disease_terms import canonical, named_in
from radfound.tasks.prompts import report_instruction, report_target
from radfound.training.concepts import finding_patches, slake_facts
from radfound.training.data.fluent_reports import slake_report
from radfound.training.data.slake_reports import LESION_LABELS, derive_reports
from radfound.training.data.vqa import training_questions
from radfound.training.samples import Pool, build_pool

#: The chest diseases a chest radiograph labelled normal is known not to show (concept targets 0).
CHEST_DISEASES = ("cardiomegaly", "pleural effusion", "pneumothorax", "nodule", "mass", "atelectasis", "pneumonia",
                  "infiltration")


def _is_chest_xray(rep) -> bool:
    return rep.modality.lower().startswith("x-ray") and rep.region.lower() in ("chest", "lung")


def disease_facts(rep) -> dict[str, float]:
    """``disease:{canonical}`` facts: the labelled diseases 1. On a chest radiograph with a known status every other
    chest disease is 0: SLAKE's disease answers for its chest X-rays come from ChestX-ray14 boxes and list every
    boxed disease, so an unlisted one is taken as absent (without negatives the encoder learnt "some disease" and
    ranked the right one first for 16% of training images, chance being 12.5%)."""
    present = {c for c in filter(None, (canonical(d) for d in rep.diseases))}
    facts = {f"disease:{c}": 1.0 for c in present}
    if rep.abnormal is not None and _is_chest_xray(rep):
        facts.update({f"disease:{d}": 0.0 for d in CHEST_DISEASES if d not in present})
    return facts


def vqarad_disease_facts(items) -> dict[str, dict[str, float]]:
    """image -> ``disease:{canonical}`` facts from VQA-RAD's closed presence questions ("Is there a pleural
    effusion?" No -> 0), for the chest diseases the table knows. A No to a narrowed question ("... on the
    right?") says nothing of the other side and is skipped; contradictory answers drop the fact."""
    from radfound.training.data.fluent_reports import presence_answers

    out: dict[str, dict[str, float]] = {}
    for image, answers in presence_answers(items).items():
        facts = {}
        for thing, values in answers.items():
            if len(set(values)) != 1:
                continue
            if values[0]:  # "Is there a mass in the right lung?" Yes: a mass is present
                named = named_in(thing)
                c = next(iter(named)) if len(named) == 1 else None
            else:  # No is only absence of the disease when nothing narrows the question ("... on the left?")
                c = canonical(thing)
            if c in CHEST_DISEASES:
                facts[f"disease:{c}"] = float(values[0])
        if facts:
            out[str(image)] = facts
    return out


def lesion_boxes(rep) -> list[tuple[int, float, float, float, float]]:
    """(view 0, x0, y0, x1, y1) of the image's lesion boxes (detection.json labels that are diseases)."""
    return [(0, x, y, x + w, y + h) for label, x, y, w, h in rep.boxes if label.lower() in LESION_LABELS]


def build_base_pool(cfg: dict, side: int, patch: int, log=print) -> Pool:
    pool = build_pool(cfg, side, log=log, patch=patch)
    data = cfg["data"]
    vqa_items, slake_items = training_questions(data.get("vqarad_part", "train"), data.get("slake_splits", ["train"]))
    wanted = set(pool.inputs)
    reports = [r for r in derive_reports(slake_items) if str(r.image) in wanted]
    organ_vocab = {o.lower() for rep in reports for o in rep.organs}
    pool.samples["report"] = []
    for rep in reports:
        key = str(rep.image)
        pool.facts[key] = {**slake_facts(rep, organ_vocab), **disease_facts(rep)}
        boxes = lesion_boxes(rep)
        if boxes:
            pool.patches[key] = finding_patches(boxes, pool.inputs[key], side, patch)
        written = slake_report(rep)
        if written is None:
            continue
        target = report_target(*written)
        task = "chest_report" if _is_chest_xray(rep) else "report"
        pool.add(task, key, report_instruction("image"), target)  # a JPEG/PNG is read as kind "image"
        if task == "chest_report":
            pool.add(task, key, report_instruction("cxr"), target)  # a CR/DX DICOM file is kind "cxr"
    chest = [it for it in vqa_items if str(it.meta.get("image_organ", "")).upper() == "CHEST"]
    for key, facts in vqarad_disease_facts(chest).items():
        if key in wanted:
            pool.facts[key] = {**pool.facts.get(key, {}), **facts}
    log(f"base pool: {pool.counts()}; chest disease facts on "
        f"{sum(any(n.startswith('disease:') for n in f) for f in pool.facts.values())} studies")
    return pool
