"""radfound-base's training pool: radfound-small's pool (radfound.training.samples) with its report rows
replaced by the fluent, finding-naming reports of radfound.training.data.fluent_reports, and more facts for
the concept head: each SLAKE image's diseases and the patches its lesion boxes cover."""

from __future__ import annotations

from radfound.eval.disease_terms import canonical
from radfound.tasks.prompts import report_instruction, report_target
from radfound.training.concepts import finding_patches, slake_facts
from radfound.training.data.fluent_reports import slake_report, vqarad_reports
from radfound.training.data.slake_reports import LESION_LABELS, derive_reports
from radfound.training.data.vqa import training_questions
from radfound.training.samples import Pool, build_pool

#: The chest diseases a chest radiograph labelled normal is known not to show (concept targets 0).
CHEST_DISEASES = ("cardiomegaly", "pleural effusion", "pneumothorax", "nodule", "mass", "atelectasis", "pneumonia",
                  "infiltration")


def _is_chest_xray(rep) -> bool:
    return rep.modality.lower().startswith("x-ray") and rep.region.lower() in ("chest", "lung")


def disease_facts(rep) -> dict[str, float]:
    """``disease:{canonical}`` facts: the labelled diseases 1; for a normal chest radiograph every chest disease 0."""
    facts = {f"disease:{c}": 1.0 for c in filter(None, (canonical(d) for d in rep.diseases))}
    if rep.abnormal is False and _is_chest_xray(rep):
        facts.update({f"disease:{d}": 0.0 for d in CHEST_DISEASES})
    return facts


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
        pool.add("report", key, report_instruction("image"), target)  # a JPEG/PNG is read as kind "image"
        if _is_chest_xray(rep):
            pool.add("report", key, report_instruction("cxr"), target)  # a CR/DX DICOM file is kind "cxr"
    chest = [it for it in vqa_items if str(it.meta.get("image_organ", "")).upper() == "CHEST"]
    for image, written in vqarad_reports(chest).items():
        if str(image) in wanted:
            pool.add("vqarad_report", str(image), report_instruction("image"), report_target(*written))
    log(f"base pool: {pool.counts()}")
    return pool
