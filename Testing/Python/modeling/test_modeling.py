"""The PyTorch model family: configs, sizes, causality, the inter-image context, checkpoints, tokenizer."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from radfound.benchmarks.engine import bytes_per_decode_step  # noqa: E402
from radfound.modeling.checkpoint import build_model  # noqa: E402
from radfound.modeling.configs import RadFoundConfig, get_config  # noqa: E402
from radfound.modeling.tokenizer import BUILTIN_CORPUS, train_tokenizer  # noqa: E402
from radfound.training.config import model_config  # noqa: E402


def test_configs_round_trip_through_config_json():
    for name in ("tiny", "small", "base"):
        cfg = get_config(name)
        assert RadFoundConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config"):
        get_config("huge")


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_decoder_size_formula_matches_the_real_module(name):
    model, _ = build_model(name)
    real = sum(p.numel() for p in model.decoder.parameters())
    assert bytes_per_decode_step(model.config.to_dict(), 0) == 4 * real


def test_base_is_a_one_billion_parameter_decoder():
    params = bytes_per_decode_step(get_config("base").to_dict(), 0) / 4
    assert 0.9e9 < params < 1.3e9


def test_decoder_is_causal_and_padding_is_ignored():
    model, _ = build_model("tiny", seed=1)
    ids = torch.randint(7, 500, (1, 12))
    feats = torch.zeros(0, model.config.text.hidden_size)
    base = model(ids, feats)
    changed = ids.clone()
    changed[0, 8] = (changed[0, 8] + 1) % 500 + 7
    after = model(changed, feats)
    torch.testing.assert_close(after[0, :8], base[0, :8])  # the future never leaks backwards
    assert not torch.allclose(after[0, 8:], base[0, 8:])
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 12, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)], 1)
    torch.testing.assert_close(model(padded, feats, mask)[0, :12], base[0], rtol=1e-5, atol=1e-5)


def test_views_see_each_other_through_the_context_module():
    model, _ = build_model("tiny", seed=2)
    s = model.config.vision.image_size
    px = torch.randn(4, 1, s, s)
    views = torch.tensor([4, 5, 6, 7])  # L-CC, L-MLO, R-CC, R-MLO
    with torch.no_grad():
        a = model.encode(px, views, torch.arange(4))
        other = px.clone()
        other[3] = torch.randn(1, s, s)  # change only the R-MLO image
        b = model.encode(other, views, torch.arange(4))
        swapped = model.encode(px, torch.tensor([6, 7, 4, 5]), torch.arange(4))  # same pixels, wrong labels
        one = model.encode(px[:1], views[:1], torch.arange(1))
    assert a.shape == one.shape == (model.config.vision.num_image_tokens, model.config.text.hidden_size)
    assert not torch.allclose(a, b) and not torch.allclose(a, swapped)


def test_tokenizer_trains_to_the_requested_size_and_round_trips_chinese():
    tok = train_tokenizer(BUILTIN_CORPUS * 3, 400)
    assert tok.get_vocab_size() <= 400
    for text in ("FINDINGS: No pleural effusion.", "病变位于左肺上叶。", "mixed 混合 text <box>1,2,3,4</box>"):
        assert tok.decode(tok.encode(text).ids, skip_special_tokens=True) == text
    assert tok.token_to_id("<image>") == 4 and tok.token_to_id("<box>") is not None


def test_build_model_is_deterministic_per_seed():
    a, _ = build_model("tiny", seed=5)
    b, _ = build_model("tiny", seed=5)
    c, _ = build_model("tiny", seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_conv_stem_keeps_one_token_per_patch_and_a_live_signal():
    from dataclasses import replace

    from radfound.modeling.vision import ConvStem

    cfg = get_config("tiny")
    conv = replace(cfg, vision=replace(cfg.vision, stem="conv"))
    model, _ = build_model(conv, seed=0)
    assert isinstance(model.vision.patch_embed, ConvStem)
    px = torch.randn(3, 1, cfg.vision.image_size, cfg.vision.image_size)
    tokens = model.vision.patch_embed(px).flatten(2).transpose(1, 2)
    assert tokens.shape == (3, cfg.vision.num_patches, cfg.vision.hidden_size)
    assert 0.1 < float(tokens.detach().std()) < 10  # He init: the signal neither vanishes nor explodes
    # and it is really convolutional: a change in one corner leaves the far corner's token alone
    moved = px.clone()
    moved[..., :4, :4] += 5
    after = model.vision.patch_embed(moved).flatten(2).transpose(1, 2)
    assert torch.allclose(after[:, -1], tokens[:, -1]) and not torch.allclose(after[:, 0], tokens[:, 0])
    with pytest.raises(ValueError, match="stem"):
        build_model(replace(cfg, vision=replace(cfg.vision, stem="cnn")), seed=0)


def test_mean_max_summary_adds_a_max_projection_and_unknown_pools_fail():
    """``summary_pool = "mean_max"`` adds the projection of the max over patches; "mean" has none; others fail."""
    from dataclasses import replace

    cfg = get_config("tiny")
    model, _ = build_model(replace(cfg, vision=replace(cfg.vision, summary_pool="mean_max")), seed=0)
    assert model.vision.max_proj is not None
    assert build_model(cfg, seed=0)[0].vision.max_proj is None  # default "mean": old models load unchanged
    with pytest.raises(ValueError, match="summary_pool"):
        build_model(replace(cfg, vision=replace(cfg.vision, summary_pool="max")), seed=0)


def test_dropout_is_configured_from_the_json_and_only_acts_in_training():
    cfg = model_config({"model": {"preset": "tiny", "vision": {"dropout": 0.3}, "text": {"dropout": 0.3}}})
    assert (cfg.vision.dropout, cfg.text.dropout) == (0.3, 0.3)
    assert RadFoundConfig.from_dict(cfg.to_dict()) == cfg  # config.json carries it
    model, _ = build_model(cfg, seed=0)
    s = cfg.vision.image_size
    px, views, pos = torch.randn(2, 1, s, s), torch.tensor([1, 2]), torch.arange(2)
    ids = torch.randint(7, 500, (1, 10))
    feats = torch.zeros(0, cfg.text.hidden_size)
    model.train()
    assert not torch.allclose(model.encode(px, views, pos), model.encode(px, views, pos))
    assert not torch.allclose(model(ids, feats), model(ids, feats))
    model.eval()  # what export and the parity oracle use: deterministic
    torch.testing.assert_close(model.encode(px, views, pos), model.encode(px, views, pos))
    torch.testing.assert_close(model(ids, feats), model(ids, feats))
    assert get_config("small").text.dropout == 0.0  # presets (and every shipped model) train without it
