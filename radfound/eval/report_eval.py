"""Report evaluation: phantom finding P/R/F1 with caption metrics, and SLAKE-derived captions/reports."""

from __future__ import annotations

from radfound.eval.findings import extract_findings, finding_scores, truth_set
from radfound.eval.text_metrics import caption_metrics

#: Phantom seeds for evaluation start here; training uses small seeds (radfound/training/configs).
EVAL_SEED = 9001


def evaluate_phantoms(kind: str, n: int, predictor, seed: int = EVAL_SEED, progress=None,
                      side: str | None = None) -> dict:
    """Draft a report for ``n`` fresh phantoms of ``kind`` and score findings and text against the truth.

    ``side`` ("left" / "right", mammograms only) gives the model that breast's two views alone: a finding
    it reports on the other breast is a false positive, and ``unimaged_side_drafts`` counts the drafts
    that say anything about the breast it was not shown."""
    from radfound.tasks.laterality_check import unimaged_sides
    from radfound.training.phantoms import make_phantoms
    from radfound.training.phantoms.ct_neck import neck_ct_report
    from radfound.training.phantoms.mammo import mammo_report, one_side

    phantoms = make_phantoms(kind, n, seed)
    if side is not None:
        phantoms = [one_side(ph, side) for ph in phantoms]
    drafts = []
    for i, ph in enumerate(phantoms, 1):
        drafts.append(predictor.report(predictor.encode(ph.study)))
        if progress:
            progress(i, n)
    truth = [truth_set(ph.findings) for ph in phantoms]
    sides = (side,) if side else ("right", "left")
    normal_text = mammo_report([], sides) if kind == "mammo" else neck_ct_report([])
    normal = "FINDINGS: {}\nIMPRESSION: {}".format(*normal_text)
    unimaged = [bool(unimaged_sides(ph.study, d)) for ph, d in zip(phantoms, drafts)]
    return {
        "kind": kind,
        "n": n,
        "seed": seed,
        "views": side or "all",
        "unimaged_side_drafts": sum(unimaged),
        "model": {**finding_scores([extract_findings(d, kind) for d in drafts], truth),
                  "text": caption_metrics(drafts, [ph.report for ph in phantoms])},
        "baseline_normal_report": finding_scores([extract_findings(normal, kind)] * n, truth),
        "examples": [{"reference": ph.report, "draft": d} for ph, d in list(zip(phantoms, drafts))[:3]],
    }


def evaluate_slake_text(reports, predictor, load_study, progress=None) -> dict:
    """Caption and report metrics on SLAKE-derived references (radfound.training.data.slake_reports)."""
    from radfound.training.samples import CAPTION_INSTRUCTION

    captions, cap_refs, drafts, rep_refs = [], [], [], []
    for i, rep in enumerate(reports, 1):
        enc = predictor.encode(load_study(rep.image))
        captions.append(predictor.generate(enc, CAPTION_INSTRUCTION, max_new_tokens=32))
        cap_refs.append(rep.caption)
        if rep.has_report:
            drafts.append(predictor.report(enc))
            rep_refs.append(f"FINDINGS: {rep.findings}\nIMPRESSION: {rep.impression}")
        if progress:
            progress(i, len(reports))
    out = {"captions": caption_metrics(captions, cap_refs)}
    if drafts:
        out["reports"] = caption_metrics(drafts, rep_refs)
    return out
