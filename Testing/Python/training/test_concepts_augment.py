"""Concept supervision targets and training augmentation: right labels, masked unknowns, no flips."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from radfound.training.augment import augment_study  # noqa: E402
from radfound.training.concepts import ConceptHead, ConceptTargets, phantom_facts, slake_facts  # noqa: E402
from radfound.training.data.slake_reports import ImageReport  # noqa: E402
from radfound.training.phantoms import make_phantoms  # noqa: E402

AUG = {"scale": [0.9, 1.1], "rotate_deg": 6, "translate": 0.05, "contrast": 0.15, "brightness": 0.08}


def test_phantom_facts_state_every_slot_and_match_the_truth():
    for ph in make_phantoms("mammo", 20, seed=3):
        facts = phantom_facts("mammo", ph.findings)
        assert len(facts) == 2 * 2 * (1 + 4)  # side x type x (any, 4 quadrants), all known
        for f in ph.findings:
            assert facts[f"mammo:{f.side} {f.finding}"] == 1.0
            assert facts[f"mammo:{f.side} {f.finding} {f.where}"] == 1.0
        assert sum(v for k, v in facts.items() if k.count(" ") >= 3) == len(ph.findings)
    for ph in make_phantoms("ct", 20, seed=5):
        facts = phantom_facts("ct", ph.findings)
        assert len(facts) == 2 * (1 + 3)
        assert {k for k, v in facts.items() if v and k.endswith(("pole", "mid"))} == {
            f"ct:{f.side} nodule {f.where}" for f in ph.findings}


def _report(name, modality, organs, boxes=True, abnormal=None):
    return ImageReport(image=name, modality=modality, region="chest", organs=organs, abnormal=abnormal,
                       boxes=[("x", 0, 0, 1, 1)] if boxes else [])


def test_slake_facts_mark_unannotated_organs_absent_only_when_the_image_has_boxes():
    vocab = {"lung", "heart", "liver"}
    with_boxes = slake_facts(_report("a", "MRI (T2-weighted)", ["Lung", "Heart"], abnormal=False), vocab)
    assert with_boxes["modality:mri"] == 1.0 and with_boxes["abnormal"] == 0.0
    assert with_boxes["organ:lung"] == 1.0 and with_boxes["organ:liver"] == 0.0
    no_boxes = slake_facts(_report("b", "CT", ["Lung"], boxes=False), vocab)
    assert "organ:liver" not in no_boxes and "abnormal" not in no_boxes  # unknown, not absent


def test_targets_mask_unknowns_and_complete_exclusive_groups():
    facts = {f"s{i}": {"modality:ct": 1.0, "organ:liver": 1.0} for i in range(5)}
    facts.update({f"m{i}": {"modality:mri": 1.0} for i in range(5)})
    facts["us"] = {"modality:us": 1.0}  # below min_count: not a concept, but still "not CT, not MRI"
    facts["rare"] = {"organ:spleen": 1.0}  # nothing known in the vocabulary
    t = ConceptTargets(facts)
    assert t.names == ["modality:ct", "modality:mri", "organ:liver"]
    value, mask = t.targets["m0"]
    assert list(value) == [0, 1, 0] and list(mask) == [1, 1, 0]  # CT known absent, liver unknown
    assert [list(v) for v in t.targets["us"]] == [[0, 0, 0], [1, 1, 0]]
    assert "rare" not in t.targets  # no known concept left

    head = ConceptHead(2, 3, len(t))
    feats = {k: torch.zeros(2, 3) for k in ("s0", "m0", "rare")}
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor([-8.0, 8.0, 8.0]))  # says MRI with a liver
        mri_loss = float(t.loss(head, {"m0": feats["m0"]}))
        ct_loss = float(t.loss(head, {"s0": feats["s0"]}))
    assert mri_loss < 0.01 < 5 < ct_loss  # the masked liver entry does not count against the MRI image
    assert t.loss(head, {"rare": feats["rare"]}) is None


def test_augmentation_keeps_left_left_background_black_and_is_seeded():
    px = -torch.ones(2, 1, 64, 64)
    px[:, :, 20:44, 4:24] = 1.0  # bright block on the left half of both views
    a = augment_study(px, AUG, torch.Generator().manual_seed(1))
    b = augment_study(px, AUG, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == px.shape
    assert float(a.min()) >= -1.0 and float(a.max()) <= 1.0
    gen = torch.Generator().manual_seed(2)
    for _ in range(30):
        out = augment_study(px, AUG, gen)
        left, right = out[..., :32].mean(), out[..., 32:].mean()
        assert left > right  # never flipped
        assert torch.allclose(out[0], out[1])  # one transform per study: views stay consistent
        assert float(out[0, 0, 0, 63]) <= -1.0 + 2 * AUG["brightness"] + 1e-6  # corner stays background
    moved = augment_study(px, AUG, torch.Generator().manual_seed(3))
    assert not torch.equal(moved, px)


def test_grounding_rows_keep_geometry():
    px = -torch.ones(1, 1, 32, 32)
    px[0, 0, 10, 20] = 1.0
    out = augment_study(px, AUG, torch.Generator().manual_seed(4), geometric=False)
    assert np.unravel_index(int(out.argmax()), out.shape)[2:] == (10, 20)


def test_finding_patches_mark_the_patches_that_hold_the_finding():
    from radfound.training.concepts import finding_patches
    from radfound.training.inputs import study_inputs

    side, patch = 128, 16
    for ph in [p for p in make_phantoms("mammo", 12, seed=3) if p.findings][:4]:
        inp = study_inputs(ph.study, side, {"ct_slabs": 8})
        marks = finding_patches([b for f in ph.findings for b in f.boxes], inp, side, patch)
        assert marks.shape == (4, (side // patch) ** 2)
        sides = {f.side[0].upper() for f in ph.findings}
        for i, view in enumerate(ph.study.views):
            assert bool(marks[i].any()) == (view.laterality in sides)  # both views of that breast, none other
            if marks[i].any():  # the brightest marked patch is brighter than the typical unmarked one
                px = inp.pixel_values[i, 0].reshape(side // patch, patch, side // patch, patch).max(axis=(1, 3))
                assert px.reshape(-1)[marks[i] > 0].max() > np.median(px.reshape(-1)[marks[i] == 0])
    ph = next(p for p in make_phantoms("ct", 20, seed=5) if len(p.findings) == 1)
    inp = study_inputs(ph.study, side, {"ct_slabs": 8})
    marks = finding_patches(ph.findings[0].boxes, inp, side, patch)
    k = ph.findings[0].boxes[0][0]
    marked_slabs = {i for i in range(8) if marks[i].any()}
    assert marked_slabs and all(inp.slabs[i][0] <= k + 1 and k - 1 < inp.slabs[i][1] for i in marked_slabs)
    assert any(inp.slabs[i][0] <= k < inp.slabs[i][1] for i in marked_slabs)


def test_patch_loss_is_class_balanced_over_finding_and_background_patches():
    """One finding patch among 16: a read-out that says "no finding" everywhere must still pay for the miss."""
    marks = np.zeros((1, 16), np.float32)
    marks[0, 5] = 1.0
    t = ConceptTargets({"p": {"mammo:right mass": 1.0}}, min_count=1, patches={"p": marks})
    head = ConceptHead(2, 3, len(t), patch_dim=1)
    with torch.no_grad():
        head.patch.weight.fill_(1.0)
        head.patch.bias.zero_()
    right = torch.full((1, 16, 1), -8.0)
    right[0, 5, 0] = 8.0  # logit +8 on the finding patch, -8 elsewhere
    all_background = torch.full((1, 16, 1), -8.0)
    with torch.no_grad():
        good = float(t.patch_loss(head, {"p": right}))
        miss = float(t.patch_loss(head, {"p": all_background}))
    assert good < 0.01
    assert miss > 3.5  # about half of BCE(-8 | 1) = 8: an unbalanced mean over 16 patches would give 0.5
    assert t.patch_loss(head, {"other": right}) is None
    assert t.patch_loss(ConceptHead(2, 3, len(t)), {"p": right}) is None  # no patch read-out configured
