"""Phantoms: deterministic, labelled synthetic, findings where the ground truth says they are."""

from __future__ import annotations

import numpy as np
import pytest

from radfound.eval.findings import extract_findings, truth_set
from radfound.study.model import MAMMO_VIEWS
from radfound.training.phantoms import make_mammo_set, make_neck_ct, make_phantoms
from radfound.training.samples import phantom_counts


def test_same_seed_same_phantom_other_seed_differs():
    a, b, c = make_mammo_set(11), make_mammo_set(11), make_mammo_set(12)
    assert a.report == b.report
    assert all(np.array_equal(x.pixels, y.pixels) for x, y in zip(a.study.views, b.study.views))
    assert not np.array_equal(a.study.views[0].pixels, c.study.views[0].pixels)


def test_mammo_set_is_four_labelled_views_with_findings_in_their_boxes():
    sets = make_phantoms("mammo", 30, seed=3)
    assert any(p.findings for p in sets) and any(not p.findings for p in sets)
    for p in sets:
        s = p.study
        assert s.kind == "mammo" and s.present_views == list(MAMMO_VIEWS) and s.missing_views == []
        assert s.metadata["synthetic"] == "true"
        assert extract_findings(p.report, "mammo") == truth_set(p.findings)  # report matches the truth
        for f in p.findings:
            assert len(f.boxes) == 2  # the finding is drawn in the CC and the MLO view of its breast
            for view, x0, y0, x1, y1 in f.boxes:
                assert s.views[view].laterality == f.side[0].upper()
                img = s.views[view].pixels
                inside = img[int(y0):int(y1) + 1, int(x0):int(x1) + 1].max()
                assert inside > np.percentile(img[img > 0], 90)  # brighter than most breast tissue


def test_neck_ct_nodules_are_hypodense_in_the_named_lobe():
    for p in make_phantoms("ct", 20, seed=5):
        vol = p.study.volume
        assert p.study.kind == "ct" and vol.array.ndim == 3 and p.study.metadata["synthetic"] == "true"
        assert extract_findings(p.report, "ct") == truth_set(p.findings)
        for f in p.findings:
            (k, x0, y0, x1, y1), = f.boxes
            cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
            centre = vol.array[k, cy - 1:cy + 2, cx - 1:cx + 2].mean()
            assert centre < 80  # nodule (35 HU) darker than thyroid (110 HU)
            # LPS: column index grows to the patient's left, so a right-lobe nodule is left of the trachea.
            assert (cx < vol.shape[2] / 2) == (f.side == "right")


def test_normal_ct_report_says_so():
    normal = next(p for p in make_phantoms("ct", 20, seed=5) if not p.findings)
    assert "Normal thyroid gland." in normal.impression
    assert make_neck_ct(normal.seed).report == normal.report


def test_phantom_counts_one_number_or_per_kind():
    assert phantom_counts({"phantoms_per_kind": 4}) == {"mammo": 4, "ct": 4}
    assert phantom_counts({"phantoms_per_kind": {"mammo": 1500}}) == {"mammo": 1500, "ct": 0}
    assert phantom_counts({}) == {"mammo": 0, "ct": 0}
    with pytest.raises(ValueError, match="xray"):
        phantom_counts({"phantoms_per_kind": {"xray": 3}})


def test_one_side_keeps_that_breast_its_findings_and_boxes():
    """A one-breast set: two views, that side's findings with box view indices renumbered to the kept
    views, a report about that breast alone."""
    from radfound.training.phantoms.mammo import one_side

    full = next(p for p in make_phantoms("mammo", 40, 3)
                if {f.side for f in p.findings} == {"left", "right"})
    for side, codes in (("left", ["L-CC", "L-MLO"]), ("right", ["R-CC", "R-MLO"])):
        part = one_side(full, side)
        assert [v.view for v in part.study.views] == codes
        assert part.findings and all(f.side == side for f in part.findings)
        assert {f.finding for f in part.findings} == {f.finding for f in full.findings if f.side == side}
        for f in part.findings:
            original = next(g for g in full.findings if (g.finding, g.side, g.where) == (f.finding, f.side, f.where))
            assert [b[0] for b in f.boxes] == [0, 1] and [b[1:] for b in f.boxes] == [b[1:] for b in original.boxes]
            for index, *_ in f.boxes:  # the renumbered index points at a view of the same side and pixels
                assert part.study.views[index].view[0] == side[0].upper()
        other = "right" if side == "left" else "left"
        assert other not in part.report.lower() and side in part.report.lower()
        assert extract_findings(part.report, "mammo") == truth_set(part.findings)
    assert len(full.study.views) == 4  # the original is untouched
    with pytest.raises(ValueError):
        one_side(full, "both")


def test_a_share_of_training_mammograms_shows_one_breast_and_its_concepts_only():
    """data.mammo_one_side_share: that share of the phantom sets keeps one breast (side seeded per phantom,
    both sides drawn), and the other breast's concept slots are left unknown rather than set absent."""
    from radfound.training.concepts import phantom_facts
    from radfound.tasks.laterality_check import imaged_breasts
    from radfound.training.samples import mammo_one_side

    phantoms = make_phantoms("mammo", 12, 5)
    assert mammo_one_side({}, phantoms) == phantoms  # off by default: the 0.4.0 recipe
    every = mammo_one_side({"mammo_one_side_share": 1}, phantoms)
    assert all(len(p.study.views) == 2 for p in every)
    assert {imaged_breasts(p.study) for p in every} == {("right",), ("left",)}
    assert [imaged_breasts(p.study) for p in every] == [imaged_breasts(p.study) for p in
                                                       mammo_one_side({"mammo_one_side_share": 1}, phantoms)]
    some = mammo_one_side({"mammo_one_side_share": 0.5}, phantoms)
    assert 0 < sum(len(p.study.views) == 2 for p in some) < 12
    left = next(p for p in every if imaged_breasts(p.study) == ("left",))
    facts = phantom_facts("mammo", left.findings, imaged_breasts(left.study))
    assert facts and all(k.startswith("mammo:left ") for k in facts)
    assert len(phantom_facts("mammo", [], ("right", "left"))) == 2 * len(facts)
    with pytest.raises(ValueError, match="mammo_one_side_share"):
        mammo_one_side({"mammo_one_side_share": 2}, phantoms)
