"""Packed training sequences (radfound.training.packing): each segment computes what it would alone."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from radfound.modeling.checkpoint import build_model  # noqa: E402
from radfound.training.packing import PackedBatcher, packed_mask  # noqa: E402
from radfound.training.pretrained.stages import packed_loss  # noqa: E402

ROWS = [("Is there a pleural effusion?", "No"), ("Which organ is abnormal?", "The left lung"),
        ("Write the findings and impression of this radiology image study.", "FINDINGS: Clear lungs.")]


def _loss(model, batcher, groups, feats):
    return packed_loss(model, batcher, groups, feats)


def test_a_packed_sequence_gives_each_segment_its_single_row_logits():
    model, tok = build_model("tiny", seed=3)
    k = model.config.vision.num_image_tokens
    batcher = PackedBatcher(tok, k, 32)
    feats = {"s": torch.randn(k, model.config.text.hidden_size)}
    with torch.no_grad():
        packed = _loss(model, batcher, [("s", ROWS)], feats)
        # the same mean over all target tokens, computed one row at a time
        total, count = 0.0, 0
        for row in ROWS:
            n = len(batcher.segment(*row)[0]) - batcher.segment(*row)[1]
            total += float(_loss(model, batcher, [("s", [row])], feats)) * n
            count += n
    assert float(packed) == pytest.approx(total / count, rel=1e-5)


def test_packing_changes_the_loss_when_segments_could_see_each_other():
    """Guard against a mask that lets a segment read the one before it: the loss would then differ from the
    one-row losses (the test above), so prove the mask matters by breaking it."""
    model, tok = build_model("tiny", seed=3)
    k = model.config.vision.num_image_tokens
    batcher = PackedBatcher(tok, k, 32)
    ids, labels, positions, mask = batcher([ROWS])
    leaky = torch.where(torch.ones_like(mask[0, 0], dtype=torch.bool).tril(), 0.0, mask.min()).expand_as(mask)
    embeds = model.embed_tokens(ids)
    with torch.no_grad():
        a, _ = model.decoder.hidden(embeds, None, positions, model.decoder.empty_cache(1), mask=mask)
        b, _ = model.decoder.hidden(embeds, None, positions, model.decoder.empty_cache(1), mask=leaky)
    later = labels[0] != -100
    assert not torch.allclose(a[0, later], b[0, later])


def test_padding_rows_see_only_themselves():
    seg = torch.tensor([[0, 0, 1, 1, 2, -1, -1]])
    m = packed_mask(seg)[0, 0]
    allowed = m == 0
    assert allowed[5].tolist() == [False] * 5 + [True, False]
    assert allowed[4].tolist() == [True, True, False, False, True, False, False]  # prefix + itself
    assert allowed[3].tolist() == [True, True, True, True, False, False, False]
