"""Grounding: share of SLAKE validation boxes found with IoU >= 0.5.

For every image with ``detection.json`` boxes and every distinct label, the model is asked
the grounding prompt ("Where is the liver? Answer with boxes."); its boxes are mapped back
to original pixels (radfound.tasks.boxes) and each reference box counts as found when its
best-overlapping predicted box has IoU >= 0.5. ``found_iou_0.5_ci95`` is that share's 95%
interval from resampling whole images (radfound.eval.uncertainty).
"""

from __future__ import annotations

from collections import defaultdict

from radfound.eval.uncertainty import bootstrap_ci
from radfound.tasks.boxes import boxes_from_text
from radfound.tasks.prompts import grounding_prompt


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate_grounding(reports, predictor, load_study, threshold: float = 0.5, progress=None) -> dict:
    """``reports``: ImageReport list (radfound.training.data.slake_reports) with their boxes."""
    answered = 0
    ious: list[float] = []
    images: list[str] = []  # the image of each reference box: boxes on one image are resampled together
    for i, rep in enumerate(reports, 1):
        if not rep.boxes:
            continue
        enc = predictor.encode(load_study(rep.image))
        grouped = defaultdict(list)
        for label, x, y, w, h in rep.boxes:
            grouped[label].append((x, y, x + w, y + h))
        for label, refs in grouped.items():
            instruction = grounding_prompt(label.lower(), 0).split("\n", 2)[-1].rsplit("<|assistant|>", 1)[0].strip()
            text = predictor.generate(enc, instruction, max_new_tokens=48)
            preds = [(b.x0, b.y0, b.x1, b.y1) for b in boxes_from_text(text, getattr(enc, "inputs", None))]
            answered += bool(preds)
            for ref in refs:
                best = max((iou(ref, p) for p in preds), default=0.0)
                ious.append(best)
                images.append(str(rep.image))
        if progress:
            progress(i, len(reports))
    hits = [float(v >= threshold) for v in ious]
    return {
        "boxes": len(hits),
        "found_iou_0.5": round(sum(hits) / len(hits), 4) if hits else None,
        "found_iou_0.5_ci95": bootstrap_ci(hits, images),
        "mean_best_iou": round(sum(ious) / len(ious), 4) if ious else None,
        "questions_with_a_box": answered,
    }
